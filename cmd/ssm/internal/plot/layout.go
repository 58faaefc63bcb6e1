package plot

import (
	"image"
	"image/color"
	"math"

	"scorematch/ad/rmath"
)

// axis maps the data values of one axis to pixel positions: lo to p0 and
// hi to p1, linearly or logarithmically.
type axis struct {
	lo, hi float64
	log    bool
	p0, p1 float64
}

// frac returns where v falls on the axis, 0 at lo and 1 at hi, and whether
// it can be drawn at all.
func (a axis) frac(v float64) (float64, bool) {
	var t float64
	if a.log {
		if !(v > 0) || math.IsInf(v, 0) {
			return 0, false
		}
		t = (rmath.Log10(v) - rmath.Log10(a.lo)) / (rmath.Log10(a.hi) - rmath.Log10(a.lo))
	} else {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return 0, false
		}
		t = (v - a.lo) / (a.hi - a.lo)
	}
	if math.IsNaN(t) {
		return 0, false
	}
	// Far-away values are pulled in so that pixel coordinates stay finite;
	// they lie well outside the clip area either way.
	return math.Max(-1e9, math.Min(1e9, t)), true
}

// pix returns the pixel position of v.
func (a axis) pix(v float64) (float64, bool) {
	t, ok := a.frac(v)
	return a.p0 + float64(t*(a.p1-a.p0)), ok
}

// ticks returns the axis's ticks for at most maxN intervals, with at least
// two ticks when the range allows.
func (a axis) ticks(maxN int) ticks {
	var t ticks
	for n := max(maxN, 1); n <= 4*max(maxN, 1); n *= 2 {
		if a.log {
			t = logTicks(a.lo, a.hi, n)
		} else {
			t = linearTicks(a.lo, a.hi, n)
		}
		if len(t.at) >= 2 {
			break
		}
	}
	return t
}

// metrics are the sizes that scale with the text.
type metrics struct {
	s       int     // text scale: font pixels are s×s device pixels
	th      float64 // text (cap) height
	pad     float64 // general spacing
	tickLen float64 // length of tick marks
	line    float64 // width of axis lines
}

func newMetrics(panelW, h int) metrics {
	s := int(math.Round(float64(min(panelW, h)) / 240))
	s = max(1, min(4, s))
	return metrics{
		s:       s,
		th:      float64(capH * s),
		pad:     float64(4 * s),
		tickLen: float64(3 * s),
		line:    math.Max(1, float64(s)/2),
	}
}

// width returns the pixel width of s in the body font.
func (m metrics) width(s string) float64 { return float64(textWidth(s) * m.s) }

// maxWidth returns the width of the widest label.
func (m metrics) maxWidth(labels []string) float64 {
	var w float64
	for _, l := range labels {
		w = math.Max(w, m.width(l))
	}
	return w
}

func (m metrics) style(a anchor) textStyle {
	return textStyle{scale: m.s, anchor: a, color: ink}
}

// draw lays the figure out on c, which is w×h pixels.
func (f *Figure) draw(c canvas, w, h int) {
	n := len(f.Panels)
	m := newMetrics(w/n, h)
	c.fillRect(rect{0, 0, float64(w), float64(h)}, white)
	top := 0.0
	if f.Title != "" {
		// One size up from the body text, or smaller if it does not fit.
		st := m.style(anchorMiddle)
		st.bold = true
		avail := float64(w) - 2*m.pad
		for st.scale = m.s + 1; st.scale > 1 && float64(textWidth(f.Title)*st.scale) > avail; st.scale-- {
		}
		c.text(point{float64(w) / 2, m.pad + float64(float64(capH*st.scale)/2)}, fit(f.Title, avail, st.scale), st)
		top = m.pad + float64(capH*st.scale) + m.pad
	}
	pw := float64(w) / float64(n)
	for i := range f.Panels {
		area := rect{math.Round(float64(i) * pw), top, math.Round(float64(i+1) * pw), float64(h)}
		f.Panels[i].draw(c, area, m)
	}
}

