package plot

import (
	"bytes"
	"encoding/xml"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"scorematch/ad"
)

// renderPNG draws f and decodes the result.
func renderPNG(t *testing.T, f *Figure) image.Image {
	t.Helper()
	var b bytes.Buffer
	if err := f.WritePNG(&b); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(&b)
	if err != nil {
		t.Fatalf("PNG does not decode: %v", err)
	}
	return img
}

// svgDoc is what the tests look at in an SVG document.
type svgDoc struct {
	width, height string
	count         map[string]int      // elements by name
	texts         []string            // character data of <text> elements
	attrs         []map[string]string // attributes of every element, in order
	names         []string            // element names, in order
}

// renderSVG draws f and parses the result with encoding/xml.
func renderSVG(t *testing.T, f *Figure) svgDoc {
	t.Helper()
	var b bytes.Buffer
	if err := f.WriteSVG(&b); err != nil {
		t.Fatal(err)
	}
	doc := svgDoc{count: map[string]int{}}
	dec := xml.NewDecoder(&b)
	inText := false
	for {
		tok, err := dec.Token()
		if err != nil {
			if err.Error() == "EOF" {
				break
			}
			t.Fatalf("SVG does not parse: %v", err)
		}
		switch e := tok.(type) {
		case xml.StartElement:
			doc.count[e.Name.Local]++
			a := map[string]string{}
			for _, at := range e.Attr {
				a[at.Name.Local] = at.Value
			}
			doc.attrs = append(doc.attrs, a)
			doc.names = append(doc.names, e.Name.Local)
			if e.Name.Local == "svg" {
				doc.width, doc.height = a["width"], a["height"]
			}
			if e.Name.Local == "text" {
				inText = true
				doc.texts = append(doc.texts, "")
			}
		case xml.EndElement:
			inText = false
		case xml.CharData:
			if inText {
				doc.texts[len(doc.texts)-1] += string(e)
			}
		}
	}
	if doc.count["svg"] != 1 {
		t.Fatalf("SVG has %d <svg> elements", doc.count["svg"])
	}
	return doc
}

// rgb returns the 8-bit colour of pixel (x, y).
func rgb(img image.Image, x, y int) color.NRGBA {
	return color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
}

// nearColor reports whether two colours differ by at most tol in each channel.
func nearColor(a, b color.NRGBA, tol int) bool {
	d := func(x, y uint8) bool { return math.Abs(float64(x)-float64(y)) <= float64(tol) }
	return d(a.R, b.R) && d(a.G, b.G) && d(a.B, b.B)
}

// plotArea returns the pixel rectangle of the plot area of panel i.
func plotArea(f *Figure, i int) panelLayout {
	w, h := f.size()
	m := newMetrics(w/len(f.Panels), h)
	top := 0.0
	if f.Title != "" {
		panic("plotArea: figures with titles are not supported")
	}
	pw := float64(w) / float64(len(f.Panels))
	area := rect{math.Round(float64(i) * pw), top, math.Round(float64(i+1) * pw), float64(h)}
	return f.Panels[i].layout(area, m)
}

func TestPNGSizeAndContent(t *testing.T) {
	for _, size := range [][2]int{{640, 480}, {320, 240}, {1000, 300}, {200, 150}} {
		f := &Figure{Width: size[0], Height: size[1], Panels: []Panel{{
			Title: "t", XLabel: "x", YLabel: "y",
			Lines: []Line{{Name: "a", Y: []float64{3, 1, 2}}},
		}}}
		img := renderPNG(t, f)
		if b := img.Bounds(); b.Dx() != size[0] || b.Dy() != size[1] {
			t.Errorf("image is %v, want %d×%d", b, size[0], size[1])
		}
		l := plotArea(f, 0)
		var bg, other int
		for y := int(l.plot.y0); y < int(l.plot.y1); y++ {
			for x := int(l.plot.x0); x < int(l.plot.x1); x++ {
				if rgb(img, x, y) == white {
					bg++
				} else {
					other++
				}
			}
		}
		if bg == 0 || other == 0 {
			t.Errorf("%v: plot area has %d background and %d other pixels; want both", size, bg, other)
		}
		if rgb(img, 0, 0) != white || rgb(img, size[0]-1, size[1]-1) != white {
			t.Errorf("%v: corners are not white", size)
		}
	}
}

