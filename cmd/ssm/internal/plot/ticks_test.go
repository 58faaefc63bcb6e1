package plot

import (
	"math"
	"slices"
	"testing"
)

func TestLinearTicks(t *testing.T) {
	tests := []struct {
		name   string
		lo, hi float64
		maxN   int
		at     []float64
		labels []string
	}{
		{"unit", 0, 1, 5, []float64{0, 0.2, 0.4, 0.6, 0.8, 1}, []string{"0.0", "0.2", "0.4", "0.6", "0.8", "1.0"}},
		{"inside", 3, 97, 5, []float64{20, 40, 60, 80}, []string{"20", "40", "60", "80"}},
		{"fine", 3, 97, 10, []float64{10, 20, 30, 40, 50, 60, 70, 80, 90}, []string{"10", "20", "30", "40", "50", "60", "70", "80", "90"}},
		{"negative", -7.3, -2.1, 5, []float64{-6, -4}, []string{"-6", "-4"}},
		{"negative fine", -7.3, -2.1, 10, []float64{-7, -6, -5, -4, -3}, []string{"-7", "-6", "-5", "-4", "-3"}},
		{"across zero", -0.35, 0.35, 4, []float64{-0.2, 0, 0.2}, []string{"-0.2", "0.0", "0.2"}},
		{"tiny", 1e-9, 5e-9, 4, []float64{1e-9, 2e-9, 3e-9, 4e-9, 5e-9}, []string{"1e-9", "2e-9", "3e-9", "4e-9", "5e-9"}},
		{"tiny span", 1.00001, 1.00005, 2, []float64{1.00002, 1.00004}, []string{"1.00002", "1.00004"}},
		{"large", 0, 3e6, 5, []float64{0, 1e6, 2e6, 3e6}, []string{"0", "1e6", "2e6", "3e6"}},
		{"large fine", 1.5e6, 2.5e6, 4, []float64{1.5e6, 2e6, 2.5e6}, []string{"1.5e6", "2.0e6", "2.5e6"}},
		{"large finer", 1.55e6, 2.45e6, 5, []float64{1.6e6, 1.8e6, 2e6, 2.2e6, 2.4e6}, []string{"1.6e6", "1.8e6", "2.0e6", "2.2e6", "2.4e6"}},
		{"steps", 0, 5000, 6, []float64{0, 1000, 2000, 3000, 4000, 5000}, []string{"0", "1000", "2000", "3000", "4000", "5000"}},
		{"degenerate", 5, 5, 5, []float64{4.6, 4.8, 5, 5.2, 5.4}, []string{"4.6", "4.8", "5.0", "5.2", "5.4"}},
		{"degenerate zero", 0, 0, 4, []float64{-1, -0.5, 0, 0.5, 1}, []string{"-1.0", "-0.5", "0.0", "0.5", "1.0"}},
		{"reversed", 1, 0, 2, []float64{0, 0.5, 1}, []string{"0.0", "0.5", "1.0"}},
		{"not finite", math.NaN(), 1, 1, []float64{0, 1}, []string{"0", "1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := linearTicks(tt.lo, tt.hi, tt.maxN)
			if !slices.Equal(got.at, tt.at) || !slices.Equal(got.labels, tt.labels) {
				t.Errorf("linearTicks(%v, %v, %d) = %v %q, want %v %q", tt.lo, tt.hi, tt.maxN, got.at, got.labels, tt.at, tt.labels)
			}
		})
	}
}

func TestLinearTicksProperties(t *testing.T) {
	// Over many ranges: ticks lie in the range, are evenly spaced by a
	// 1-2-5 step, number at most maxN+1, and have distinct labels.
	for _, lo := range []float64{-1e300, -12345.678, -1, -1e-7, 0, 1e-300, 0.3, 7, 1e15} {
		for _, width := range []float64{1e-6, 0.013, 1, 17, 3.3e4, 1e20} {
			hi := lo + width*max(1, math.Abs(lo))
			for _, maxN := range []int{1, 2, 5, 10} {
				got := linearTicks(lo, hi, maxN)
				if len(got.at) > maxN+1 || len(got.at) != len(got.labels) {
					t.Errorf("[%v, %v] maxN %d: %d ticks, %d labels", lo, hi, maxN, len(got.at), len(got.labels))
				}
				for i, v := range got.at {
					if tol := 1e-9 * (hi - lo); v < lo-tol || v > hi+tol {
						t.Errorf("[%v, %v]: tick %v outside", lo, hi, v)
					}
					if i > 0 && got.labels[i] == got.labels[i-1] {
						t.Errorf("[%v, %v] maxN %d: repeated label %q", lo, hi, maxN, got.labels[i])
					}
				}
			}
		}
	}
}

func TestLogTicks(t *testing.T) {
	tests := []struct {
		name   string
		lo, hi float64
		maxN   int
		labels []string
	}{
		{"decades", 0.8, 1200, 5, []string{"1", "10", "100", "1000"}},
		{"strided", 1e-6, 1e6, 4, []string{"1e-6", "0.001", "1", "1000", "1e6"}},
		{"one decade", 0.11, 2.4, 6, []string{"0.2", "0.5", "1", "2"}},
		{"within a decade", 2, 3, 5, []string{"2.0", "2.2", "2.4", "2.6", "2.8", "3.0"}},
		{"small values", 3e-5, 4e-3, 5, []string{"5e-5", "1e-4", "2e-4", "5e-4", "0.001", "0.002"}},
		{"two decades, 1-3", 1.7, 600, 5, []string{"3", "10", "30", "100", "300"}},
		{"two decades only", 1.7, 600, 2, []string{"10", "100"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := logTicks(tt.lo, tt.hi, tt.maxN)
			if !slices.Equal(got.labels, tt.labels) {
				t.Errorf("logTicks(%v, %v, %d) = %q, want %q", tt.lo, tt.hi, tt.maxN, got.labels, tt.labels)
			}
		})
	}
}

func TestTidyExp(t *testing.T) {
	for in, want := range map[string]string{
		"1e+06": "1e6", "2.5e-05": "2.5e-5", "3e+00": "3", "-1.0e+10": "-1.0e10", "12": "12",
	} {
		if got := tidyExp(in); got != want {
			t.Errorf("tidyExp(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDataRange(t *testing.T) {
	tests := []struct {
		name   string
		vs     [][]float64
		log    bool
		lo, hi float64
	}{
		{"margin", [][]float64{{0, 10}, {5}}, false, -0.4, 10.4},
		{"skips non-finite", [][]float64{{math.NaN(), 1, math.Inf(1), 2}}, false, 0.96, 2.04},
		{"empty", nil, false, 0, 1},
		{"empty log", [][]float64{{-1, 0}}, true, 1, 10},
		{"single", [][]float64{{3}}, false, 2.7, 3.3},
		{"single log", [][]float64{{100}}, true, math.Pow(10, 1.5), math.Pow(10, 2.5)},
		{"log margin", [][]float64{{-5, 1, 100}}, true, math.Pow(10, -0.08), math.Pow(10, 2.08)},
	}
	for _, tt := range tests {
		lo, hi := dataRange(tt.vs, tt.log)
		if math.Abs(lo-tt.lo) > 1e-12*max(1, math.Abs(tt.lo)) || math.Abs(hi-tt.hi) > 1e-12*max(1, math.Abs(tt.hi)) {
			t.Errorf("%s: dataRange = [%v, %v], want [%v, %v]", tt.name, lo, hi, tt.lo, tt.hi)
		}
	}
}
