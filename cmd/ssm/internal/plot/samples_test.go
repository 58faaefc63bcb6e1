package plot

import (
	"flag"
	"image/color"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"scorematch/ad"
)

// To look at the figures this package draws:
//
//	go test -run TestSamples ./cmd/ssm/internal/plot/ -args -samples=/tmp/plot-samples
var samplesDir = flag.String("samples", "", "write sample figures (PNG and SVG) to this directory")

// sampleFigures returns one figure of each kind the ssm command draws.
func sampleFigures() map[string]*Figure {
	rng := rand.New(rand.NewPCG(1, 2))

	// Loss curves: a noisy training loss every step, validation every 100.
	var step, train, vstep, valid []float64
	for i := 0; i <= 5000; i += 5 {
		s := float64(i)
		step = append(step, s)
		train = append(train, 2*math.Exp(-s/900)+0.15+0.08*rng.NormFloat64()*math.Exp(-s/3000))
		if i%100 == 0 {
			vstep = append(vstep, s)
			valid = append(valid, 2*math.Exp(-s/900)+0.2)
		}
	}
	loss := &Figure{Title: "Sliced score matching (D=2, batch 128)", Panels: []Panel{{
		Title: "Loss", XLabel: "step", YLabel: "loss",
		Lines: []Line{{Name: "training", X: step, Y: train}, {Name: "validation", X: vstep, Y: valid, Marks: true}},
	}}}
	logLoss := &Figure{Panels: []Panel{{
		Title: "Loss (log scale)", XLabel: "step", YLabel: "loss", YLog: true,
		Lines: []Line{{Name: "training", X: step, Y: train}, {Name: "validation", X: vstep, Y: valid}},
	}}}

	// Samples over data: a two-moons-like set and samples near it.
	data := ad.NewMat(1000, 2)
	samples := ad.NewMat(400, 2)
	moon := func(m ad.Mat, i int, noise float64) {
		t := math.Pi * rng.Float64()
		if rng.IntN(2) == 0 {
			m.Set(i, 0, math.Cos(t)+noise*rng.NormFloat64())
			m.Set(i, 1, math.Sin(t)+noise*rng.NormFloat64())
		} else {
			m.Set(i, 0, 1-math.Cos(t)+noise*rng.NormFloat64())
			m.Set(i, 1, 0.5-math.Sin(t)+noise*rng.NormFloat64())
		}
	}
	for i := range data.Rows {
		moon(data, i, 0.05)
	}
	for i := range samples.Rows {
		moon(samples, i, 0.12)
	}
	scatter := &Figure{Panels: []Panel{{
		Title: "Langevin samples over the data", XLabel: "x1", YLabel: "x2", Equal: true,
		Scatters: []Scatter{
			{Name: "data", Points: data, Color: color.NRGBA{150, 150, 150, 255}},
			{Name: "samples (n=400)", Points: samples, Color: color.NRGBA{214, 39, 40, 200}},
		},
	}}}

	// Heat maps: a learned and a true density of a mixture of Gaussians.
	box := Range{-3, 3}
	grid := GridPoints(box, box, 120, 120)
	density := func(shift float64) ad.Mat {
		z := ad.NewMat(120, 120)
		for k := range z.Data {
			x, y := grid.Data[2*k], grid.Data[2*k+1]
			d := 0.0
			for _, c := range [][2]float64{{-1.2, -1}, {1.3, 0.8}, {0, 1.5 + shift}} {
				d += math.Exp(-((x-c[0])*(x-c[0]) + (y-c[1])*(y-c[1])) / 0.5)
			}
			z.Data[k] = d / (3 * math.Pi * 0.5)
		}
		return z
	}
	learned, truth := density(0.3), density(0)
	scale := Range{0, 0.25}
	heat := &Figure{Title: "Density", Height: 520, Panels: []Panel{
		{Title: "learned", XLabel: "x1", YLabel: "x2", Equal: true, Heat: &Heat{Z: learned, X: box, Y: box, Scale: scale, Label: "density"}},
		{Title: "true", XLabel: "x1", YLabel: "x2", Equal: true, Heat: &Heat{Z: truth, X: box, Y: box, Scale: scale, Label: "density"}},
	}}

	// Scalability: time per step against the dimension, log-log.
	dims := []float64{2, 4, 8, 16, 32, 64, 128, 256, 512, 1024}
	var exact, sliced []float64
	for _, d := range dims {
		exact = append(exact, 2e-4*d*d)
		sliced = append(sliced, 3e-3*d+0.01)
	}
	scal := &Figure{Panels: []Panel{{
		Title: "Time per step vs D", XLabel: "dimension D", YLabel: "time (s)", XLog: true, YLog: true,
		Lines: []Line{{Name: "exact SM", X: dims, Y: exact, Marks: true}, {Name: "SSM (M=1)", X: dims, Y: sliced, Marks: true}},
	}}}
	return map[string]*Figure{"loss": loss, "loss-log": logLoss, "scatter": scatter, "heat": heat, "scalability": scal}
}

func TestSamples(t *testing.T) {
	if *samplesDir == "" {
		t.Skip("no -samples directory")
	}
	if err := os.MkdirAll(*samplesDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, f := range sampleFigures() {
		for _, ext := range []string{".png", ".svg"} {
			if err := f.Save(filepath.Join(*samplesDir, name+ext)); err != nil {
				t.Error(err)
			}
		}
	}
}
