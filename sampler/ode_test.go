package sampler

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"testing"

	"scorematch/ad"
)

// odeProblem is an ODE with a closed-form solution, one system per row:
// row b starts at y0(b) at time t0.
type odeProblem struct {
	name  string
	dim   int
	f     func(dy []float64, y []float64, t float64, row int)
	exact func(dst []float64, t0, t float64, row int) // the solution from y0(row) at t0
	y0    func(dst []float64, row int)
}

// problems are the test ODEs: a linear decay whose rate depends on the row
// (so rows take different steps), y' = −2ty, a 2-D rotation, and a bump
// y' = 20/(1 + (20(t − ½))²) that forces the adaptive solver to reject
// steps.
var problems = []odeProblem{
	{
		name: "linear",
		dim:  1,
		f: func(dy, y []float64, t float64, row int) {
			dy[0] = -(0.5 + float64(row%5)) * y[0]
		},
		exact: func(dst []float64, t0, t float64, row int) {
			dst[0] = (1 + 0.1*float64(row)) * math.Exp(-(0.5+float64(row%5))*(t-t0))
		},
		y0: func(dst []float64, row int) { dst[0] = 1 + 0.1*float64(row) },
	},
	{
		name: "gaussian",
		dim:  1,
		f:    func(dy, y []float64, t float64, row int) { dy[0] = -2 * t * y[0] },
		exact: func(dst []float64, t0, t float64, row int) {
			dst[0] = (float64(row) - 2) * math.Exp(-(t*t - t0*t0))
		},
		y0: func(dst []float64, row int) { dst[0] = float64(row) - 2 },
	},
	{
		name: "rotation",
		dim:  2,
		f: func(dy, y []float64, t float64, row int) {
			w := 1 + 0.25*float64(row%3)
			dy[0], dy[1] = -w*y[1], w*y[0]
		},
		exact: func(dst []float64, t0, t float64, row int) {
			w := 1 + 0.25*float64(row%3)
			c, s := math.Cos(w*(t-t0)), math.Sin(w*(t-t0))
			a, b := 1.0, 0.5*float64(row)
			dst[0], dst[1] = c*a-s*b, s*a+c*b
		},
		y0: func(dst []float64, row int) { dst[0], dst[1] = 1, 0.5*float64(row) },
	},
	{
		name: "bump",
		dim:  1,
		f: func(dy, y []float64, t float64, row int) {
			u := 20 * (t - 0.5)
			dy[0] = 20 / (1 + u*u)
		},
		exact: func(dst []float64, t0, t float64, row int) {
			dst[0] = float64(row) + math.Atan(20*(t-0.5)) - math.Atan(20*(t0-0.5))
		},
		y0: func(dst []float64, row int) { dst[0] = float64(row) },
	},
}

// newF returns the problem's ODEFunc factory.
func (p odeProblem) newF() func() ODEFunc {
	return func() ODEFunc {
		return func(dy, y ad.Mat, t []float64, rows []int) {
			if dy.Rows != y.Rows || len(t) != y.Rows || len(rows) != y.Rows || y.Cols != p.dim {
				panic("bad shapes")
			}
			for b := range y.Rows {
				p.f(dy.Row(b), y.Row(b), t[b], rows[b])
			}
		}
	}
}

// start returns the problem's n initial states.
func (p odeProblem) start(n int) ad.Mat {
	y := ad.NewMat(n, p.dim)
	for b := range n {
		p.y0(y.Row(b), b)
	}
	return y
}

// maxErr returns the largest error of y (solved from t0 to t1) against the
// closed form, relative to max(1, |y(t0)|, |y(t1)|) of its row.
func (p odeProblem) maxErr(y ad.Mat, t0, t1 float64) float64 {
	want := make([]float64, p.dim)
	start := make([]float64, p.dim)
	e := 0.0
	for b := range y.Rows {
		p.exact(want, t0, t1, b)
		p.y0(start, b)
		scale := 1.0
		for i := range want {
			scale = math.Max(scale, math.Max(math.Abs(want[i]), math.Abs(start[i])))
		}
		for i, v := range y.Row(b) {
			e = math.Max(e, math.Abs(v-want[i])/scale)
			if math.IsNaN(v) {
				return math.Inf(1)
			}
		}
	}
	return e
}