// dataRange returns the automatic range of the values vs on an axis:
// their span with a 4% margin on each side, computed in log space on a
// logarithmic axis, where only positive values count.
func dataRange(vs [][]float64, log bool) (float64, float64) {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, s := range vs {
		for _, v := range s {
			if math.IsNaN(v) || math.IsInf(v, 0) || (log && v <= 0) {
				continue
			}
			if log {
				v = rmath.Log10(v)
			}
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
	}
	if lo > hi { // nothing to show
		if log {
			return 1, 10
		}
		return 0, 1
	}
	if lo == hi {
		if log { // a single value: show a decade around it
			lo, hi = lo-0.5, hi+0.5
		} else {
			lo, hi = expandRange(lo, hi)
		}
	} else if d := float64((hi - lo) * 0.04); !math.IsInf(d, 0) && !math.IsInf(lo-d, 0) && !math.IsInf(hi+d, 0) {
		lo, hi = lo-d, hi+d
	}
	if log {
		return rmath.Pow(10, lo), rmath.Pow(10, hi)
	}
	return expandRange(lo, hi)
}

// ranges returns the panel's axis ranges.
func (p *Panel) ranges() (x, y Range) {
	var xs, ys [][]float64
	for _, l := range p.Lines {
		if l.X == nil {
			xs = append(xs, []float64{0, float64(max(len(l.Y), 1) - 1)})
		} else {
			xs = append(xs, l.X)
		}
		ys = append(ys, l.Y)
	}
	for _, s := range p.Scatters {
		if s.Points.Rows == 0 {
			continue
		}
		cx, cy := make([]float64, s.Points.Rows), make([]float64, s.Points.Rows)
		for i := range cx {
			cx[i], cy[i] = s.Points.At(i, 0), s.Points.At(i, 1)
		}
		xs, ys = append(xs, cx), append(ys, cy)
	}
	x, y = p.X, p.Y
	if x.auto() {
		if p.Heat != nil {
			x = p.Heat.X
		} else {
			x.Min, x.Max = dataRange(xs, p.XLog)
		}
	}
	if y.auto() {
		if p.Heat != nil {
			y = p.Heat.Y
		} else {
			y.Min, y.Max = dataRange(ys, p.YLog)
		}
	}
	return x, y
}

// colorScale returns the heat map's value range.
func (h *Heat) colorScale() (float64, float64) {
	if !h.Scale.auto() {
		return h.Scale.Min, h.Scale.Max
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range h.Z.Data {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
	}
	if lo > hi {
		return 0, 1
	}
	return expandRange(lo, hi)
}

// legendEntry is one row of a legend.
type legendEntry struct {
	name   string
	color  color.NRGBA
	line   float64 // stroke width for a line, 0 for a dot
	radius float64 // dot radius
}

// layoutX picks x ticks whose labels do not crowd each other.
func layoutX(a axis, m metrics) ticks {
	length := math.Abs(a.p1 - a.p0)
	maxN := max(2, int(length/(float64(advanceW*m.s)*4)))
	var t ticks
	for n := maxN; n >= 1; n-- {
		t = a.ticks(n)
		gap := math.Inf(1)
		for i := 1; i < len(t.at); i++ {
			p0, _ := a.pix(t.at[i-1])
			p1, _ := a.pix(t.at[i])
			gap = math.Min(gap, math.Abs(p1-p0))
		}
		if gap >= m.maxWidth(t.labels)+float64(3*advanceW*m.s) {
			break
		}
	}
	return t
}

// layoutY picks y ticks about four text heights apart.
func layoutY(a axis, m metrics) ticks {
	return a.ticks(max(2, int(math.Abs(a.p1-a.p0)/(4*m.th))))
}

// panelLayout is where the parts of a panel go.
type panelLayout struct {
	x, y       axis
	xt, yt     ticks
	plot       rect
	cbLo, cbHi float64 // colour scale of the heat map
	cbTicks    ticks
}

// layout places the panel's plot area, ticks and colour bar in the area r.
func (p *Panel) layout(r rect, m metrics) panelLayout {
	var l panelLayout
	xr, yr := p.ranges()
	l.x = axis{lo: xr.Min, hi: xr.Max, log: p.XLog}
	l.y = axis{lo: yr.Min, hi: yr.Max, log: p.YLog}

	// Vertical layout: title, plot area, tick labels, axis label.
	top := r.y0 + 2*m.pad
	if p.Title != "" {
		top = r.y0 + m.pad + m.th + float64(1.5*m.pad)
	}
	bottom := r.y1 - m.pad - m.th - float64(m.pad/2) - m.tickLen
	if p.XLabel != "" {
		bottom -= m.th + m.pad
	}
	top, bottom = math.Round(top), math.Round(bottom)
	if p.Heat != nil {
		l.cbLo, l.cbHi = p.Heat.colorScale()
		l.cbTicks = axis{lo: l.cbLo, hi: l.cbHi, p0: bottom, p1: top}.ticks(max(2, int((bottom-top)/(4*m.th))))
	}

	equal := p.Equal && !p.XLog && !p.YLog
	// With automatic ranges and no heat map, Equal widens the range of one
	// axis to fill the area; the layout is then redone for the new ticks,
	// and any difference left is taken up by shrinking the plot area.
	stretch := equal && p.Heat == nil && p.X.auto() && p.Y.auto()
	var left, right float64
	for pass := 0; ; pass++ {
		l.y.p0, l.y.p1 = bottom, top
		l.yt = layoutY(l.y, m)

		// Horizontal layout: axis label, tick labels, plot area, colour bar.
		left = r.x0 + m.pad + m.maxWidth(l.yt.labels) + float64(m.pad/2) + m.tickLen
		if p.YLabel != "" {
			left += m.th + m.pad
		}
		right = r.x1 - 2*m.pad
		if p.Heat != nil {
			right = r.x1 - m.pad - m.maxWidth(l.cbTicks.labels) - cbWidth(m)
			if p.Heat.Label != "" {
				right -= m.th + m.pad
			}
		}
		left, right = math.Round(left), math.Round(right)
		l.x.p0, l.x.p1 = left, right
		// Leave room for half the last x label past the plot's right edge.
		if xt := layoutX(l.x, m); len(xt.labels) > 0 && p.Heat == nil {
			last, _ := l.x.pix(xt.at[len(xt.at)-1])
			if over := last + float64(m.width(xt.labels[len(xt.labels)-1])/2) - (r.x1 - float64(m.pad/2)); over > 0 {
				right = math.Round(right - over)
				l.x.p1 = right
			}
		}
		if !equal {
			break
		}
		ux := (right - left) / (l.x.hi - l.x.lo)
		uy := (bottom - top) / (l.y.hi - l.y.lo)
		if stretch && pass == 0 {
			if ux > uy {
				c, h := float64((l.x.lo+l.x.hi)/2), float64((right-left)/uy/2)
				l.x.lo, l.x.hi = c-h, c+h
			} else {
				c, h := float64((l.y.lo+l.y.hi)/2), float64((bottom-top)/ux/2)
				l.y.lo, l.y.hi = c-h, c+h
			}
			continue
		}
		if ux > uy {
			w := float64((l.x.hi - l.x.lo) * uy)
			left = math.Round(left + float64((right-left-w)/2))
			right = math.Round(left + w)
			l.x.p0, l.x.p1 = left, right
		} else {
			h := float64((l.y.hi - l.y.lo) * ux)
			top = math.Round(top + float64((bottom-top-h)/2))
			bottom = math.Round(top + h)
			l.y.p0, l.y.p1 = bottom, top
			l.yt = layoutY(l.y, m)
			if p.Heat != nil {
				l.cbTicks = axis{lo: l.cbLo, hi: l.cbHi, p0: bottom, p1: top}.ticks(max(2, int((bottom-top)/(4*m.th))))
			}
		}
		break
	}
	l.xt = layoutX(l.x, m)
	l.plot = rect{left, top, right, bottom}
	return l
}

// cbWidth returns the width of a colour bar and its tick marks, without
// the tick labels, from the plot's right edge.
func cbWidth(m metrics) float64 { return float64(3*m.pad) + float64(6*m.s) + float64(5*m.s) }

// draw lays the panel out in the area r of the canvas.
func (p *Panel) draw(c canvas, r rect, m metrics) {
	l := p.layout(r, m)
	x, y, plot := l.x, l.y, l.plot
	left, top, right, bottom := plot.x0, plot.y0, plot.x1, plot.y1

	// Grid or heat map, then the data, clipped to the plot area.
	if p.Heat != nil {
		p.drawHeat(c, x, y, l.cbLo, l.cbHi)
	} else {
		for _, v := range l.xt.at {
			if px, ok := x.pix(v); ok {
				c.fillRect(vline(px, top, bottom, 1), gridColor)
			}
		}
		for _, v := range l.yt.at {
			if py, ok := y.pix(v); ok {
				c.fillRect(hline(py, left, right, 1), gridColor)
			}
		}
	}
	c.setClip(&plot)
	entries, drawn := p.drawData(c, x, y, plot, m)
	c.setClip(nil)

	// Frame, ticks and labels.
	lw := m.line
	c.fillRect(rect{left - lw, top - lw, right + lw, top}, ink)
	c.fillRect(rect{left - lw, bottom, right + lw, bottom + lw}, ink)
	c.fillRect(rect{left - lw, top, left, bottom}, ink)
	c.fillRect(rect{right, top, right + lw, bottom}, ink)
	for i, v := range l.xt.at {
		px, _ := x.pix(v)
		c.fillRect(vline(px, bottom, bottom+m.tickLen, lw), ink)
		c.text(point{px, bottom + m.tickLen + float64(m.pad/2) + float64(m.th/2)}, l.xt.labels[i], m.style(anchorMiddle))
	}
	for i, v := range l.yt.at {
		py, _ := y.pix(v)
		c.fillRect(hline(py, left-m.tickLen, left, lw), ink)
		c.text(point{left - m.tickLen - float64(m.pad/2), py}, l.yt.labels[i], m.style(anchorEnd))
	}
	if p.XLabel != "" {
		c.text(point{(left + right) / 2, bottom + m.tickLen + float64(m.pad/2) + m.th + m.pad + float64(m.th/2)}, fit(p.XLabel, r.w()-float64(2*m.pad), m.s), m.style(anchorMiddle))
	}
	if p.YLabel != "" {
		st := m.style(anchorMiddle)
		st.vertical = true
		lx := left - m.tickLen - float64(m.pad/2) - m.maxWidth(l.yt.labels) - m.pad - float64(m.th/2)
		c.text(point{lx, (top + bottom) / 2}, fit(p.YLabel, bottom-top+2*m.pad, m.s), st)
	}
	if p.Title != "" {
		st := m.style(anchorMiddle)
		st.bold = true
		c.text(point{(left + right) / 2, top - float64(1.5*m.pad) - float64(m.th/2)}, fit(p.Title, r.w(), m.s), st)
	}
	drawLegend(c, entries, drawn, plot, m)
	if p.Heat != nil {
		p.drawColorBar(c, plot, l.cbLo, l.cbHi, l.cbTicks, m)
	}
}

// fit shortens s with "..." so that it is at most w pixels wide at text
// scale sc.
func fit(s string, w float64, sc int) string {
	r := []rune(s)
	if float64(textWidth(s)*sc) <= w {
		return s
	}
	n := int(w)/(advanceW*sc) - 3
	if n <= 0 {
		return ""
	}
	return string(r[:min(n, len(r))]) + "..."
}

// vline returns a vertical line of width w at x, snapped to whole pixels
// so that it is drawn sharp.
func vline(x, y0, y1, w float64) rect {
	x0 := math.Round(x - float64(w/2))
	return rect{x0, y0, x0 + w, y1}
}

// hline returns a horizontal line of width w at y, snapped like vline.
func hline(y, x0, x1, w float64) rect {
	y0 := math.Round(y - float64(w/2))
	return rect{x0, y0, x1, y0 + w}
}

// drawHeat paints the heat map's cells.
func (p *Panel) drawHeat(c canvas, x, y axis, lo, hi float64) {
	h := p.Heat
	img := image.NewNRGBA(image.Rect(0, 0, h.Z.Cols, h.Z.Rows))
	for i := range h.Z.Rows {
		for j := range h.Z.Cols {
			v := h.Z.At(i, j)
			col := missing
			if !math.IsNaN(v) && !math.IsInf(v, 0) {
				col = viridis((v - lo) / (hi - lo))
			}
			img.SetNRGBA(j, h.Z.Rows-1-i, col)
		}
	}
	x0, _ := x.pix(h.X.Min)
	x1, _ := x.pix(h.X.Max)
	y0, _ := y.pix(h.Y.Max)
	y1, _ := y.pix(h.Y.Min)
	plot := rect{x.p0, y.p1, x.p1, y.p0}
	c.setClip(&plot)
	c.image(rect{x0, y0, x1, y1}, img)
	c.setClip(nil)
}

// drawData draws the lines and scatter series and returns their legend
// entries and the pixel positions of what was drawn (for placing the
// legend).
func (p *Panel) drawData(c canvas, x, y axis, plot rect, m metrics) ([]legendEntry, []point) {
	var entries []legendEntry
	var drawn []point
	next := 0
	pick := func(col color.NRGBA) color.NRGBA {
		if col == (color.NRGBA{}) {
			col = palette[next%len(palette)]
			next++
		}
		return col
	}
	for _, l := range p.Lines {
		col := pick(l.Color)
		width := l.Width
		if width == 0 {
			width = defaultWidth * float64(m.s) / 2
		}
		// Geometry is cut to the plot area grown by the stroke, so that
		// the cut never shows inside the canvas's clip.
		g := 2*width + 2
		keep := rect{plot.x0 - g, plot.y0 - g, plot.x1 + g, plot.y1 + g}
		var run []point
		flush := func() {
			for _, piece := range clipPolyline(run, keep) {
				c.polyline(piece, width, col)
			}
			run = run[:0]
		}
		var pts []point
		for i, vy := range l.Y {
			vx := float64(i)
			if l.X != nil {
				vx = l.X[i]
			}
			px, okx := x.pix(vx)
			py, oky := y.pix(vy)
			if !okx || !oky {
				flush()
				continue
			}
			run = append(run, point{px, py})
			pts = append(pts, point{px, py})
		}
		flush()
		if l.Marks {
			for _, q := range pts {
				if keep.contains(q, 0) {
					c.circle(q, float64(1.5*width)+1, col)
				}
			}
		}
		drawn = append(drawn, pts...)
		if l.Name != "" {
			entries = append(entries, legendEntry{name: l.Name, color: col, line: width, radius: float64(1.5*width) + 1})
		}
	}
	for _, s := range p.Scatters {
		col := pick(s.Color)
		radius := s.Radius
		if radius == 0 {
			switch n := s.Points.Rows; {
			case n <= 200:
				radius = 1.5 * float64(m.s)
			case n <= 2000:
				radius = float64(m.s)
			default:
				radius = 0.7 * float64(m.s)
			}
		}
		for i := range s.Points.Rows {
			px, okx := x.pix(s.Points.At(i, 0))
			py, oky := y.pix(s.Points.At(i, 1))
			if !okx || !oky || !plot.contains(point{px, py}, radius) {
				continue
			}
			c.circle(point{px, py}, radius, col)
			drawn = append(drawn, point{px, py})
		}
		if s.Name != "" {
			entries = append(entries, legendEntry{name: s.Name, color: col, radius: math.Max(radius, 1.5*float64(m.s))})
		}
	}
	return entries, drawn
}

// drawLegend draws a box listing the entries in the corner of the plot
// area that covers the fewest drawn points (top right on a tie).
func drawLegend(c canvas, entries []legendEntry, drawn []point, plot rect, m metrics) {
	if len(entries) == 0 {
		return
	}
	swatch := float64(10 * m.s)
	var names []string
	for i := range entries {
		entries[i].name = fit(entries[i].name, plot.w()-swatch-float64(5*m.pad), m.s)
		names = append(names, entries[i].name)
	}
	rowH := m.th + m.pad
	w := m.pad + swatch + m.pad + m.maxWidth(names) + m.pad
	h := float64(float64(len(entries))*rowH) + m.pad
	in := m.pad
	corners := []point{
		{plot.x1 - in - w, plot.y0 + in}, // top right
		{plot.x0 + in, plot.y0 + in},     // top left
		{plot.x1 - in - w, plot.y1 - in - h},
		{plot.x0 + in, plot.y1 - in - h},
	}
	best, bestN := corners[0], -1
	for _, q := range corners {
		box := rect{q.x, q.y, q.x + w, q.y + h}
		n := 0
		for _, d := range drawn {
			if box.contains(d, 0) {
				n++
			}
		}
		if bestN < 0 || n < bestN {
			best, bestN = q, n
		}
	}
	box := rect{math.Round(best.x), math.Round(best.y), math.Round(best.x + w), math.Round(best.y + h)}
	c.fillRect(box, legendBG)
	c.fillRect(rect{box.x0, box.y0, box.x1, box.y0 + 1}, legendRim)
	c.fillRect(rect{box.x0, box.y1 - 1, box.x1, box.y1}, legendRim)
	c.fillRect(rect{box.x0, box.y0 + 1, box.x0 + 1, box.y1 - 1}, legendRim)
	c.fillRect(rect{box.x1 - 1, box.y0 + 1, box.x1, box.y1 - 1}, legendRim)
	for i, e := range entries {
		cy := box.y0 + m.pad + float64(float64(i)*rowH) + float64(m.th/2)
		sx := box.x0 + m.pad
		if e.line > 0 {
			c.polyline([]point{{sx, cy}, {sx + swatch, cy}}, e.line, e.color)
		} else {
			c.circle(point{sx + float64(swatch/2), cy}, e.radius, e.color)
		}
		c.text(point{sx + swatch + m.pad, cy}, e.name, m.style(anchorStart))
	}
}

// drawColorBar draws the heat map's colour scale to the right of the plot.
func (p *Panel) drawColorBar(c canvas, plot rect, lo, hi float64, t ticks, m metrics) {
	x0 := plot.x1 + float64(3*m.pad)
	x1 := x0 + float64(6*m.s)
	bar := image.NewNRGBA(image.Rect(0, 0, 1, 256))
	for k := range 256 {
		bar.SetNRGBA(0, 255-k, viridis(float64(k)/255))
	}
	c.image(rect{x0, plot.y0, x1, plot.y1}, bar)
	lw := m.line
	c.fillRect(rect{x0 - lw, plot.y0 - lw, x1 + lw, plot.y0}, ink)
	c.fillRect(rect{x0 - lw, plot.y1, x1 + lw, plot.y1 + lw}, ink)
	c.fillRect(rect{x0 - lw, plot.y0, x0, plot.y1}, ink)
	c.fillRect(rect{x1, plot.y0, x1 + lw, plot.y1}, ink)
	a := axis{lo: lo, hi: hi, p0: plot.y1, p1: plot.y0}
	for i, v := range t.at {
		py, _ := a.pix(v)
		c.fillRect(hline(py, x1, x1+2*float64(m.s), lw), ink)
		c.text(point{x1 + float64(5*float64(m.s)), py}, t.labels[i], m.style(anchorStart))
	}
	if p.Heat.Label != "" {
		st := m.style(anchorMiddle)
		st.vertical = true
		lx := x1 + float64(5*float64(m.s)) + m.maxWidth(t.labels) + m.pad + float64(m.th/2)
		c.text(point{lx, (plot.y0 + plot.y1) / 2}, fit(p.Heat.Label, plot.h()+2*m.pad, m.s), st)
	}
}
