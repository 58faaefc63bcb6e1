// Package plot draws the figures of the ssm command — loss curves, samples
// over data, density heat maps, timing curves — as PNG or SVG files.
//
// A Figure is a description: a title and one or more Panels side by side,
// each with axes, lines, scatter points and at most one heat map. The same
// description drawn as PNG (WritePNG) and as SVG (WriteSVG) gives the same
// picture: both are produced by one layout routine, with text set in a
// small bitmap font in the PNG and in a monospace font of matching size
// in the SVG.
//
// Axes get "nice" ticks (1, 2 or 5 times a power of ten) and grid lines,
// optionally on a logarithmic scale; a panel whose series have names gets a
// legend, put in the corner where it hides the fewest points; a heat map
// uses the viridis colour map and gets a colour bar.
//
// Values that cannot be drawn are skipped rather than refused: NaN and
// ±Inf, and zero or negative values on a logarithmic axis. A line is broken
// where such a value is. Malformed descriptions (mismatched lengths, empty
// heat maps, inverted ranges, sizes out of bounds) are reported as errors.
package plot

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"image/color"
	"image/png"
	"io"
	"math"
	"path/filepath"
	"strings"

	"scorematch/ad"
	"scorematch/nn/atomicfile"
)

// Figure describes a figure of one or more panels placed side by side,
// with an optional title above them.
type Figure struct {
	Title string

	// Width and Height are the size in pixels. Zero means 640 pixels per
	// panel across and 480 down. Each must be at most 8192; a panel needs at
	// least 160×120 pixels.
	Width, Height int

	Panels []Panel
}

// Range is a closed interval [Min, Max] of data values. The zero Range
// means "choose automatically".
type Range struct{ Min, Max float64 }

// auto reports whether r is the zero Range.
func (r Range) auto() bool { return r == Range{} }

// Panel is one set of axes with what is drawn in them: the heat map at the
// bottom, then the lines, then the scatter series, each in order.
type Panel struct {
	Title, XLabel, YLabel string

	// XLog and YLog put an axis on a logarithmic scale. Values ≤ 0 on such
	// an axis are skipped. A heat map cannot have a logarithmic axis.
	XLog, YLog bool

	// X and Y fix the axis ranges; the zero Range chooses one that shows
	// all the data with a small margin, or exactly the heat map's extent
	// if there is one. A fixed range must have Min < Max, both finite, and
	// Min > 0 on a logarithmic axis; whatever falls outside is clipped.
	X, Y Range

	// Equal makes one unit the same length on both axes, shrinking the
	// plot area in one direction; it is ignored if either axis is
	// logarithmic.
	Equal bool

	Lines    []Line
	Scatters []Scatter
	Heat     *Heat
}

// Line is a series drawn as a polyline through (X[i], Y[i]).
type Line struct {
	// Name labels the series in the legend; unnamed series are left out
	// of it.
	Name string

	// X and Y are the coordinates and must have the same length, or X may
	// be nil to mean 0, 1, 2, ....
	X, Y []float64

	// Color is the line's colour; the zero value takes the next colour of
	// the panel's palette (blue, orange, green, red, ...).
	Color color.NRGBA

	// Width is the stroke width in pixels; 0 means 1.5 (scaled with the
	// text on large figures).
	Width float64

	// Marks draws a dot at every point, for short series.
	Marks bool
}

// Scatter is a series of points drawn as dots.
type Scatter struct {
	// Name labels the series in the legend; unnamed series are left out
	// of it.
	Name string

	// Points holds one point per row: x in column 0, y in column 1; other
	// columns are ignored. It must have at least two columns unless it
	// has no rows.
	Points ad.Mat

	// Color is the dots' colour, whose alpha may make them translucent;
	// the zero value takes the next colour of the panel's palette, opaque.
	Color color.NRGBA

	// Radius is the dot radius in pixels; 0 chooses one by the number of
	// points (smaller for more).
	Radius float64
}

