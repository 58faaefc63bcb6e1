package sampler

import (
	"fmt"
	"math"

	"scorematch/ad"
	"scorematch/ad/repro"
	"scorematch/ad/rmath"
)

// An ODEFunc sets dy (B×n) to the vector field F(t[b], y_b) of the ODE
// dy/dt = F(t, y) at every row b of y (B×n). Row b holds the state of
// system rows[b] of the matrix being solved, so that F can look up data of
// its own system (such as its probe vectors). Row b of dy must depend on
// row b of y, t[b] and rows[b] alone, bit for bit, whatever the other rows
// are: the adaptive solver evaluates changing subsets of the systems
// together, each at its own time. An ODEFunc must not retain its
// arguments; it may keep scratch buffers and is not safe for concurrent
// use.
type ODEFunc func(dy, y ad.Mat, t []float64, rows []int)

// An ODESolver integrates dy/dt = F(t, y) from t0 to t1 for every row of y
// (one independent system per row) in place, with t1 < t0 allowed
// (backward in time). Solve calls newF once per chunk of rows, from one
// goroutine, and each chunk's ODEFunc on that chunk's goroutine only. It
// returns the work done (none when t0 = t1 or y has no columns), a
// *ConfigError for an invalid setting (before any work), and an error if
// a system cannot be integrated (a non-finite state, or the adaptive
// solver's step cap). With no rows it only checks its settings (calling
// newF never), which is how the probability-flow methods check a solver
// before any work. It panics unless t0 and t1 are finite.
type ODESolver interface {
	Solve(newF func() ODEFunc, y ad.Mat, t0, t1 float64) (ODEStats, error)
}

// ODEStats counts the work of an ODE solve. Every row is its own system:
// the counts are summed over the rows, and MaxEvals is the largest count of
// one row.
type ODEStats struct {
	// Systems is the number of rows solved.
	Systems int
	// Evals is the number of evaluations of F at one row (function
	// evaluations, NFE), summed over the rows.
	Evals int
	// MaxEvals is the largest number of evaluations of one row.
	MaxEvals int
	// Accepted and Rejected count the steps taken and the step attempts
	// rejected by the error control (always 0 for a fixed-step method),
	// summed over the rows.
	Accepted, Rejected int
}

// MeanEvals returns the mean number of function evaluations per system
// (Evals/Systems), the NFE of one sample; 0 when nothing was solved.
func (s ODEStats) MeanEvals() float64 {
	if s.Systems == 0 {
		return 0
	}
	return float64(s.Evals) / float64(s.Systems)
}

// add accumulates o into s.
func (s *ODEStats) add(o ODEStats) {
	s.Systems += o.Systems
	s.Evals += o.Evals
	s.MaxEvals = max(s.MaxEvals, o.MaxEvals)
	s.Accepted += o.Accepted
	s.Rejected += o.Rejected
}

// RK4 is the classical fourth-order Runge–Kutta method with Steps equal
// steps from t0 to t1: 4·Steps function evaluations per row, global error
// O(h⁴). All rows share the time grid t0 + i(t1−t0)/Steps, whose last point
// is t1 exactly.
type RK4 struct {
	// Steps is the number of steps, ≥ 1.
	Steps int
	// Chunks is the number of goroutines the rows are split into;
	// 0 means repro.DefaultChunks(y.Rows). The result does not depend on
	// it.
	Chunks int
}

