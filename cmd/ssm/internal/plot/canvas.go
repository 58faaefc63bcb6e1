package plot

import (
	"image"
	"image/color"
	"math"
)

// point is a position in pixels, x to the right and y down, with pixel
// (i, j) covering [i, i+1) × [j, j+1).
type point struct{ x, y float64 }

// rect is the pixel area [x0, x1) × [y0, y1).
type rect struct{ x0, y0, x1, y1 float64 }

func (r rect) w() float64 { return r.x1 - r.x0 }
func (r rect) h() float64 { return r.y1 - r.y0 }

// contains reports whether p lies in r grown by m on every side.
func (r rect) contains(p point, m float64) bool {
	return p.x >= r.x0-m && p.x <= r.x1+m && p.y >= r.y0-m && p.y <= r.y1+m
}

// anchor says which part of a text's box lies at the given point along
// the reading direction.
type anchor int

const (
	anchorStart anchor = iota
	anchorMiddle
	anchorEnd
)

// textStyle describes how a string is drawn.
type textStyle struct {
	scale    int         // font pixels are scale×scale device pixels
	anchor   anchor      // along the reading direction
	vertical bool        // read bottom to top, rotated 90° anticlockwise
	bold     bool        // heavier strokes
	color    color.NRGBA // ink
}

// A canvas is a drawing surface. The figure is described once as calls on
// a canvas; the PNG and SVG encoders implement it, so both files show the
// same figure.
type canvas interface {
	// setClip restricts later drawing to r, or lifts the restriction if r
	// is nil.
	setClip(r *rect)
	// fillRect paints r.
	fillRect(r rect, c color.NRGBA)
	// polyline strokes the open path through pts with round joins and caps.
	polyline(pts []point, width float64, c color.NRGBA)
	// circle paints a disc.
	circle(centre point, radius float64, c color.NRGBA)
	// text draws s with its cap height centred on p across the reading
	// direction and its box placed along it by st.anchor.
	text(p point, s string, st textStyle)
	// image paints img stretched over r, nearest neighbour, row 0 at the
	// top.
	image(r rect, img *image.NRGBA)
}

// clipSegment clips the segment a–b to r with the Liang–Barsky method and
// reports whether any of it remains.
func clipSegment(a, b point, r rect) (point, point, bool) {
	t0, t1 := 0.0, 1.0
	dx, dy := b.x-a.x, b.y-a.y
	for _, e := range [4][2]float64{
		{-dx, a.x - r.x0},
		{dx, r.x1 - a.x},
		{-dy, a.y - r.y0},
		{dy, r.y1 - a.y},
	} {
		p, q := e[0], e[1]
		if p == 0 {
			if q < 0 {
				return a, b, false
			}
			continue
		}
		t := q / p
		if p < 0 {
			t0 = math.Max(t0, t)
		} else {
			t1 = math.Min(t1, t)
		}
		if t0 > t1 {
			return a, b, false
		}
	}
	return point{a.x + float64(t0*dx), a.y + float64(t0*dy)}, point{a.x + float64(t1*dx), a.y + float64(t1*dy)}, true
}

// clipPolyline splits the path pts into the pieces that lie in r.
func clipPolyline(pts []point, r rect) [][]point {
	var out [][]point
	var cur []point
	for i := 1; i < len(pts); i++ {
		a, b, ok := clipSegment(pts[i-1], pts[i], r)
		if !ok {
			if len(cur) > 0 {
				out, cur = append(out, cur), nil
			}
			continue
		}
		if len(cur) == 0 || cur[len(cur)-1] != a {
			if len(cur) > 0 {
				out = append(out, cur)
			}
			cur = []point{a}
		}
		cur = append(cur, b)
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	if len(pts) == 1 && r.contains(pts[0], 0) {
		out = append(out, pts)
	}
	return out
}
