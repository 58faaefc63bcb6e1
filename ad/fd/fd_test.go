package fd_test

import (
	"math"
	"testing"

	"scorematch/ad/fd"
)

func TestCentralDiff(t *testing.T) {
	for _, c := range []struct {
		name   string
		f, df  func(float64) float64
		x, h   float64
		relTol float64
	}{
		// The stencil is exact for polynomials of degree up to 4.
		{"quartic", func(x float64) float64 { return x*x*x*x - 3*x*x + x }, func(x float64) float64 { return 4*x*x*x - 6*x + 1 }, 0.7, 0.25, 1e-13},
		{"sin", math.Sin, math.Cos, 1.1, 1e-3, 1e-10},
		{"exp", math.Exp, math.Exp, -0.4, 1e-3, 1e-10},
		{"log", math.Log, func(x float64) float64 { return 1 / x }, 2.5, 1e-3, 1e-10},
	} {
		got, want := fd.CentralDiff(c.f, c.x, c.h), c.df(c.x)
		if math.Abs(got-want) > c.relTol*math.Abs(want) {
			t.Errorf("%s: CentralDiff = %.17g, want %.17g", c.name, got, want)
		}
	}
}

func TestNumGrad(t *testing.T) {
	x := []float64{0.5, -2, 3, 0}
	orig := append([]float64(nil), x...)
	calls := 0
	f := func() float64 { // Σ sin(xᵢ)·(i+1)
		calls++
		s := 0.0
		for i, v := range x {
			s += math.Sin(v) * float64(i+1)
		}
		return s
	}
	grad := make([]float64, len(x))
	fd.NumGrad(f, x, grad, fd.DefaultStep)
	for i := range x {
		if math.Float64bits(x[i]) != math.Float64bits(orig[i]) {
			t.Fatalf("x[%d] = %v after NumGrad, want %v restored exactly", i, x[i], orig[i])
		}
		want := math.Cos(x[i]) * float64(i+1)
		if math.Abs(grad[i]-want) > 1e-8*math.Max(1, math.Abs(want)) {
			t.Errorf("grad[%d] = %v, want %v", i, grad[i], want)
		}
	}
	if calls != 4*len(x) {
		t.Errorf("f called %d times, want 4 per element", calls)
	}
}

func TestRelErr(t *testing.T) {
	nan := math.NaN()
	for _, c := range []struct {
		name      string
		got, want []float64
		floor     float64
		err       float64
		at        int
	}{
		{"equal", []float64{1, -2}, []float64{1, -2}, 0, 0, 0},
		{"relative", []float64{1, 2.2}, []float64{1, 2}, 0, 0.2 / 2.2, 1},
		{"largest", []float64{1.1, 2.1}, []float64{1, 2}, 0, 0.1 / 1.1, 0},
		{"floor", []float64{1, 1e-9}, []float64{1, 0}, 1e-3, 1e-9 / 1e-3, 1},
		{"no floor", []float64{1, 1e-9}, []float64{1, 0}, 0, 1, 1},
		{"zeros", []float64{0, 0}, []float64{0, 0}, 0, 0, 0},
		{"NaN", []float64{1, nan, 3}, []float64{1, 2, 3}, 0, math.Inf(1), 1},
		{"empty", nil, nil, 0, 0, -1},
	} {
		err, at := fd.RelErr(c.got, c.want, c.floor)
		if math.Abs(err-c.err) > 1e-15*math.Max(1, c.err) && !(math.IsInf(err, 1) && math.IsInf(c.err, 1)) || at != c.at {
			t.Errorf("%s: RelErr = %v at %d, want %v at %d", c.name, err, at, c.err, c.at)
		}
	}
}

func TestCheckGrad(t *testing.T) {
	x := []float64{0.3, -1.2, 2}
	f := func() float64 { return x[0]*x[1] + math.Exp(x[2]) }
	good := []float64{x[1], x[0], math.Exp(x[2])}
	if err, at := fd.CheckGrad(f, x, good, fd.DefaultStep); err > 1e-9 {
		t.Errorf("right gradient: relative error %.3g at %d", err, at)
	}
	bad := []float64{x[1], 2 * x[0], math.Exp(x[2])}
	if err, at := fd.CheckGrad(f, x, bad, fd.DefaultStep); err < 0.1 || at != 1 {
		t.Errorf("wrong gradient: relative error %.3g at %d, want ≥ 0.1 at 1", err, at)
	}
}
