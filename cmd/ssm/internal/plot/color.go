package plot

import (
	"image/color"
	"math"
)

// viridisStops samples the viridis colour map (perceptually uniform, dark
// purple through blue and green to yellow) at nine evenly spaced points;
// colours in between are interpolated linearly.
var viridisStops = [...][3]uint8{
	{68, 1, 84},
	{72, 40, 120},
	{62, 74, 137},
	{49, 104, 142},
	{38, 130, 142},
	{31, 158, 137},
	{53, 183, 121},
	{110, 206, 88},
	{253, 231, 37},
}

// viridis returns the colour of t ∈ [0, 1]; t is clamped, and NaN gives
// the colour of 0.
func viridis(t float64) color.NRGBA {
	if !(t > 0) {
		t = 0
	}
	t = float64(min(t, 1) * float64(len(viridisStops)-1))
	i := min(int(t), len(viridisStops)-2)
	f := t - float64(i)
	a, b := viridisStops[i], viridisStops[i+1]
	var c [3]uint8
	for k := range c {
		c[k] = uint8(math.Round(float64(a[k]) + float64(f*(float64(b[k])-float64(a[k])))))
	}
	return color.NRGBA{c[0], c[1], c[2], 255}
}

// palette colours series that do not set their own colour, in order.
var palette = []color.NRGBA{
	{31, 119, 180, 255},  // blue
	{255, 127, 14, 255},  // orange
	{44, 160, 44, 255},   // green
	{214, 39, 40, 255},   // red
	{148, 103, 189, 255}, // purple
	{140, 86, 75, 255},   // brown
	{227, 119, 194, 255}, // pink
	{127, 127, 127, 255}, // grey
	{188, 189, 34, 255},  // olive
	{23, 190, 207, 255},  // cyan
}

// Colours of the figure's furniture.
var (
	white     = color.NRGBA{255, 255, 255, 255}
	ink       = color.NRGBA{34, 34, 34, 255}    // text, axes, ticks
	gridColor = color.NRGBA{228, 228, 228, 255} // grid lines
	legendBG  = color.NRGBA{255, 255, 255, 224} // legend box
	legendRim = color.NRGBA{190, 190, 190, 255} // legend border
	missing   = color.NRGBA{235, 235, 235, 255} // heat map cells without a finite value
)
