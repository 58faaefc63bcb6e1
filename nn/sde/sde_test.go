package sde

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"scorematch/ad"
)

// testSDEs are the SDEs the tests run on: the defaults and other ranges.
var testSDEs = []SDE{
	VE{SigmaMin: 0.01, SigmaMax: 50},
	VE{SigmaMin: 0.1, SigmaMax: 3},
	VP{BetaMin: 0.1, BetaMax: 20},
	VP{BetaMin: 1, BetaMax: 1},
	SubVP{BetaMin: 0.1, BetaMax: 20},
	SubVP{BetaMin: 0, BetaMax: 4},
}

// relErr returns |got − want|/|want|.
func relErr(got, want float64) float64 { return math.Abs(got-want) / math.Abs(want) }

// TestMarginalMomentODE integrates the moment equations of the linear SDE,
// m′ = a(t)·m and v′ = 2a(t)·v + g(t)², by classical RK4 with 20000 steps
// (error O(h⁴) ≈ 1e-17 times the fifth derivative) from m(0) = 1,
// v(0) = s(0)² (σmin² for VE, 0 for VP and sub-VP), and requires m = α(t)
// and v = s(t)² to 1e-8 relative: DriftCoef, Diffusion and Marginal must
// describe the same process.
func TestMarginalMomentODE(t *testing.T) {
	const n = 20000
	for _, s := range testSDEs {
		_, s0 := s.Marginal(0)
		deriv := func(t, m, v float64) (float64, float64) {
			a, g := s.DriftCoef(t), s.Diffusion(t)
			return a * m, 2*a*v + g*g
		}
		m, v := 1.0, s0*s0
		h := s.T() / n
		checks := map[int]bool{20: true, 2000: true, 10000: true, n: true}
		for i := range n {
			t0 := float64(i) * h
			k1m, k1v := deriv(t0, m, v)
			k2m, k2v := deriv(t0+h/2, m+h/2*k1m, v+h/2*k1v)
			k3m, k3v := deriv(t0+h/2, m+h/2*k2m, v+h/2*k2v)
			k4m, k4v := deriv(t0+h, m+h*k3m, v+h*k3v)
			m += h / 6 * (k1m + 2*k2m + 2*k3m + k4m)
			v += h / 6 * (k1v + 2*k2v + 2*k3v + k4v)
			if checks[i+1] {
				tt := float64(i+1) * h
				alpha, std := s.Marginal(tt)
				if e := relErr(alpha, m); e > 1e-8 {
					t.Errorf("%v: α(%v) = %v, the moment ODE gives %v (rel. err. %.1e)", s, tt, alpha, m, e)
				}
				if e := relErr(std*std, v); e > 1e-8 {
					t.Errorf("%v: s(%v)² = %v, the moment ODE gives %v (rel. err. %.1e)", s, tt, std*std, v, e)
				}
			}
		}
	}
}