// Heat is a function sampled on a regular grid, drawn as coloured cells.
type Heat struct {
	// Z holds the values: Z.At(i, j) is the value of the cell in column j
	// from the left and row i from the BOTTOM, that is at the centre
	//
	//	x = X.Min + (j+½)·(X.Max−X.Min)/Z.Cols,
	//	y = Y.Min + (i+½)·(Y.Max−Y.Min)/Z.Rows,
	//
	// the order of GridPoints. Non-finite values are drawn light grey.
	Z ad.Mat

	// X and Y are the extent of the grid (cell edges, not centres); both
	// are required.
	X, Y Range

	// Scale maps values to colours: Scale.Min to dark purple and
	// Scale.Max to yellow (viridis), clamping beyond. The zero Range uses
	// the minimum and maximum finite value of Z. Give two heat maps the
	// same Scale to compare them.
	Scale Range

	// Label names the colour bar's quantity, e.g. "density".
	Label string
}

// GridPoints returns the centres of an nx×ny grid of cells over the
// rectangle x × y as an (nx·ny)×2 matrix, in the order of Heat.Z's data:
// row i·nx + j holds the centre of the cell in column j and row i from the
// bottom. Evaluating a function on these points and wrapping the results
// with ad.MatOf(ny, nx, values) gives a Heat.Z. It panics if nx or ny is
// not positive.
func GridPoints(x, y Range, nx, ny int) ad.Mat {
	if nx <= 0 || ny <= 0 {
		panic(fmt.Sprintf("plot: GridPoints: %d×%d grid", nx, ny))
	}
	m := ad.NewMat(nx*ny, 2)
	for i := range ny {
		cy := y.Min + (float64(i)+0.5)*(y.Max-y.Min)/float64(ny)
		for j := range nx {
			k := i*nx + j
			m.Data[2*k] = x.Min + (float64(j)+0.5)*(x.Max-x.Min)/float64(nx)
			m.Data[2*k+1] = cy
		}
	}
	return m
}

// Size limits.
const (
	maxSide      = 8192
	minPanelW    = 160
	minPanelH    = 120
	defaultW     = 640
	defaultH     = 480
	defaultWidth = 1.5
)

// size returns the figure's size in pixels.
func (f *Figure) size() (int, int) {
	w, h := f.Width, f.Height
	if w == 0 {
		w = defaultW * max(1, len(f.Panels))
	}
	if h == 0 {
		h = defaultH
	}
	return w, h
}

// check reports the first problem with the description.
func (f *Figure) check() error {
	w, h := f.size()
	switch {
	case len(f.Panels) == 0:
		return fmt.Errorf("plot: figure has no panels")
	case w < 0 || h < 0 || w > maxSide || h > maxSide:
		return fmt.Errorf("plot: figure size %d×%d is out of bounds (at most %d×%d)", w, h, maxSide, maxSide)
	case w/len(f.Panels) < minPanelW || h < minPanelH:
		return fmt.Errorf("plot: figure size %d×%d is too small for %d panels (each needs %d×%d)", w, h, len(f.Panels), minPanelW, minPanelH)
	}
	for i, p := range f.Panels {
		if err := p.check(); err != nil {
			return fmt.Errorf("plot: panel %d (%q): %w", i+1, p.Title, err)
		}
	}
	return nil
}

// checkRange validates a fixed range of an axis.
func checkRange(r Range, log bool, what string) error {
	if r.auto() {
		return nil
	}
	if !(r.Min < r.Max) || math.IsInf(r.Min, 0) || math.IsInf(r.Max, 0) {
		return fmt.Errorf("%s range [%v, %v] is empty or not finite", what, r.Min, r.Max)
	}
	if log && r.Min <= 0 {
		return fmt.Errorf("%s range [%v, %v] does not fit a logarithmic axis", what, r.Min, r.Max)
	}
	return nil
}