func TestScatterPointLandsOnItsPixel(t *testing.T) {
	red := color.NRGBA{200, 0, 0, 255}
	f := &Figure{Width: 400, Height: 300, Panels: []Panel{{
		X: Range{0, 10}, Y: Range{-1, 1},
		Scatters: []Scatter{{Points: ad.MatOf(1, 2, []float64{7.5, 0.25}), Color: red, Radius: 3}},
	}}}
	l := plotArea(f, 0)
	px := l.plot.x0 + 0.75*l.plot.w()
	py := l.plot.y1 - 0.625*l.plot.h()
	img := renderPNG(t, f)
	if got := rgb(img, int(px), int(py)); got != red {
		t.Errorf("pixel (%d, %d) at the point is %v, want %v", int(px), int(py), got, red)
	}
	if got := rgb(img, int(px)+6, int(py)); got != white {
		t.Errorf("pixel (%d, %d) beside the point is %v, want white", int(px)+6, int(py), got)
	}
	// The SVG twin puts its circle at the same place.
	doc := renderSVG(t, f)
	found := false
	for i, a := range doc.attrs {
		if doc.names[i] != "circle" {
			continue
		}
		cx, _ := strconv.ParseFloat(a["cx"], 64)
		cy, _ := strconv.ParseFloat(a["cy"], 64)
		found = found || (math.Abs(cx-px) < 0.01 && math.Abs(cy-py) < 0.01 && a["fill"] == "#c80000")
	}
	if !found || doc.count["circle"] != 1 {
		t.Errorf("SVG has %d circles, none at (%.2f, %.2f) in #c80000", doc.count["circle"], px, py)
	}
}

func TestLineLandsOnItsPixels(t *testing.T) {
	blue := color.NRGBA{0, 0, 200, 255}
	f := &Figure{Width: 400, Height: 300, Panels: []Panel{{
		X: Range{0, 4}, Y: Range{0, 4},
		Lines: []Line{{X: []float64{0, 4}, Y: []float64{1, 1}, Color: blue, Width: 3}},
	}}}
	l := plotArea(f, 0)
	py := int(l.plot.y1 - 0.25*l.plot.h())
	img := renderPNG(t, f)
	for _, fx := range []float64{0.1, 0.5, 0.9} {
		px := int(l.plot.x0 + fx*l.plot.w())
		if got := rgb(img, px, py); got != blue {
			t.Errorf("pixel (%d, %d) on the line is %v, want %v", px, py, got, blue)
		}
		if got := rgb(img, px, py-6); nearColor(got, blue, 100) {
			t.Errorf("pixel (%d, %d) above the line is %v", px, py-6, got)
		}
	}
}

func TestLinesClippedAndBroken(t *testing.T) {
	// A line leaving the fixed range is clipped at the frame, and NaN
	// breaks it into two polylines.
	f := &Figure{Width: 400, Height: 300, Panels: []Panel{{
		X: Range{0, 1}, Y: Range{0, 1},
		Lines: []Line{{X: []float64{0.1, 0.2, 0.3, 0.4, 5}, Y: []float64{0.5, 0.5, math.NaN(), 0.5, 0.5}}},
	}}}
	doc := renderSVG(t, f)
	l := plotArea(f, 0)
	if doc.count["polyline"] != 2 {
		t.Errorf("SVG has %d polylines, want 2", doc.count["polyline"])
	}
	for i, a := range doc.attrs {
		if doc.names[i] != "polyline" {
			continue
		}
		for _, xy := range strings.Fields(a["points"]) {
			x, _ := strconv.ParseFloat(strings.Split(xy, ",")[0], 64)
			if x > l.plot.x1+10 {
				t.Errorf("polyline point %s lies far outside the figure", xy)
			}
		}
	}
	renderPNG(t, f)
}