// TestClosedForms checks σ(t), β(t), the diffusion and the kernel against
// the formulas of the paper written out directly, and the prior.
func TestClosedForms(t *testing.T) {
	ve := VE{SigmaMin: 0.01, SigmaMax: 50}
	vp := VP{BetaMin: 0.1, BetaMax: 20}
	sub := SubVP{BetaMin: 0.1, BetaMax: 20}
	for _, tt := range []float64{0, 1e-5, 0.3, 0.77, 1} {
		sig := 0.01 * math.Pow(5000, tt)
		b := 0.1 + tt*19.9
		B := 0.1*tt + 0.5*tt*tt*19.9
		want := []struct {
			name      string
			got, want float64
		}{
			{"VE σ", ve.Sigma(tt), sig},
			{"VE g", ve.Diffusion(tt), sig * math.Sqrt(2*math.Log(5000))},
			{"VP β", vp.Beta(tt), b},
			{"VP a", vp.DriftCoef(tt), -b / 2},
			{"VP g", vp.Diffusion(tt), math.Sqrt(b)},
			{"sub-VP g", sub.Diffusion(tt), math.Sqrt(b * -math.Expm1(-2*B))},
		}
		a, s := vp.Marginal(tt)
		want = append(want, struct {
			name      string
			got, want float64
		}{"VP α", a, math.Exp(-B / 2)})
		if tt > 0 {
			a2, s2 := sub.Marginal(tt)
			want = append(want, []struct {
				name      string
				got, want float64
			}{{"VP s", s, math.Sqrt(-math.Expm1(-B))}, {"sub-VP α", a2, math.Exp(-B / 2)}, {"sub-VP s", s2, -math.Expm1(-B)}}...)
		}
		for _, w := range want {
			if e := relErr(w.got, w.want); e > 1e-13 && math.Abs(w.got-w.want) > 1e-300 {
				t.Errorf("t = %v: %s = %v, want %v", tt, w.name, w.got, w.want)
			}
		}
		if a, s := ve.Marginal(tt); a != 1 || s != ve.Sigma(tt) {
			t.Errorf("VE marginal at %v = (%v, %v), want (1, σ(t))", tt, a, s)
		}
		if ve.DriftCoef(tt) != 0 {
			t.Errorf("VE drift at %v is %v", tt, ve.DriftCoef(tt))
		}
	}
	x := []float64{0.3, -1.2, 2}
	for _, s := range []SDE{ve, vp, sub} {
		sd := s.PriorStd()
		want := -1.5*math.Log(2*math.Pi*sd*sd) - (0.09+1.44+4)/(2*sd*sd)
		if got := s.PriorLogDensity(x); relErr(got, want) > 1e-13 {
			t.Errorf("%v: prior log-density %v, want %v", s, got, want)
		}
		if s.T() != 1 {
			t.Errorf("%v: T = %v", s, s.T())
		}
	}
	if ve.PriorStd() != 50 || vp.PriorStd() != 1 || sub.PriorStd() != 1 {
		t.Error("prior standard deviations")
	}
	// At t = 1 the VP kernel is close to the prior, and sub-VP's variance is below VP's.
	if _, s := vp.Marginal(1); math.Abs(s-1) > 1e-4 {
		t.Errorf("VP s(1) = %v, want ≈ 1", s)
	}
	for _, tt := range []float64{0.01, 0.5, 1} {
		_, s1 := vp.Marginal(tt)
		_, s2 := sub.Marginal(tt)
		if !(s2 < s1) {
			t.Errorf("t = %v: sub-VP s = %v not below VP's %v", tt, s2, s1)
		}
	}
}

// TestDiscretize checks the steps against their closed forms (written out
// here with plain subtraction, at steps where it is accurate), their
// continuous limits (fcoef/dt → a(t), G²/dt → g(t)²), and VP's NaN for
// βᵢ ≥ 1.
func TestDiscretize(t *testing.T) {
	ve := VE{SigmaMin: 0.01, SigmaMax: 50}
	vp := VP{BetaMin: 0.1, BetaMax: 20}
	sub := SubVP{BetaMin: 0.1, BetaMax: 20}
	for _, tt := range []float64{0.05, 0.5, 1} {
		dt := 0.01
		sg, sp := ve.Sigma(tt), ve.Sigma(tt-dt)
		gap := sg*sg - sp*sp
		f, g := ve.Discretize(tt, dt)
		if f != 0 || relErr(g*g, gap) > 1e-12 {
			t.Errorf("VE Discretize(%v, %v) = %v, %v; want 0, √%v", tt, dt, f, g, gap)
		}
		sc, c, sd := ve.AncestralStep(tt, dt)
		if sc != 1 || relErr(c, gap) > 1e-12 || relErr(sd*sd, sp*sp*gap/(sg*sg)) > 1e-12 {
			t.Errorf("VE AncestralStep(%v, %v) = %v, %v, %v", tt, dt, sc, c, sd)
		}
		bi := vp.Beta(tt) * dt
		f, g = vp.Discretize(tt, dt)
		if relErr(f, math.Sqrt(1-bi)-1) > 1e-12 || relErr(g*g, bi) > 1e-14 {
			t.Errorf("VP Discretize(%v, %v) = %v, %v", tt, dt, f, g)
		}
		sc, c, sd = vp.AncestralStep(tt, dt)
		if relErr(sc, 1/math.Sqrt(1-bi)) > 1e-14 || relErr(c, bi/math.Sqrt(1-bi)) > 1e-14 || relErr(sd*sd, bi) > 1e-14 {
			t.Errorf("VP AncestralStep(%v, %v) = %v, %v, %v", tt, dt, sc, c, sd)
		}
		f, g = sub.Discretize(tt, dt)
		if relErr(f, sub.DriftCoef(tt)*dt) > 1e-14 || relErr(g, sub.Diffusion(tt)*math.Sqrt(dt)) > 1e-14 {
			t.Errorf("sub-VP Discretize(%v, %v) = %v, %v", tt, dt, f, g)
		}
	}
	// Continuous limits: the relative error of the one-sided difference is O(dt).
	for _, s := range testSDEs {
		for _, tt := range []float64{0.2, 0.9} {
			dt := 1e-6
			f, g := s.Discretize(tt, dt)
			a, gg := s.DriftCoef(tt), s.Diffusion(tt)
			if math.Abs(f/dt-a) > 1e-4*math.Max(1, math.Abs(a)) || relErr(g*g/dt, gg*gg) > 1e-4 {
				t.Errorf("%v: Discretize(%v, %v)/dt = (%v, %v), want → (%v, %v)", s, tt, dt, f/dt, g*g/dt, a, gg*gg)
			}
		}
	}
	if f, g := vp.Discretize(1, 0.05); !math.IsNaN(f) || !math.IsNaN(g) {
		t.Errorf("VP Discretize with β·dt = 1: %v, %v, want NaN", f, g)
	}
	if a, b, c := vp.AncestralStep(1, 0.06); !math.IsNaN(a) || !math.IsNaN(b) || !math.IsNaN(c) {
		t.Errorf("VP AncestralStep with β·dt > 1: %v, %v, %v, want NaN", a, b, c)
	}
	var _ Ancestral = ve
	var _ Ancestral = vp
	if _, ok := SDE(sub).(Ancestral); ok {
		t.Error("sub-VP implements Ancestral")
	}
}