// Solve integrates every row of y from t0 to t1 in place (see ODESolver).
// The result is bit-identical for any GOMAXPROCS and chunk count. It
// returns a *ConfigError if Steps < 1 or Chunks < 0 and an error naming the
// first row whose state is not finite at the end.
func (r RK4) Solve(newF func() ODEFunc, y ad.Mat, t0, t1 float64) (ODEStats, error) {
	checkTimes("RK4.Solve", t0, t1)
	if r.Steps < 1 {
		return ODEStats{}, &ConfigError{Type: "RK4", Field: "Steps", Value: r.Steps, Want: "≥ 1"}
	}
	chunks, err := chunkCount("RK4", r.Chunks, y.Rows)
	if err != nil || y.Rows == 0 {
		return ODEStats{}, err
	}
	if t0 == t1 || y.Cols == 0 {
		return ODEStats{Systems: y.Rows}, nil
	}
	fs := make([]ODEFunc, chunks)
	for c := range fs {
		fs[c] = newF()
	}
	h := (t1 - t0) / float64(r.Steps)
	repro.Run(y.Rows, chunks, func(c, lo, hi int) {
		m, n := hi-lo, y.Cols
		yc := y.RowRange(lo, hi)
		var k [4]ad.Mat
		for i := range k {
			k[i] = ad.NewMat(m, n)
		}
		tmp := ad.NewMat(m, n)
		ts := make([]float64, m)
		rows := make([]int, m)
		for b := range rows {
			rows[b] = lo + b
		}
		eval := func(dst, at ad.Mat, t float64) {
			for b := range ts {
				ts[b] = t
			}
			fs[c](dst, at, ts, rows)
		}
		for i := range r.Steps {
			t := t0 + float64(float64(i)*h)
			tn := t0 + float64(float64(i+1)*h)
			if i == r.Steps-1 {
				tn = t1
			}
			hh := tn - t // the step actually taken
			mid := t + float64(0.5*hh)
			eval(k[0], yc, t)
			axpyTo(tmp, yc, 0.5*hh, k[0])
			eval(k[1], tmp, mid)
			axpyTo(tmp, yc, 0.5*hh, k[1])
			eval(k[2], tmp, mid)
			axpyTo(tmp, yc, hh, k[2])
			eval(k[3], tmp, tn)
			w := hh / 6
			for j, v := range yc.Data {
				s := k[0].Data[j] + float64(2*k[1].Data[j]) + float64(2*k[2].Data[j]) + k[3].Data[j]
				yc.Data[j] = v + float64(w*s)
			}
		}
	})
	st := ODEStats{Systems: y.Rows, Evals: 4 * r.Steps * y.Rows, MaxEvals: 4 * r.Steps, Accepted: r.Steps * y.Rows}
	return st, checkODEFinite("RK4", y)
}

// axpyTo sets dst = y + a·k element-wise.
func axpyTo(dst, y ad.Mat, a float64, k ad.Mat) {
	for j, v := range y.Data {
		dst.Data[j] = v + float64(a*k.Data[j])
	}
}

// checkTimes panics unless t0 and t1 are finite.
func checkTimes(name string, t0, t1 float64) {
	if math.IsNaN(t0) || math.IsInf(t0, 0) || math.IsNaN(t1) || math.IsInf(t1, 0) {
		panic(fmt.Sprintf("sampler: %s: times %v → %v, want finite", name, t0, t1))
	}
}

// checkODEFinite returns an error naming the first row of y with a
// non-finite value.
func checkODEFinite(name string, y ad.Mat) error {
	for b := range y.Rows {
		for _, v := range y.Row(b) {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("sampler: %s: system %d has a non-finite state", name, b)
			}
		}
	}
	return nil
}

// The Dormand–Prince 5(4) tableau (Dormand & Prince, "A family of embedded
// Runge–Kutta formulae", J. Comput. Appl. Math. 6(1), 1980): nodes dpC,
// coefficients dpA (row i gives stage i+1 from stages 0..i), the
// fifth-order weights dpB (equal to the last row of dpA, so the last stage
// is F at the new point: first same as last) and dpE = dpB − b*, the
// difference from the embedded fourth-order weights.
var (
	dpC = [7]float64{0, 1.0 / 5, 3.0 / 10, 4.0 / 5, 8.0 / 9, 1, 1}
	dpA = [6][6]float64{
		{1.0 / 5},
		{3.0 / 40, 9.0 / 40},
		{44.0 / 45, -56.0 / 15, 32.0 / 9},
		{19372.0 / 6561, -25360.0 / 2187, 64448.0 / 6561, -212.0 / 729},
		{9017.0 / 3168, -355.0 / 33, 46732.0 / 5247, 49.0 / 176, -5103.0 / 18656},
		{35.0 / 384, 0, 500.0 / 1113, 125.0 / 192, -2187.0 / 6784, 11.0 / 84},
	}
	dpB     = [7]float64{35.0 / 384, 0, 500.0 / 1113, 125.0 / 192, -2187.0 / 6784, 11.0 / 84, 0}
	dpBStar = [7]float64{5179.0 / 57600, 0, 7571.0 / 16695, 393.0 / 640, -92097.0 / 339200, 187.0 / 2100, 1.0 / 40}
	dpE     = [7]float64{71.0 / 57600, 0, -71.0 / 16695, 71.0 / 1920, -17253.0 / 339200, 22.0 / 525, -1.0 / 40}
)