func TestHeatCells(t *testing.T) {
	// A 2×2 grid over [0, 2]²: row 0 is the bottom.
	z := ad.MatOf(2, 2, []float64{0, 1, 2, 3})
	f := &Figure{Width: 500, Height: 400, Panels: []Panel{{
		Heat: &Heat{Z: z, X: Range{0, 2}, Y: Range{0, 2}},
	}}}
	l := plotArea(f, 0)
	img := renderPNG(t, f)
	for i := range 2 {
		for j := range 2 {
			px := int(l.plot.x0 + (float64(j)+0.5)/2*l.plot.w())
			py := int(l.plot.y1 - (float64(i)+0.5)/2*l.plot.h())
			want := viridis(z.At(i, j) / 3)
			if got := rgb(img, px, py); got != want {
				t.Errorf("cell (%d, %d) at pixel (%d, %d) is %v, want %v", i, j, px, py, got, want)
			}
		}
	}
	doc := renderSVG(t, f)
	// The heat map and the colour bar.
	if doc.count["image"] != 2 {
		t.Errorf("SVG has %d images, want 2", doc.count["image"])
	}
}

func TestSVGElements(t *testing.T) {
	pts := ad.MatOf(3, 2, []float64{0, 0, 1, 1, 2, 0.5})
	f := &Figure{Title: "Training & <loss>", Panels: []Panel{
		{
			Title: "curves", XLabel: "step", YLabel: "loss",
			Lines: []Line{{Name: "train", Y: []float64{3, 2, 1}}, {Name: "valid", Y: []float64{3, 2.5, 2}}, {Y: []float64{1, 1}}},
		},
		{Title: "points", Scatters: []Scatter{{Name: "samples", Points: pts}}},
	}}
	doc := renderSVG(t, f)
	if doc.width != "1280" || doc.height != "480" {
		t.Errorf("SVG size %s×%s, want 1280×480", doc.width, doc.height)
	}
	// Three lines plus two legend swatches; three points plus one swatch.
	if doc.count["polyline"] != 5 {
		t.Errorf("%d polylines, want 5", doc.count["polyline"])
	}
	if doc.count["circle"] != 4 {
		t.Errorf("%d circles, want 4", doc.count["circle"])
	}
	for _, want := range []string{"Training & <loss>", "curves", "points", "step", "loss", "train", "valid", "samples"} {
		found := false
		for _, s := range doc.texts {
			found = found || s == want
		}
		if !found {
			t.Errorf("no <text> %q among %q", want, doc.texts)
		}
	}
	if doc.count["title"] != 1 {
		t.Errorf("%d <title> elements, want 1", doc.count["title"])
	}
}

func TestLegendAvoidsData(t *testing.T) {
	// Points crowd the top right, so the legend goes top left.
	pts := ad.NewMat(100, 2)
	for i := range 100 {
		pts.Set(i, 0, 0.5+0.05*float64(i/10))
		pts.Set(i, 1, 0.5+0.05*float64(i%10))
	}
	f := &Figure{Width: 400, Height: 300, Panels: []Panel{{
		X: Range{0, 1}, Y: Range{0, 1},
		Scatters: []Scatter{{Name: "crowd", Points: pts}},
	}}}
	doc := renderSVG(t, f)
	l := plotArea(f, 0)
	for i, a := range doc.attrs {
		if doc.names[i] == "text" && a["text-anchor"] == "start" {
			x, _ := strconv.ParseFloat(a["x"], 64)
			if x > (l.plot.x0+l.plot.x1)/2 {
				t.Errorf("legend text at x=%v, want it in the left half", x)
			}
		}
	}
}