func TestParse(t *testing.T) {
	for _, c := range []struct {
		in   string
		want SDE
	}{
		{"ve", VE{SigmaMin: 0.01}},
		{"ve:0.01:50", VE{SigmaMin: 0.01, SigmaMax: 50}},
		{"ve:0.5:0", VE{SigmaMin: 0.5}},
		{"vp", VP{BetaMin: 0.1, BetaMax: 20}},
		{"vp:0:1e-300", VP{BetaMin: 0, BetaMax: 1e-300}},
		{"subvp", SubVP{BetaMin: 0.1, BetaMax: 20}},
		{"subvp:0.3333333333333333:3", SubVP{BetaMin: 1.0 / 3, BetaMax: 3}},
	} {
		got, err := Parse(c.in)
		if err != nil || got != c.want {
			t.Errorf("Parse(%q) = %v, %v; want %v", c.in, got, err, c.want)
			continue
		}
		back, err := Parse(got.String())
		if err != nil || back != got {
			t.Errorf("Parse(%q) = %v, %v; want %v back", got.String(), back, err, got)
		}
	}
	for _, c := range []struct {
		in, field string // field "" for a syntax error
	}{
		{"", ""}, {"vex", ""}, {"ve:1", ""}, {"ve:1:2:3", ""}, {"vp:a:2", ""}, {"vp:1:b", ""}, {"VE", ""},
		{"ve:0:1", "SigmaMin"}, {"ve:-1:1", "SigmaMin"}, {"ve:NaN:1", "SigmaMin"}, {"ve:Inf:1", "SigmaMin"},
		{"ve:1:1", "SigmaMax"}, {"ve:2:1", "SigmaMax"}, {"ve:1:Inf", "SigmaMax"}, {"ve:1:-1", "SigmaMax"},
		{"vp:-0.1:20", "BetaMin"}, {"vp:NaN:20", "BetaMin"}, {"vp:2:1", "BetaMax"}, {"vp:0:0", "BetaMax"},
		{"vp:1:+Inf", "BetaMax"}, {"subvp:-1:1", "BetaMin"}, {"subvp:5:4", "BetaMax"},
	} {
		s, err := Parse(c.in)
		if err == nil {
			t.Errorf("Parse(%q) = %v, want an error", c.in, s)
			continue
		}
		var ce *ConfigError
		switch {
		case c.field == "" && errors.As(err, &ce):
			t.Errorf("Parse(%q): %v is a ConfigError, want a syntax error", c.in, err)
		case c.field != "" && (!errors.As(err, &ce) || ce.Field != c.field):
			t.Errorf("Parse(%q): %v, want a ConfigError on %s", c.in, err, c.field)
		}
	}
}

