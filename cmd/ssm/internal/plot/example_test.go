package plot_test

import (
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"

	"scorematch/ad"
	"scorematch/cmd/ssm/internal/plot"
)

// Training and validation loss against the step, saved as PNG and SVG.
func Example() {
	var step, train, valid []float64
	for i := range 100 {
		s := float64(10 * i)
		step = append(step, s)
		train = append(train, math.Exp(-s/300)+0.1)
		valid = append(valid, math.Exp(-s/300)+0.15)
	}
	f := &plot.Figure{Panels: []plot.Panel{{
		Title: "Loss", XLabel: "step", YLabel: "loss", YLog: true,
		Lines: []plot.Line{
			{Name: "training", X: step, Y: train},
			{Name: "validation", X: step, Y: valid},
		},
	}}}

	dir, err := os.MkdirTemp("", "plot-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	for _, name := range []string{"loss.png", "loss.svg"} {
		if err := f.Save(filepath.Join(dir, name)); err != nil {
			fmt.Println(err)
			return
		}
	}
	fmt.Println("saved")
	// Output: saved
}

// A learned and a true density side by side, on one colour scale.
func ExampleHeat() {
	box := plot.Range{Min: -3, Max: 3}
	const n = 50
	grid := plot.GridPoints(box, box, n, n) // n·n points (x, y), row by row from the bottom
	density := func(sigma float64) ad.Mat {
		z := make([]float64, n*n)
		for k := range z {
			x, y := grid.At(k, 0), grid.At(k, 1)
			z[k] = math.Exp(-(x*x+y*y)/(2*sigma*sigma)) / (2 * math.Pi * sigma * sigma)
		}
		return ad.MatOf(n, n, z)
	}
	scale := plot.Range{Min: 0, Max: 0.2}
	f := &plot.Figure{Title: "Density", Panels: []plot.Panel{
		{Title: "learned", Equal: true, Heat: &plot.Heat{Z: density(1.1), X: box, Y: box, Scale: scale}},
		{Title: "true", Equal: true, Heat: &plot.Heat{Z: density(1), X: box, Y: box, Scale: scale, Label: "density"}},
	}}
	if err := f.WritePNG(io.Discard); err != nil {
		fmt.Println(err)
	}
	fmt.Println(f.Panels[1].Heat.Z.Rows, f.Panels[1].Heat.Z.Cols)
	// Output: 50 50
}

func ExampleGridPoints() {
	pts := plot.GridPoints(plot.Range{Min: 0, Max: 2}, plot.Range{Min: 0, Max: 4}, 2, 2)
	for i := range pts.Rows {
		fmt.Println(pts.Row(i))
	}
	// Output:
	// [0.5 1]
	// [1.5 1]
	// [0.5 3]
	// [1.5 3]
}