func TestDegenerateData(t *testing.T) {
	// None of these may fail or panic; they draw empty or widened axes.
	nan := math.NaN()
	panels := map[string]Panel{
		"empty":             {},
		"all NaN":           {Lines: []Line{{Y: []float64{nan, nan}}}},
		"one point":         {Lines: []Line{{Y: []float64{5}, Marks: true}}},
		"constant":          {Lines: []Line{{X: []float64{1, 2, 3}, Y: []float64{2, 2, 2}}}},
		"log with zeros":    {YLog: true, XLog: true, Lines: []Line{{X: []float64{0, 1, 10}, Y: []float64{-1, 0, 5}}}},
		"huge values":       {Lines: []Line{{X: []float64{-1e308, 1e308}, Y: []float64{1e308, -1e308}}}},
		"empty scatter":     {Scatters: []Scatter{{Name: "none", Points: ad.NewMat(0, 2)}}},
		"extra columns":     {Scatters: []Scatter{{Points: ad.MatOf(1, 3, []float64{1, 2, 3})}}},
		"equal":             {Equal: true, Scatters: []Scatter{{Points: ad.MatOf(2, 2, []float64{0, 0, 10, 1})}}},
		"equal fixed":       {Equal: true, X: Range{0, 1}, Y: Range{0, 10}, Lines: []Line{{Y: []float64{1}}}},
		"heat NaN":          {Heat: &Heat{Z: ad.MatOf(1, 2, []float64{nan, 1}), X: Range{0, 1}, Y: Range{0, 1}}},
		"heat constant":     {Heat: &Heat{Z: ad.MatOf(1, 1, []float64{7}), X: Range{0, 1}, Y: Range{0, 1}, Label: "z"}},
		"heat zoomed":       {X: Range{0.2, 0.4}, Heat: &Heat{Z: ad.MatOf(2, 2, []float64{1, 2, 3, 4}), X: Range{0, 1}, Y: Range{0, 1}}},
		"long labels":       {Title: strings.Repeat("very long title ", 20), YLabel: "y", Lines: []Line{{Y: []float64{1e-7, 2e-7}}}},
		"unknown glyphs":    {Title: "σ² → ∞ `x`", Lines: []Line{{Name: "αβγ", Y: []float64{1, 2}}}},
		"tiny range":        {Lines: []Line{{Y: []float64{1, 1 + 1e-15}}}},
		"negative on log x": {XLog: true, Scatters: []Scatter{{Points: ad.MatOf(2, 2, []float64{-1, 1, -2, 2})}}},
	}
	for name, p := range panels {
		f := &Figure{Width: 300, Height: 200, Panels: []Panel{p}}
		for _, enc := range []func() error{
			func() error { return f.WritePNG(&bytes.Buffer{}) },
			func() error { return f.WriteSVG(&bytes.Buffer{}) },
		} {
			if err := enc(); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
	}
}

func TestInvalidFigures(t *testing.T) {
	ok := Panel{Lines: []Line{{Y: []float64{1, 2}}}}
	tests := []struct {
		name string
		f    Figure
		want string
	}{
		{"no panels", Figure{}, "no panels"},
		{"too big", Figure{Width: 10000, Panels: []Panel{ok}}, "out of bounds"},
		{"too small", Figure{Width: 300, Height: 100, Panels: []Panel{ok, ok}}, "too small for 2 panels"},
		{"lengths", Figure{Panels: []Panel{{Title: "p", Lines: []Line{{Name: "l", X: []float64{1}, Y: []float64{1, 2}}}}}}, `panel 1 ("p"): line "l": X has 1 values, Y has 2`},
		{"width", Figure{Panels: []Panel{{Lines: []Line{{Y: []float64{1}, Width: -1}}}}}, "width -1 is out of bounds"},
		{"scatter columns", Figure{Panels: []Panel{{Scatters: []Scatter{{Name: "s", Points: ad.MatOf(2, 1, []float64{1, 2})}}}}}, `scatter "s": points have 1 column`},
		{"scatter malformed", Figure{Panels: []Panel{{Scatters: []Scatter{{Points: ad.Mat{Rows: 2, Cols: 2}}}}}}, "malformed matrix 2×2 with 0 elements"},
		{"range", Figure{Panels: []Panel{ok, {X: Range{2, 1}}}}, `panel 2 (""): X range [2, 1] is empty`},
		{"log range", Figure{Panels: []Panel{{YLog: true, Y: Range{0, 1}}}}, "Y range [0, 1] does not fit a logarithmic axis"},
		{"heat empty", Figure{Panels: []Panel{{Heat: &Heat{X: Range{0, 1}, Y: Range{0, 1}}}}}, "heat map: Z is 0×0"},
		{"heat extent", Figure{Panels: []Panel{{Heat: &Heat{Z: ad.NewMat(1, 1)}}}}, "extents are required"},
		{"heat log", Figure{Panels: []Panel{{XLog: true, Heat: &Heat{Z: ad.NewMat(1, 1), X: Range{1, 2}, Y: Range{1, 2}}}}}, "logarithmic axis is not supported"},
		{"heat scale", Figure{Panels: []Panel{{Heat: &Heat{Z: ad.NewMat(1, 1), X: Range{1, 2}, Y: Range{1, 2}, Scale: Range{1, 1}}}}}, "colour scale range [1, 1]"},
	}
	for _, tt := range tests {
		var b bytes.Buffer
		err := tt.f.WritePNG(&b)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: WritePNG error %v, want one containing %q", tt.name, err, tt.want)
		}
		if err2 := tt.f.WriteSVG(&b); err2 == nil || err2.Error() != err.Error() {
			t.Errorf("%s: WriteSVG error %v, want %v", tt.name, err2, err)
		}
		if b.Len() != 0 {
			t.Errorf("%s: wrote %d bytes before failing", tt.name, b.Len())
		}
	}
}

