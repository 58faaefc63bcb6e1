package plot

import (
	"image"
	"image/color"
	"math"

	"scorematch/ad/rmath"
)

// raster is a canvas that paints an opaque RGBA image with anti-aliased
// shapes: each pixel is blended with the shape's colour in proportion to
// the part of the pixel the shape covers (estimated from the distance of
// the pixel's centre to the shape's outline).
type raster struct {
	img  *image.RGBA
	clip image.Rectangle // drawing is confined to this
	cov  []float32       // coverage of the polyline being drawn, per pixel
}

func newRaster(w, h int) *raster {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	return &raster{img: img, clip: img.Rect, cov: make([]float32, w*h)}
}

func (r *raster) setClip(c *rect) {
	if c == nil {
		r.clip = r.img.Rect
		return
	}
	x0, y0 := int(math.Floor(c.x0)), int(math.Floor(c.y0))
	x1, y1 := int(math.Ceil(c.x1)), int(math.Ceil(c.y1))
	r.clip = image.Rect(x0, y0, x1, y1).Intersect(r.img.Rect)
}

// span returns the integer pixel range [lo, hi) that may touch [a, b] on
// an axis whose clip range is [clo, chi).
func span(a, b float64, clo, chi int) (int, int) {
	lo := int(math.Max(math.Floor(a), float64(clo)))
	hi := int(math.Min(math.Ceil(b), float64(chi)))
	return lo, hi
}

// blend mixes colour c into pixel (x, y) with weight a·c.A/255.
func (r *raster) blend(x, y int, c color.NRGBA, a float64) {
	if !(image.Point{x, y}.In(r.clip)) {
		return
	}
	a *= float64(c.A) / 255
	if a <= 0 {
		return
	}
	a = min(a, 1)
	i := r.img.PixOffset(x, y)
	p := r.img.Pix[i : i+4 : i+4]
	for k, v := range [3]uint8{c.R, c.G, c.B} {
		p[k] = uint8(math.Round(float64(p[k]) + float64(a*(float64(v)-float64(p[k])))))
	}
	p[3] = 255
}

func (r *raster) fillRect(q rect, c color.NRGBA) {
	x0, x1 := span(q.x0, q.x1, r.clip.Min.X, r.clip.Max.X)
	y0, y1 := span(q.y0, q.y1, r.clip.Min.Y, r.clip.Max.Y)
	for y := y0; y < y1; y++ {
		cy := math.Min(float64(y+1), q.y1) - math.Max(float64(y), q.y0)
		for x := x0; x < x1; x++ {
			cx := math.Min(float64(x+1), q.x1) - math.Max(float64(x), q.x0)
			r.blend(x, y, c, cx*cy)
		}
	}
}

// segDist returns the distance from p to the segment a–b.
func segDist(p, a, b point) float64 {
	dx, dy := b.x-a.x, b.y-a.y
	t := 0.0
	if l := float64(dx*dx) + float64(dy*dy); l > 0 {
		t = math.Max(0, math.Min(1, (float64((p.x-a.x)*dx)+float64((p.y-a.y)*dy))/l))
	}
	return rmath.Hypot(p.x-a.x-float64(t*dx), p.y-a.y-float64(t*dy))
}