func (p *Panel) check() error {
	if err := checkRange(p.X, p.XLog, "X"); err != nil {
		return err
	}
	if err := checkRange(p.Y, p.YLog, "Y"); err != nil {
		return err
	}
	for _, l := range p.Lines {
		if l.X != nil && len(l.X) != len(l.Y) {
			return fmt.Errorf("line %q: X has %d values, Y has %d", l.Name, len(l.X), len(l.Y))
		}
		if l.Width < 0 || math.IsNaN(l.Width) || l.Width > 100 {
			return fmt.Errorf("line %q: width %v is out of bounds", l.Name, l.Width)
		}
	}
	for _, s := range p.Scatters {
		m := s.Points
		if m.Rows < 0 || m.Cols < 0 || len(m.Data) != m.Rows*m.Cols {
			return fmt.Errorf("scatter %q: malformed matrix %d×%d with %d elements", s.Name, m.Rows, m.Cols, len(m.Data))
		}
		if m.Rows > 0 && m.Cols < 2 {
			return fmt.Errorf("scatter %q: points have %d column, want at least 2 (x, y)", s.Name, m.Cols)
		}
		if s.Radius < 0 || math.IsNaN(s.Radius) || s.Radius > 100 {
			return fmt.Errorf("scatter %q: radius %v is out of bounds", s.Name, s.Radius)
		}
	}
	if h := p.Heat; h != nil {
		z := h.Z
		switch {
		case z.Rows <= 0 || z.Cols <= 0 || len(z.Data) != z.Rows*z.Cols:
			return fmt.Errorf("heat map: Z is %d×%d with %d elements; want a non-empty grid", z.Rows, z.Cols, len(z.Data))
		case p.XLog || p.YLog:
			return fmt.Errorf("heat map on a logarithmic axis is not supported")
		case h.X.auto() || h.Y.auto():
			return fmt.Errorf("heat map: X and Y extents are required")
		}
		if err := checkRange(h.X, false, "heat map X"); err != nil {
			return err
		}
		if err := checkRange(h.Y, false, "heat map Y"); err != nil {
			return err
		}
		if err := checkRange(h.Scale, false, "heat map colour scale"); err != nil {
			return err
		}
	}
	return nil
}

// WritePNG draws the figure as a PNG image. It returns an error, and
// writes nothing, if the description is malformed (see Figure and Panel).
func (f *Figure) WritePNG(w io.Writer) error {
	if err := f.check(); err != nil {
		return err
	}
	wd, ht := f.size()
	r := newRaster(wd, ht)
	f.draw(r, wd, ht)
	return png.Encode(w, r.img)
}

// WriteSVG draws the figure as an SVG document. It returns an error, and
// writes nothing, if the description is malformed (see Figure and Panel).
func (f *Figure) WriteSVG(w io.Writer) error {
	if err := f.check(); err != nil {
		return err
	}
	wd, ht := f.size()
	s := &svgCanvas{}
	fmt.Fprintf(&s.b, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+
		`<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="%d" height="%d" viewBox="0 0 %d %d">`+"\n",
		wd, ht, wd, ht)
	if f.Title != "" {
		s.b.WriteString("<title>")
		writeEscaped(&s.b, f.Title)
		s.b.WriteString("</title>\n")
	}
	f.draw(s, wd, ht)
	s.setClip(nil)
	s.b.WriteString("</svg>\n")
	_, err := w.Write(s.b.Bytes())
	return err
}

// Save writes the figure to path as PNG or SVG, chosen by the extension
// (".png" or ".svg", any case). The file is replaced atomically: the
// figure goes to a temporary file in the same directory, which is synced
// and renamed to path, so no partial file is ever visible, and on error
// nothing is left behind. Errors name path.
func (f *Figure) Save(path string) error {
	var write func(io.Writer) error
	switch strings.ToLower(filepath.Ext(path)) {
	case ".png":
		write = f.WritePNG
	case ".svg":
		write = f.WriteSVG
	default:
		return fmt.Errorf("plot: %s: unknown image format; want a name ending in .png or .svg", path)
	}
	// Render first, so that a malformed figure leaves no temporary file.
	var buf bytes.Buffer
	if err := write(&buf); err != nil {
		return fmt.Errorf("%w (writing %s)", err, path)
	}
	if err := atomicfile.WriteBytes(path, buf.Bytes()); err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	return nil
}

// writeEscaped writes s as XML character data.
func writeEscaped(b *bytes.Buffer, s string) { xml.EscapeText(b, []byte(s)) }