func TestSave(t *testing.T) {
	dir := t.TempDir()
	f := &Figure{Panels: []Panel{{Lines: []Line{{Y: []float64{1, 2}}}}}}
	for _, name := range []string{"a.png", "b.SVG"} {
		path := filepath.Join(dir, name)
		if err := f.Save(path); err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		isPNG := bytes.HasPrefix(data, []byte("\x89PNG"))
		if isPNG != strings.HasSuffix(name, ".png") {
			t.Errorf("%s: wrong format", name)
		}
	}
	bad := &Figure{}
	for _, tt := range []struct{ path, want string }{
		{filepath.Join(dir, "c.jpg"), "c.jpg: unknown image format"},
		{filepath.Join(dir, "d.png"), "no panels (writing " + filepath.Join(dir, "d.png") + ")"},
		{filepath.Join(dir, "missing", "e.png"), "missing"},
	} {
		g := f
		if strings.HasSuffix(tt.path, "d.png") {
			g = bad
		}
		if err := g.Save(tt.path); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Save(%s) error %v, want one containing %q", tt.path, err, tt.want)
		}
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 2 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("directory holds %v, want only a.png and b.SVG", names)
	}
}

func TestGridPoints(t *testing.T) {
	g := GridPoints(Range{0, 4}, Range{-1, 1}, 2, 2)
	want := []float64{1, -0.5, 3, -0.5, 1, 0.5, 3, 0.5}
	if g.Rows != 4 || g.Cols != 2 {
		t.Fatalf("GridPoints is %d×%d, want 4×2", g.Rows, g.Cols)
	}
	for i, v := range want {
		if g.Data[i] != v {
			t.Errorf("GridPoints data = %v, want %v", g.Data, want)
			break
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("GridPoints(0 columns) did not panic")
		}
	}()
	GridPoints(Range{0, 1}, Range{0, 1}, 0, 1)
}