// TestDormandPrinceTableau checks the tableau's consistency conditions:
// every row of A sums to its node, b and b* sum to one, b is A's last row
// (first same as last) with no weight on the last stage, and E = b − b*.
// It also checks the fifth-order conditions Σbᵢcᵢᵏ = 1/(k+1), k ≤ 4, and
// the fourth-order ones of b* for k ≤ 3.
func TestDormandPrinceTableau(t *testing.T) {
	for s := 1; s <= 6; s++ {
		sum := 0.0
		for j := range s {
			sum += dpA[s-1][j]
		}
		if math.Abs(sum-dpC[s]) > 1e-15 {
			t.Errorf("row %d of A sums to %v, want c = %v", s, sum, dpC[s])
		}
	}
	for k := range 5 {
		var b, bs float64
		for i := range 7 {
			b += dpB[i] * math.Pow(dpC[i], float64(k))
			bs += dpBStar[i] * math.Pow(dpC[i], float64(k))
		}
		if want := 1 / float64(k+1); math.Abs(b-want) > 1e-15 {
			t.Errorf("Σ bᵢcᵢ^%d = %v, want %v", k, b, want)
		}
		if want := 1 / float64(k+1); k <= 3 && math.Abs(bs-want) > 1e-15 {
			t.Errorf("Σ b*ᵢcᵢ^%d = %v, want %v", k, bs, want)
		}
	}
	for i := range 7 {
		if i < 6 && dpB[i] != dpA[5][i] {
			t.Errorf("b[%d] = %v, last row of A %v", i, dpB[i], dpA[5][i])
		}
		if math.Abs(dpE[i]-(dpB[i]-dpBStar[i])) > 1e-16 {
			t.Errorf("E[%d] = %v, b − b* = %v", i, dpE[i], dpB[i]-dpBStar[i])
		}
	}
	if dpB[6] != 0 || dpC[5] != 1 || dpC[6] != 1 {
		t.Errorf("b₇ = %v, c₆ = %v, c₇ = %v; want 0, 1, 1", dpB[6], dpC[5], dpC[6])
	}
}

// TestRK4Accuracy solves every problem forward and backward with 200 steps
// and checks the result against the closed form, and that all rows took
// 4·Steps evaluations.
func TestRK4Accuracy(t *testing.T) {
	for _, p := range problems {
		for _, span := range [][2]float64{{0, 1}, {1, 0.001}} {
			y := p.start(7)
			st, err := RK4{Steps: 400, Chunks: 3}.Solve(p.newF(), y, span[0], span[1])
			if err != nil {
				t.Fatal(err)
			}
			if e := p.maxErr(y, span[0], span[1]); e > 1e-8 {
				t.Errorf("%s %v: error %.3g", p.name, span, e)
			}
			if st.Evals != 7*4*400 || st.MaxEvals != 1600 || st.Systems != 7 || st.MeanEvals() != 1600 {
				t.Errorf("%s: stats %+v", p.name, st)
			}
		}
	}
}

// TestRK4Order checks RK4's global error order: halving the step divides
// the error by 2⁴ = 16, within ±20%.
func TestRK4Order(t *testing.T) {
	for _, p := range problems[:3] {
		errAt := func(steps int) float64 {
			y := p.start(4)
			if _, err := (RK4{Steps: steps}).Solve(p.newF(), y, 0, 2); err != nil {
				t.Fatal(err)
			}
			return p.maxErr(y, 0, 2)
		}
		for _, n := range []int{40, 80} {
			e1, e2 := errAt(n), errAt(2*n)
			t.Logf("%s: error ratio %d→%d steps: %.3f", p.name, n, 2*n, e1/e2)
			if r := e1 / e2; r < 16*0.8 || r > 16*1.2 {
				t.Errorf("%s: error %.3g at %d steps, %.3g at %d: ratio %.2f, want 16 ± 20%%", p.name, e1, n, e2, 2*n, r)
			}
		}
	}
}