// The step-size controller of RK45: the next step is the current one times
// safety·‖err‖^(−1/5), clipped to [rkMinFactor, rkMaxFactor], and never
// larger than the current one right after a rejection (as in scipy's
// solve_ivp and torchdiffeq).
const (
	rkSafety    = 0.9
	rkMinFactor = 0.2
	rkMaxFactor = 10.0
	rkExponent  = -1.0 / 5 // −1/(q+1) for the embedded order q = 4
)

// DefaultMaxSteps is the step cap of RK45 when MaxSteps is 0.
const DefaultMaxSteps = 100000

// RK45 is the adaptive Dormand–Prince 5(4) method (the "dopri5" of
// torchdiffeq and "RK45" of scipy's solve_ivp) with first-same-as-last
// stages: six function evaluations per step attempt, the fifth-order
// solution propagated, the embedded fourth-order one used for the error
// estimate.
//
// Each row is its own system with its own steps: a step of size h from y₀
// to y₁ is accepted when the error norm
//
//	‖err‖ = sqrt( (1/n) Σᵢ (errᵢ / (Atol + Rtol·max(|y₀ᵢ|, |y₁ᵢ|)))² )
//
// is at most 1 (errᵢ = h Σⱼ Eⱼkⱼᵢ, the difference of the two solutions), and
// the next step is h·min(10, max(0.2, 0.9‖err‖^(−1/5))) (at most h after a
// rejection). The first step is Hairer's initial step selection (Hairer,
// Nørsett & Wanner, Solving ODEs I, sec. II.4), at the cost of one
// evaluation; the last step is shortened to end at t1 exactly. So a row
// takes 2 + 6·(accepted + rejected) evaluations, and its result depends on
// that row alone, not on the chunking, the other rows or GOMAXPROCS.
type RK45 struct {
	// Rtol and Atol are the relative and absolute tolerances, finite and
	// > 0. The local error per step is kept near Atol + Rtol·|y|; the
	// global error is usually a small multiple of that.
	Rtol, Atol float64
	// MaxSteps caps the step attempts (accepted and rejected) of each row;
	// 0 means DefaultMaxSteps. A row that reaches it is an error, not a
	// hang.
	MaxSteps int
	// Chunks is as in RK4.
	Chunks int
}

// check returns a *ConfigError for an invalid setting.
func (r RK45) check() error {
	if !(r.Rtol > 0) || r.Rtol > maxFinite {
		return &ConfigError{Type: "RK45", Field: "Rtol", Value: r.Rtol, Want: "finite and > 0"}
	}
	if !(r.Atol > 0) || r.Atol > maxFinite {
		return &ConfigError{Type: "RK45", Field: "Atol", Value: r.Atol, Want: "finite and > 0"}
	}
	if r.MaxSteps < 0 {
		return &ConfigError{Type: "RK45", Field: "MaxSteps", Value: r.MaxSteps, Want: "≥ 0 (0: DefaultMaxSteps)"}
	}
	return nil
}

// Solve integrates every row of y from t0 to t1 in place (see ODESolver
// and RK45). It returns a *ConfigError for an invalid setting, and an
// error naming the first failing row if a row reaches MaxSteps or its
// step size underflows (a non-finite state makes the error control reject
// steps until it does).
func (r RK45) Solve(newF func() ODEFunc, y ad.Mat, t0, t1 float64) (ODEStats, error) {
	checkTimes("RK45.Solve", t0, t1)
	if err := r.check(); err != nil {
		return ODEStats{}, err
	}
	chunks, err := chunkCount("RK45", r.Chunks, y.Rows)
	if err != nil || y.Rows == 0 {
		return ODEStats{}, err
	}
	if t0 == t1 || y.Cols == 0 {
		return ODEStats{Systems: y.Rows}, nil
	}
	maxSteps := r.MaxSteps
	if maxSteps == 0 {
		maxSteps = DefaultMaxSteps
	}
	fs := make([]ODEFunc, chunks)
	for c := range fs {
		fs[c] = newF()
	}
	stats := make([]ODEStats, chunks)
	errs := make([]error, chunks)
	repro.Run(y.Rows, chunks, func(c, lo, hi int) {
		s := newDopri(fs[c], y.RowRange(lo, hi), lo, r, maxSteps)
		stats[c], errs[c] = s.solve(t0, t1)
	})
	var total ODEStats
	for c := range chunks {
		total.add(stats[c])
	}
	for _, e := range errs {
		if e != nil {
			return total, e
		}
	}
	return total, nil
}