func TestClipSegment(t *testing.T) {
	r := rect{0, 0, 10, 10}
	tests := []struct {
		a, b, wa, wb point
		ok           bool
	}{
		{point{1, 1}, point{9, 9}, point{1, 1}, point{9, 9}, true},
		{point{-5, 5}, point{15, 5}, point{0, 5}, point{10, 5}, true},
		{point{-5, -5}, point{-1, 20}, point{}, point{}, false},
		{point{5, -10}, point{5, 20}, point{5, 0}, point{5, 10}, true},
		{point{11, 11}, point{11, 11}, point{}, point{}, false},
	}
	for _, tt := range tests {
		a, b, ok := clipSegment(tt.a, tt.b, r)
		if ok != tt.ok || (ok && (a != tt.wa || b != tt.wb)) {
			t.Errorf("clipSegment(%v, %v) = %v, %v, %v; want %v, %v, %v", tt.a, tt.b, a, b, ok, tt.wa, tt.wb, tt.ok)
		}
	}
}

func TestFont(t *testing.T) {
	for r := rune(' '); r <= '~'; r++ {
		g, ok := glyphs[r]
		if !ok && r != '`' {
			t.Errorf("no glyph for %q", r)
		}
		if r == ' ' || r == '`' {
			continue
		}
		if g == (glyph{}) {
			t.Errorf("glyph %q is blank", r)
		}
		if r >= '0' && r <= '9' || r >= 'A' && r <= 'Z' {
			if g[glyphH-1] != 0 {
				t.Errorf("glyph %q uses the descender row", r)
			}
		}
	}
	// Distinct glyphs for characters that are easy to confuse.
	for _, pair := range []string{"0O", "1l", "1I", "5S", "8B", "2Z", "-_", ".,", ":;"} {
		r := []rune(pair)
		if glyphs[r[0]] == glyphs[r[1]] {
			t.Errorf("%q and %q look the same", r[0], r[1])
		}
	}
	if textWidth("") != 0 || textWidth("ab") != 11 {
		t.Errorf("textWidth: %d, %d; want 0, 11", textWidth(""), textWidth("ab"))
	}
}

func TestTextDrawnInPNG(t *testing.T) {
	// The title's pixels are ink-coloured and lie where the layout puts it.
	f := &Figure{Width: 400, Height: 300, Panels: []Panel{{Title: "HI"}}}
	img := renderPNG(t, f)
	var inked int
	for y := 0; y < 30; y++ {
		for x := 150; x < 250; x++ {
			if rgb(img, x, y) == ink {
				inked++
			}
		}
	}
	// "HI" has 17 + 7 font pixels of ink, each at least one device pixel.
	if inked < 24 {
		t.Errorf("only %d ink pixels where the title should be", inked)
	}
}

func TestViridis(t *testing.T) {
	tests := []struct {
		t    float64
		want color.NRGBA
	}{
		{0, color.NRGBA{68, 1, 84, 255}},
		{-3, color.NRGBA{68, 1, 84, 255}},
		{math.NaN(), color.NRGBA{68, 1, 84, 255}},
		{1, color.NRGBA{253, 231, 37, 255}},
		{7, color.NRGBA{253, 231, 37, 255}},
		{0.5, color.NRGBA{38, 130, 142, 255}},
		{0.0625, color.NRGBA{70, 21, 102, 255}},
	}
	for _, tt := range tests {
		if got := viridis(tt.t); got != tt.want {
			t.Errorf("viridis(%v) = %v, want %v", tt.t, got, tt.want)
		}
	}
	// Lightness rises monotonically, as a sequential map's should.
	prev := -1.0
	for k := 0; k <= 100; k++ {
		c := viridis(float64(k) / 100)
		l := 0.2126*float64(c.R) + 0.7152*float64(c.G) + 0.0722*float64(c.B)
		if l < prev {
			t.Errorf("luminance falls at %v", float64(k)/100)
		}
		prev = l
	}
}