// TestRK45Accuracy solves every problem forward and backward at several
// tolerances and checks that the global error is within 20·tol (relative to the row's scale) of
// the closed form, that the work grows as the tolerance shrinks, that the
// bump forces rejections, and that the counts add up: each row takes
// 2 + 6·(accepted + rejected) evaluations.
func TestRK45Accuracy(t *testing.T) {
	const rows = 9
	for _, p := range problems {
		for _, span := range [][2]float64{{0, 1}, {1, 0}} {
			prev := 0
			for _, tol := range []float64{1e-4, 1e-6, 1e-8, 1e-10} {
				y := p.start(rows)
				st, err := RK45{Rtol: tol, Atol: tol, Chunks: 2}.Solve(p.newF(), y, span[0], span[1])
				if err != nil {
					t.Fatal(err)
				}
				e := p.maxErr(y, span[0], span[1])
				if e > 20*tol {
					t.Errorf("%s %v tol %g: error %.3g", p.name, span, tol, e)
				}
				if st.Evals != 2*rows+6*(st.Accepted+st.Rejected) || st.Systems != rows || st.MaxEvals*rows < st.Evals {
					t.Errorf("%s tol %g: inconsistent counts %+v", p.name, tol, st)
				}
				if st.Evals <= prev {
					t.Errorf("%s tol %g: %d evaluations, no more than %d at the looser tolerance", p.name, tol, st.Evals, prev)
				}
				prev = st.Evals
				if p.name == "bump" && st.Rejected == 0 {
					t.Errorf("bump tol %g: no step rejected", tol)
				}
				t.Logf("%s %v tol %g: error/tol %.2f, NFE/row %.1f, accepted %d, rejected %d", p.name, span, tol, e/tol, st.MeanEvals(), st.Accepted, st.Rejected)
			}
		}
	}
}

// TestRK45RowIndependence checks that each row's result depends on that
// row alone: the same bits for 1, 2, 5 and 13 chunks and GOMAXPROCS 1, 2
// and 8, and a row solved by itself (as system 0 of a one-row matrix, with
// the row's rate) equals the same row solved among others.
func TestRK45RowIndependence(t *testing.T) {
	p := problems[0]
	solve := func(chunks int) ad.Mat {
		y := p.start(13)
		if _, err := (RK45{Rtol: 1e-7, Atol: 1e-9, Chunks: chunks}).Solve(p.newF(), y, 0.3, 1.7); err != nil {
			t.Fatal(err)
		}
		return y
	}
	ref := solve(1)
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	for _, procs := range []int{1, 2, 8} {
		runtime.GOMAXPROCS(procs)
		for _, chunks := range []int{2, 5, 13} {
			got := solve(chunks)
			for i := range got.Data {
				if math.Float64bits(got.Data[i]) != math.Float64bits(ref.Data[i]) {
					t.Fatalf("GOMAXPROCS %d, %d chunks: value %d is %v, with one chunk %v", procs, chunks, i, got.Data[i], ref.Data[i])
				}
			}
		}
	}
	// Row 7 alone: shift the row index seen by F.
	alone := ad.NewMat(1, 1)
	p.y0(alone.Row(0), 7)
	newF := func() ODEFunc {
		f := p.newF()()
		return func(dy, y ad.Mat, t []float64, rows []int) { f(dy, y, t, []int{rows[0] + 7}) }
	}
	if _, err := (RK45{Rtol: 1e-7, Atol: 1e-9}).Solve(newF, alone, 0.3, 1.7); err != nil {
		t.Fatal(err)
	}
	if alone.Data[0] != ref.At(7, 0) {
		t.Errorf("row 7 alone: %v, among others %v", alone.Data[0], ref.At(7, 0))
	}
}