// polyline accumulates, per pixel, the largest coverage of any segment,
// then blends once, so that joins are not painted twice.
func (r *raster) polyline(pts []point, width float64, c color.NRGBA) {
	if len(pts) == 0 {
		return
	}
	hw := float64(width / 2)
	stride := r.img.Rect.Dx()
	touched := image.Rectangle{}
	for i := range pts {
		a, b := pts[i], pts[i]
		if i > 0 {
			a = pts[i-1]
		} else if len(pts) > 1 {
			continue
		}
		x0, x1 := span(math.Min(a.x, b.x)-hw-1, math.Max(a.x, b.x)+hw+1, r.clip.Min.X, r.clip.Max.X)
		y0, y1 := span(math.Min(a.y, b.y)-hw-1, math.Max(a.y, b.y)+hw+1, r.clip.Min.Y, r.clip.Max.Y)
		if x0 >= x1 || y0 >= y1 {
			continue
		}
		touched = touched.Union(image.Rect(x0, y0, x1, y1))
		for y := y0; y < y1; y++ {
			for x := x0; x < x1; x++ {
				d := segDist(point{float64(x) + 0.5, float64(y) + 0.5}, a, b)
				cv := float32(math.Max(0, math.Min(1, hw+0.5-d)))
				if k := y*stride + x; cv > r.cov[k] {
					r.cov[k] = cv
				}
			}
		}
	}
	for y := touched.Min.Y; y < touched.Max.Y; y++ {
		for x := touched.Min.X; x < touched.Max.X; x++ {
			if k := y*stride + x; r.cov[k] > 0 {
				r.blend(x, y, c, float64(r.cov[k]))
				r.cov[k] = 0
			}
		}
	}
}

func (r *raster) circle(p point, radius float64, c color.NRGBA) {
	x0, x1 := span(p.x-radius-1, p.x+radius+1, r.clip.Min.X, r.clip.Max.X)
	y0, y1 := span(p.y-radius-1, p.y+radius+1, r.clip.Min.Y, r.clip.Max.Y)
	for y := y0; y < y1; y++ {
		for x := x0; x < x1; x++ {
			d := rmath.Hypot(float64(x)+0.5-p.x, float64(y)+0.5-p.y)
			r.blend(x, y, c, math.Max(0, math.Min(1, radius+0.5-d)))
		}
	}
}

// text draws the bitmap glyphs, one square of scale×scale pixels per font
// pixel; bold text repeats each square half a font pixel to the right.
func (r *raster) text(p point, s string, st textStyle) {
	sc := st.scale
	w := float64(textWidth(s) * sc)
	along := -w * float64(st.anchor) / 2 // start of the box along the reading direction
	across := -float64(capH*sc) / 2      // top of the caps across it
	// Local coordinates (u along, v across) map to the device as
	// horizontal: (x, y) = p + (u, v); vertical: (x, y) = p + (v, −u).
	u0 := math.Round(along)
	v0 := math.Round(across)
	px, py := math.Round(p.x), math.Round(p.y)
	bold := 0
	if st.bold {
		bold = max(1, sc/2)
	}
	paint := func(u, v, du, dv int) { // a du×dv block at local (u, v)
		if st.vertical {
			r.fillRect(rect{px + float64(v), py - float64(u+du), px + float64(v+dv), py - float64(u)}, st.color)
		} else {
			r.fillRect(rect{px + float64(u), py + float64(v), px + float64(u+du), py + float64(v+dv)}, st.color)
		}
	}
	for i, ch := range []rune(s) {
		g := glyphOf(ch)
		ux := int(u0) + i*advanceW*sc
		for gy, row := range g {
			for gx := range glyphW {
				if row&(1<<(glyphW-1-gx)) != 0 {
					paint(ux+gx*sc, int(v0)+gy*sc, sc+bold, sc)
				}
			}
		}
	}
}

func (r *raster) image(q rect, img *image.NRGBA) {
	b := img.Bounds()
	if b.Empty() || q.w() <= 0 || q.h() <= 0 {
		return
	}
	x0, x1 := span(q.x0, q.x1, r.clip.Min.X, r.clip.Max.X)
	y0, y1 := span(q.y0, q.y1, r.clip.Min.Y, r.clip.Max.Y)
	for y := y0; y < y1; y++ {
		cy := float64(y) + 0.5
		if cy < q.y0 || cy >= q.y1 {
			continue
		}
		sy := b.Min.Y + min(b.Dy()-1, int((cy-q.y0)/q.h()*float64(b.Dy())))
		for x := x0; x < x1; x++ {
			cx := float64(x) + 0.5
			if cx < q.x0 || cx >= q.x1 {
				continue
			}
			sx := b.Min.X + min(b.Dx()-1, int((cx-q.x0)/q.w()*float64(b.Dx())))
			r.blend(x, y, img.NRGBAAt(sx, sy), 1)
		}
	}
}