func TestValidate(t *testing.T) {
	for _, c := range []struct {
		s     SDE
		field string
	}{
		{VE{0.01, 50}, ""}, {VE{0.01, 0}, "SigmaMax"}, {VE{0, 1}, "SigmaMin"}, {VE{math.Inf(1), 1}, "SigmaMin"},
		{VE{1, math.NaN()}, "SigmaMax"}, {VP{0.1, 20}, ""}, {VP{0, 0}, "BetaMax"}, {VP{-1, 1}, "BetaMin"},
		{VP{1, 0.5}, "BetaMax"}, {SubVP{0.1, 20}, ""}, {SubVP{math.NaN(), 1}, "BetaMin"}, {SubVP{0, math.Inf(1)}, "BetaMax"},
	} {
		err := c.s.Validate()
		var ce *ConfigError
		switch {
		case c.field == "" && err != nil:
			t.Errorf("%#v: %v", c.s, err)
		case c.field != "" && (!errors.As(err, &ce) || ce.Field != c.field || ce.Setting() == ""):
			t.Errorf("%#v: %v, want a ConfigError on %s", c.s, err, c.field)
		}
	}
}

func TestSampleEps(t *testing.T) {
	if SampleEps(VE{0.01, 50}) != 1e-5 || SampleEps(VP{0.1, 20}) != 1e-3 || SampleEps(SubVP{0.1, 20}) != 1e-3 {
		t.Error("SampleEps")
	}
}

// TestSigmaMaxHeuristic compares with brute force, exactly up to
// ExactHeuristicRows and as a bound within [exact, 2·exact] above.
func TestSigmaMaxHeuristic(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{2, 100, ExactHeuristicRows + 1} {
		x := ad.NewMat(n, 3)
		for i := range x.Data {
			x.Data[i] = rng.NormFloat64() * float64(1+i%3)
		}
		exact := 0.0
		for i := range n {
			for j := range i {
				d := 0.0
				for k := range 3 {
					d += (x.At(i, k) - x.At(j, k)) * (x.At(i, k) - x.At(j, k))
				}
				exact = math.Max(exact, math.Sqrt(d))
			}
		}
		got := SigmaMaxHeuristic(x)
		if n <= ExactHeuristicRows && relErr(got, exact) > 1e-15 {
			t.Errorf("%d rows: %v, want %v", n, got, exact)
		}
		if n > ExactHeuristicRows && !(got >= exact && got <= 2*exact) {
			t.Errorf("%d rows: %v, want within [%v, %v]", n, got, exact, 2*exact)
		}
	}
	x := ad.MatOf(3, 2, []float64{0, 0, 3, 4, 1, 1})
	if got := SigmaMaxHeuristic(x); got != 5 {
		t.Errorf("SigmaMaxHeuristic = %v, want 5", got)
	}
	if got := FromData(VE{SigmaMin: 0.01}, x); got != (VE{0.01, 5}) {
		t.Errorf("FromData = %v", got)
	}
	if got := FromData(VE{0.01, 7}, x); got != (VE{0.01, 7}) {
		t.Errorf("FromData changed a set σmax: %v", got)
	}
	if got := FromData(VP{0.1, 20}, x); got != (VP{0.1, 20}) {
		t.Errorf("FromData changed VP: %v", got)
	}
	defer func() {
		if recover() == nil {
			t.Error("no panic for one row")
		}
	}()
	SigmaMaxHeuristic(ad.NewMat(1, 2))
}

// TestSamplePrior checks the prior's moments (4000×2 draws: the standard
// error of the variance estimate is about 1.6%) and that a row's draw does
// not depend on the number of rows.
func TestSamplePrior(t *testing.T) {
	s := VE{0.01, 3}
	x := ad.NewMat(4000, 2)
	SamplePrior(s, x, 5)
	sum, sq := 0.0, 0.0
	for _, v := range x.Data {
		sum += v
		sq += v * v
	}
	n := float64(len(x.Data))
	if mean := sum / n; math.Abs(mean) > 4*3/math.Sqrt(n) {
		t.Errorf("prior mean %v, want 0", mean)
	}
	if v := sq / n; math.Abs(v/9-1) > 4*math.Sqrt(2/n) {
		t.Errorf("prior variance %v, want 9", v)
	}
	y := ad.NewMat(10, 2)
	SamplePrior(s, y, 5)
	for i, v := range y.Data {
		if v != x.Data[i] {
			t.Fatalf("value %d: %v with 10 rows, %v with 4000", i, v, x.Data[i])
		}
	}
}

func TestExpm1(t *testing.T) {
	for _, x := range []float64{-50, -1, -1e-3, -1e-9, -1e-300, 0, 1e-12, 1e-5, 0.3, 2, 700} {
		if got, want := expm1(x), math.Expm1(x); got != want && relErr(got, want) > 1e-15 {
			t.Errorf("expm1(%v) = %v, want %v", x, got, want)
		}
	}
	if got := expm1(-800); got != -1 {
		t.Errorf("expm1(-800) = %v", got)
	}
}