// TestODEErrors checks the settings errors, the step cap, a non-finite
// field and the empty span.
func TestODEErrors(t *testing.T) {
	p := problems[1]
	bad := []struct {
		s     ODESolver
		field string
	}{
		{RK4{Steps: 0}, "RK4.Steps"},
		{RK4{Steps: -3}, "RK4.Steps"},
		{RK4{Steps: 5, Chunks: -1}, "RK4.Chunks"},
		{RK45{Rtol: 0, Atol: 1e-6}, "RK45.Rtol"},
		{RK45{Rtol: -1e-6, Atol: 1e-6}, "RK45.Rtol"},
		{RK45{Rtol: math.NaN(), Atol: 1e-6}, "RK45.Rtol"},
		{RK45{Rtol: math.Inf(1), Atol: 1e-6}, "RK45.Rtol"},
		{RK45{Rtol: 1e-6, Atol: 0}, "RK45.Atol"},
		{RK45{Rtol: 1e-6, Atol: -1}, "RK45.Atol"},
		{RK45{Rtol: 1e-6, Atol: 1e-6, MaxSteps: -1}, "RK45.MaxSteps"},
		{RK45{Rtol: 1e-6, Atol: 1e-6, Chunks: -2}, "RK45.Chunks"},
	}
	for _, c := range bad {
		y := p.start(3)
		before := y.Clone()
		_, err := c.s.Solve(p.newF(), y, 0, 1)
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Setting() != c.field {
			t.Errorf("%+v: error %v, want a ConfigError for %s", c.s, err, c.field)
		}
		if y.Data[2] != before.Data[2] {
			t.Errorf("%+v: y changed despite the error", c.s)
		}
	}
	// The step cap is an error naming the first row, not a hang.
	y := problems[3].start(4)
	st, err := RK45{Rtol: 1e-12, Atol: 1e-12, MaxSteps: 5}.Solve(problems[3].newF(), y, 0, 1)
	if err == nil || st.Accepted+st.Rejected != 4*5 {
		t.Errorf("MaxSteps 5: error %v, %d attempts; want an error after 20", err, st.Accepted+st.Rejected)
	} else {
		t.Log(err)
	}
	// A field that turns non-finite after t = 0.5.
	nan := func() ODEFunc {
		return func(dy, y ad.Mat, tt []float64, rows []int) {
			for b := range y.Rows {
				dy.Data[b] = -y.Data[b]
				if tt[b] > 0.5 && rows[b] >= 2 {
					dy.Data[b] = math.NaN()
				}
			}
		}
	}
	y = ad.MatOf(4, 1, []float64{1, 2, 3, 4})
	if _, err := (RK45{Rtol: 1e-6, Atol: 1e-6}).Solve(nan, y, 0, 1); err == nil {
		t.Error("RK45: NaN field: no error")
	} else {
		t.Log(err)
	}
	if math.Abs(y.Data[0]-math.Exp(-1)) > 1e-5 || math.Abs(y.Data[1]-2*math.Exp(-1)) > 1e-5 {
		t.Errorf("RK45: the finite rows 0 and 1 end at %v, want e⁻¹·(1, 2)", y.Data[:2])
	}
	y = ad.MatOf(4, 1, []float64{1, 2, 3, 4})
	if _, err := (RK4{Steps: 10}).Solve(nan, y, 0, 1); err == nil {
		t.Error("RK4: NaN field: no error")
	}
	// An empty span, or no columns, changes nothing and evaluates nothing.
	for _, s := range []ODESolver{RK4{Steps: 3}, RK45{Rtol: 1e-3, Atol: 1e-3}} {
		y := p.start(3)
		called := false
		st, err := s.Solve(func() ODEFunc {
			return func(dy, y ad.Mat, tt []float64, rows []int) { called = true }
		}, y, 0.5, 0.5)
		if err != nil || called || st.Evals != 0 || st.Systems != 3 {
			t.Errorf("%T: empty span: %v, %+v, called %v", s, err, st, called)
		}
		st, err = s.Solve(func() ODEFunc {
			return func(dy, y ad.Mat, tt []float64, rows []int) { called = true }
		}, ad.NewMat(3, 0), 0, 1)
		if err != nil || called || st.Evals != 0 {
			t.Errorf("%T: no columns: %v, %+v, called %v", s, err, st, called)
		}
	}
}

// Solving y' = −2ty from t = 0 to 2 with the adaptive method, one system
// per row.
func ExampleRK45() {
	newF := func() ODEFunc {
		return func(dy, y ad.Mat, t []float64, rows []int) {
			for b := range y.Rows {
				dy.Data[b] = -2 * t[b] * y.Data[b]
			}
		}
	}
	y := ad.MatOf(2, 1, []float64{1, 3})
	st, err := RK45{Rtol: 1e-8, Atol: 1e-8}.Solve(newF, y, 0, 2)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("y(2) = %.8f, %.8f (exact %.8f, %.8f)\n", y.Data[0], y.Data[1], math.Exp(-4), 3*math.Exp(-4))
	fmt.Printf("NFE per row %v; steps of both rows: %d accepted, %d rejected\n", st.MeanEvals(), st.Accepted, st.Rejected)
	// Output:
	// y(2) = 0.01831564, 0.05494692 (exact 0.01831564, 0.05494692)
	// NFE per row 227; steps of both rows: 69 accepted, 6 rejected
}