// dopri is the state of one chunk's Dormand–Prince solve. Per-row arrays
// are indexed by the row within the chunk; the evaluation buffers hold the
// active rows only, in the order of act.
type dopri struct {
	f        ODEFunc
	y        ad.Mat    // the chunk's rows, updated in place
	k        [7]ad.Mat // stage derivatives per row; k[0] is F at (t, y)
	ynew     ad.Mat    // the candidate fifth-order solution per row
	t, h     []float64 // time and step magnitude per row
	evals    []int
	attempts []int
	acc, rej int
	rejected []bool // the current step of the row follows a rejection
	lo       int    // the chunk's first row in the whole matrix
	tol      RK45
	maxSteps int
	// evaluation buffers: the active rows gathered
	act  []int
	rows []int
	ts   []float64
	in   ad.Mat
	out  ad.Mat
}

func newDopri(f ODEFunc, y ad.Mat, lo int, tol RK45, maxSteps int) *dopri {
	m, n := y.Rows, y.Cols
	d := &dopri{f: f, y: y, lo: lo, tol: tol, maxSteps: maxSteps,
		ynew: ad.NewMat(m, n), t: make([]float64, m), h: make([]float64, m),
		evals: make([]int, m), attempts: make([]int, m), rejected: make([]bool, m),
		act: make([]int, 0, m), rows: make([]int, m), ts: make([]float64, m),
		in: ad.NewMat(m, n), out: ad.NewMat(m, n)}
	for i := range d.k {
		d.k[i] = ad.NewMat(m, n)
	}
	return d
}

// eval sets dst's row act[r] to F(t(r), src row act[r]) for the active rows,
// where src is given per active row by fill, which writes row r of the
// input buffer.
func (d *dopri) eval(dst ad.Mat, ts func(b int) float64, fill func(b int, in []float64)) {
	m := len(d.act)
	in, out := d.in.RowRange(0, m), d.out.RowRange(0, m)
	for r, b := range d.act {
		fill(b, in.Row(r))
		d.ts[r] = ts(b)
		d.rows[r] = d.lo + b
		d.evals[b]++
	}
	d.f(out, in, d.ts[:m], d.rows[:m])
	for r, b := range d.act {
		copy(dst.Row(b), out.Row(r))
	}
}

// scale returns Atol + Rtol·|v|.
func (d *dopri) scale(v float64) float64 { return d.tol.Atol + float64(d.tol.Rtol*math.Abs(v)) }

// rms returns sqrt(mean(v²)) of a vector given by its elements.
func rms(n int, v func(i int) float64) float64 {
	s := 0.0
	for i := range n {
		e := v(i)
		s += float64(e * e)
	}
	return math.Sqrt(s / float64(n))
}

func (d *dopri) solve(t0, t1 float64) (ODEStats, error) {
	m, n := d.y.Rows, d.y.Cols
	span := t1 - t0
	dir := 1.0
	if span < 0 {
		dir = -1
	}
	st := ODEStats{Systems: m}
	if span == 0 {
		return st, nil
	}
	for b := range m {
		d.t[b] = t0
		d.act = append(d.act, b)
	}
	// k[0] = F(t0, y0), then Hairer's initial step.
	d.eval(d.k[0], func(int) float64 { return t0 }, func(b int, in []float64) { copy(in, d.y.Row(b)) })
	h0 := make([]float64, m)
	for _, b := range d.act {
		y0, f0 := d.y.Row(b), d.k[0].Row(b)
		d0 := rms(n, func(i int) float64 { return y0[i] / d.scale(y0[i]) })
		d1 := rms(n, func(i int) float64 { return f0[i] / d.scale(y0[i]) })
		h := 1e-6
		if d0 >= 1e-5 && d1 >= 1e-5 {
			h = 0.01 * d0 / d1
		}
		h0[b] = math.Min(h, math.Abs(span))
	}
	d.eval(d.k[1], func(b int) float64 { return t0 + float64(dir*h0[b]) }, func(b int, in []float64) {
		y0, f0 := d.y.Row(b), d.k[0].Row(b)
		a := dir * h0[b]
		for i := range in {
			in[i] = y0[i] + float64(a*f0[i])
		}
	})
	for _, b := range d.act {
		y0, f0, f1 := d.y.Row(b), d.k[0].Row(b), d.k[1].Row(b)
		d1 := rms(n, func(i int) float64 { return f0[i] / d.scale(y0[i]) })
		d2 := rms(n, func(i int) float64 { return (f1[i] - f0[i]) / d.scale(y0[i]) }) / h0[b]
		var h1 float64
		if mx := math.Max(d1, d2); mx <= 1e-15 {
			h1 = math.Max(1e-6, h0[b]*1e-3)
		} else {
			h1 = rmath.Pow(0.01/mx, 1.0/5)
		}
		h := math.Min(100*h0[b], h1)
		if !(h > 0) { // a non-finite start: let the error control fail it
			h = h0[b]
		}
		d.h[b] = math.Min(h, math.Abs(span))
	}
	var firstErr error
	firstRow := m
	for len(d.act) > 0 {
		d.attempt(t1, dir)
		// Decide per row; keep the active ones in order.
		next := d.act[:0]
		for _, b := range d.act {
			done, err := d.decide(b, t1, dir)
			if err != nil && b < firstRow {
				firstErr, firstRow = err, b
			}
			if !done && err == nil {
				next = append(next, b)
			}
		}
		d.act = next
	}
	for b := range m {
		st.Evals += d.evals[b]
		st.MaxEvals = max(st.MaxEvals, d.evals[b])
	}
	st.Accepted, st.Rejected = d.acc, d.rej
	return st, firstErr
}

