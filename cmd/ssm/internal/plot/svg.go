package plot

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"strconv"
)

// svgCanvas is a canvas that writes SVG elements. Text is real text in a
// monospace font sized so that its cap height and advance match the
// bitmap font of the PNG renderer (textLength pins the advance exactly).
type svgCanvas struct {
	b       bytes.Buffer
	clips   int  // clip paths defined so far
	grouped bool // a clipped <g> is open
}

// num formats a coordinate with at most two decimals.
func num(v float64) string {
	return strconv.FormatFloat(math.Round(v*100)/100+0, 'f', -1, 64)
}

// paint returns the attributes that set a fill or stroke colour.
func paint(attr string, c color.NRGBA) string {
	s := fmt.Sprintf(` %s="#%02x%02x%02x"`, attr, c.R, c.G, c.B)
	if c.A != 255 {
		s += fmt.Sprintf(` %s-opacity="%s"`, attr, num(float64(c.A)/255))
	}
	return s
}

func (s *svgCanvas) setClip(r *rect) {
	if s.grouped {
		s.b.WriteString("</g>\n")
		s.grouped = false
	}
	if r == nil {
		return
	}
	s.clips++
	fmt.Fprintf(&s.b, `<clipPath id="clip%d"><rect x="%s" y="%s" width="%s" height="%s"/></clipPath>`+"\n",
		s.clips, num(r.x0), num(r.y0), num(r.w()), num(r.h()))
	fmt.Fprintf(&s.b, `<g clip-path="url(#clip%d)">`+"\n", s.clips)
	s.grouped = true
}

func (s *svgCanvas) fillRect(r rect, c color.NRGBA) {
	fmt.Fprintf(&s.b, `<rect x="%s" y="%s" width="%s" height="%s"%s/>`+"\n",
		num(r.x0), num(r.y0), num(r.w()), num(r.h()), paint("fill", c))
}

func (s *svgCanvas) polyline(pts []point, width float64, c color.NRGBA) {
	if len(pts) == 0 {
		return
	}
	if len(pts) == 1 {
		pts = []point{pts[0], pts[0]}
	}
	s.b.WriteString(`<polyline points="`)
	for i, p := range pts {
		if i > 0 {
			s.b.WriteByte(' ')
		}
		s.b.WriteString(num(p.x))
		s.b.WriteByte(',')
		s.b.WriteString(num(p.y))
	}
	fmt.Fprintf(&s.b, `" fill="none"%s stroke-width="%s" stroke-linejoin="round" stroke-linecap="round"/>`+"\n",
		paint("stroke", c), num(width))
}

func (s *svgCanvas) circle(p point, radius float64, c color.NRGBA) {
	fmt.Fprintf(&s.b, `<circle cx="%s" cy="%s" r="%s"%s/>`+"\n", num(p.x), num(p.y), num(radius), paint("fill", c))
}

func (s *svgCanvas) text(p point, str string, st textStyle) {
	sc := float64(st.scale)
	anchors := [...]string{"start", "middle", "end"}
	n := len([]rune(str))
	if n == 0 {
		return
	}
	// The baseline lies half the cap height below p across the text.
	x, y := p.x, p.y+float64(float64(capH)*sc/2)
	transform := ""
	if st.vertical {
		x, y = p.x, p.y
		transform = fmt.Sprintf(` transform="rotate(-90 %s %s)"`, num(p.x), num(p.y))
		y += float64(float64(capH) * sc / 2)
	}
	weight := ""
	if st.bold {
		weight = ` font-weight="bold"`
	}
	fmt.Fprintf(&s.b, `<text x="%s" y="%s"%s font-family="DejaVu Sans Mono, Menlo, Consolas, monospace" font-size="%s"%s text-anchor="%s" textLength="%s" lengthAdjust="spacingAndGlyphs"%s>`,
		num(x), num(y), transform, num(10*sc), weight, anchors[st.anchor], num(float64(n*advanceW)*sc), paint("fill", st.color))
	xml.EscapeText(&s.b, []byte(str))
	s.b.WriteString("</text>\n")
}

func (s *svgCanvas) image(r rect, img *image.NRGBA) {
	var enc bytes.Buffer
	if err := png.Encode(&enc, img); err != nil {
		return // cannot happen for an in-memory NRGBA image
	}
	fmt.Fprintf(&s.b, `<image x="%s" y="%s" width="%s" height="%s" preserveAspectRatio="none" image-rendering="optimizeSpeed" style="image-rendering:pixelated" xlink:href="data:image/png;base64,%s"/>`+"\n",
		num(r.x0), num(r.y0), num(r.w()), num(r.h()), base64.StdEncoding.EncodeToString(enc.Bytes()))
}