// stepTo returns the end time of row b's current attempt: t + dir·h, or t1
// when that would pass or nearly reach t1.
func (d *dopri) stepTo(b int, t1, dir float64) float64 {
	tn := d.t[b] + float64(dir*d.h[b])
	if dir*(tn-t1) >= 0 || math.Abs(t1-tn) <= 1e-12*math.Abs(t1-d.t[b]) {
		return t1
	}
	return tn
}

// attempt runs stages 1..6 of a step for every active row, leaving the
// fifth-order candidate in ynew and F at it in k[6].
func (d *dopri) attempt(t1, dir float64) {
	for s := 1; s <= 6; s++ {
		a := dpA[s-1]
		d.eval(d.k[s], func(b int) float64 {
			if s >= 5 {
				return d.stepTo(b, t1, dir)
			}
			return d.t[b] + float64(dpC[s]*(d.stepTo(b, t1, dir)-d.t[b]))
		}, func(b int, in []float64) {
			h := d.stepTo(b, t1, dir) - d.t[b]
			y := d.y.Row(b)
			for i := range in {
				acc := 0.0
				for j := range s {
					acc += float64(a[j] * d.k[j].At(b, i))
				}
				in[i] = y[i] + float64(h*acc)
			}
			if s == 6 {
				copy(d.ynew.Row(b), in)
			}
		})
	}
}

// decide accepts or rejects row b's attempt and sets its next step. It
// reports whether the row has reached t1, or an error.
func (d *dopri) decide(b int, t1, dir float64) (bool, error) {
	n := d.y.Cols
	tn := d.stepTo(b, t1, dir)
	h := tn - d.t[b]
	y0, y1 := d.y.Row(b), d.ynew.Row(b)
	norm := rms(n, func(i int) float64 {
		acc := 0.0
		for j := range 7 {
			acc += float64(dpE[j] * d.k[j].At(b, i))
		}
		return float64(h*acc) / d.scale(math.Max(math.Abs(y0[i]), math.Abs(y1[i])))
	})
	if math.IsNaN(norm) {
		norm = math.Inf(1)
	}
	d.attempts[b]++
	if norm <= 1 {
		d.acc++
		copy(y0, y1)
		copy(d.k[0].Row(b), d.k[6].Row(b)) // first same as last
		d.t[b] = tn
		if tn == t1 {
			return true, nil
		}
		f := float64(rkMaxFactor)
		if norm > 0 {
			f = math.Min(rkMaxFactor, float64(rkSafety*rmath.Pow(norm, rkExponent)))
		}
		if d.rejected[b] {
			f = math.Min(1, f)
		}
		d.h[b] = float64(math.Abs(h) * f)
		d.rejected[b] = false
	} else {
		d.rej++
		f := rkMinFactor
		if !math.IsInf(norm, 1) {
			f = math.Max(rkMinFactor, float64(rkSafety*rmath.Pow(norm, rkExponent)))
		}
		d.h[b] = float64(math.Abs(h) * f)
		d.rejected[b] = true
	}
	row := d.lo + b
	if d.attempts[b] >= d.maxSteps {
		return false, fmt.Errorf("sampler: RK45: system %d reached MaxSteps = %d at t = %v (of %v)", row, d.maxSteps, d.t[b], t1)
	}
	if d.h[b] <= 10*math.Abs(math.Nextafter(d.t[b], t1)-d.t[b]) {
		return false, fmt.Errorf("sampler: RK45: system %d: step size %v too small at t = %v (non-finite or stiff field)", row, d.h[b], d.t[b])
	}
	return false, nil
}
