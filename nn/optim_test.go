package nn

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"scorematch/ad"
	"scorematch/ad/adtest"
)

// optimGolden is testdata/optim_golden.json, written by optim_golden.py
// with PyTorch.
type optimGolden struct {
	P0, A0, C0 [][]float64
	P1, A1, C1 []float64
	Cases      []struct {
		Name, Optimizer string
		Options         map[string]any
		Steps           [][][]float64 // step, parameter, flat values
		State           map[string][]float64
	}
	Clip struct {
		Grads [][]float64
		Cases []struct {
			MaxNorm float64 `json:"max_norm"`
			Norm    float64
			Grads   [][]float64
		}
	}
}

func readOptimGolden(t *testing.T) *optimGolden {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "optim_golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	g := new(optimGolden)
	if err := json.Unmarshal(b, g); err != nil {
		t.Fatal(err)
	}
	return g
}

// newOptimizer builds the optimiser of a golden case from PyTorch's
// keyword arguments.
func newOptimizer(t *testing.T, kind string, opts map[string]any) Optimizer {
	t.Helper()
	num := func(k string, def float64) float64 {
		if v, ok := opts[k]; ok {
			return v.(float64)
		}
		return def
	}
	flag := func(k string) bool { v, _ := opts[k].(bool); return v }
	switch kind {
	case "SGD":
		o := NewSGD(num("lr", math.NaN()))
		o.Momentum, o.Dampening, o.WeightDecay, o.Nesterov = num("momentum", 0), num("dampening", 0), num("weight_decay", 0), flag("nesterov")
		return o
	case "Adam":
		o := NewAdam()
		o.LR, o.Eps, o.WeightDecay = num("lr", o.LR), num("eps", o.Eps), num("weight_decay", 0)
		if b, ok := opts["betas"].([]any); ok {
			o.Beta1, o.Beta2 = b[0].(float64), b[1].(float64)
		}
		return o
	case "RMSprop":
		o := NewRMSProp()
		o.LR, o.Alpha, o.Eps = num("lr", o.LR), num("alpha", o.Alpha), num("eps", o.Eps)
		o.WeightDecay, o.Momentum, o.Centered = num("weight_decay", 0), num("momentum", 0), flag("centered")
		return o
	}
	t.Fatalf("unknown optimiser %q", kind)
	return nil
}

// quadratic is the test problem of optim_golden.py: parameters p0 (2×3) and
// p1 (1×3) and the gradient a∘(p−c) of ½Σa∘(p−c)².
type quadratic struct {
	params []*ad.Param
	a, c   []ad.Mat
	grads  []ad.Mat
}

func newQuadratic(g *optimGolden) *quadratic {
	flat := func(rows [][]float64) []float64 { return slices.Concat(rows...) }
	q := &quadratic{
		params: []*ad.Param{
			{Name: "p0", Value: ad.MatOf(2, 3, flat(g.P0))},
			{Name: "p1", Value: ad.MatOf(1, 3, slices.Clone(g.P1))},
		},
		a:     []ad.Mat{ad.MatOf(2, 3, flat(g.A0)), ad.MatOf(1, 3, g.A1)},
		c:     []ad.Mat{ad.MatOf(2, 3, flat(g.C0)), ad.MatOf(1, 3, g.C1)},
		grads: []ad.Mat{ad.NewMat(2, 3), ad.NewMat(1, 3)},
	}
	return q
}

// step sets the gradients at the current parameters and takes one step.
func (q *quadratic) step(o Optimizer) {
	for i, p := range q.params {
		for j, v := range p.Value.Data {
			q.grads[i].Data[j] = q.a[i].Data[j] * (v - q.c[i].Data[j])
		}
	}
	o.Step(q.params, q.grads)
}

func (q *quadratic) values() []float64 {
	return slices.Concat(q.params[0].Value.Data, q.params[1].Value.Data)
}

// close12 reports whether got matches want to 1e-12 relative (absolute
// below 1).
func close12(got, want float64) bool {
	return math.Abs(got-want) <= 1e-12*math.Max(1, math.Abs(want))
}

func TestOptimizersMatchPyTorch(t *testing.T) {
	g := readOptimGolden(t)
	for _, tc := range g.Cases {
		t.Run(tc.Name, func(t *testing.T) {
			o := newOptimizer(t, tc.Optimizer, tc.Options)
			q := newQuadratic(g)
			for s, want := range tc.Steps {
				q.step(o)
				got := q.values()
				for i, w := range slices.Concat(want...) {
					if !close12(got[i], w) {
						t.Fatalf("step %d: parameter value %d is %.17g, PyTorch has %.17g", s+1, i, got[i], w)
					}
				}
			}
			state := map[string][]float64{}
			for _, st := range o.State() {
				state[st.Name] = st.Data
			}
			for name, want := range tc.State {
				got, ok := state[name]
				if !ok {
					t.Errorf("State has no %q", name)
					continue
				}
				for i, w := range want {
					if !close12(got[i], w) {
						t.Errorf("state %s[%d] = %.17g, PyTorch has %.17g", name, i, got[i], w)
					}
				}
			}
			if got := state["step"]; len(got) != 1 || got[0] != float64(len(tc.Steps)) {
				t.Errorf("step count %v, want %d", got, len(tc.Steps))
			}
			if len(state) != len(tc.State)+1 && tc.State["step"] == nil || len(state) != len(tc.State) && tc.State["step"] != nil {
				t.Errorf("State has %d tensors, PyTorch's state %d (plus step)", len(state), len(tc.State))
			}
		})
	}
}

func TestClipGradNormMatchesPyTorch(t *testing.T) {
	g := readOptimGolden(t)
	for _, tc := range g.Clip.Cases {
		grads := []ad.Mat{ad.MatOf(2, 3, slices.Clone(g.Clip.Grads[0])), ad.MatOf(1, 3, slices.Clone(g.Clip.Grads[1]))}
		norm := ClipGradNorm(grads, tc.MaxNorm)
		if !close12(norm, tc.Norm) {
			t.Errorf("max %g: norm %.17g, PyTorch %.17g", tc.MaxNorm, norm, tc.Norm)
		}
		for i, w := range slices.Concat(tc.Grads...) {
			if got := slices.Concat(grads[0].Data, grads[1].Data)[i]; !close12(got, w) {
				t.Errorf("max %g: grad[%d] = %.17g, PyTorch %.17g", tc.MaxNorm, i, got, w)
			}
		}
	}
}

func TestClipGradNorm(t *testing.T) {
	for _, tc := range []struct {
		name     string
		grads    []float64
		maxNorm  float64
		wantNorm float64
		want     []float64
	}{
		{"3-4-5 clipped", []float64{3, 4}, 1, 5, []float64{3 / (5 + 1e-6), 4 / (5 + 1e-6)}},
		{"below max", []float64{3, 4}, 10, 5, []float64{3, 4}},
		{"at max: coefficient just below 1", []float64{3, 4}, 5, 5, []float64{3 * 5 / (5 + 1e-6), 4 * 5 / (5 + 1e-6)}},
		{"zero", []float64{0, 0}, 1, 0, []float64{0, 0}},
		{"empty", nil, 1, 0, nil},
	} {
		g := ad.MatOf(1, len(tc.grads), slices.Clone(tc.grads))
		if n := ClipGradNorm([]ad.Mat{g}, tc.maxNorm); n != tc.wantNorm {
			t.Errorf("%s: norm %g, want %g", tc.name, n, tc.wantNorm)
		}
		for i, w := range tc.want {
			if g.Data[i] != w {
				t.Errorf("%s: grad[%d] = %.17g, want %.17g", tc.name, i, g.Data[i], w)
			}
		}
	}
	nan := ad.MatOf(1, 2, []float64{math.NaN(), 1})
	if n := ClipGradNorm([]ad.Mat{nan}, 1); !math.IsNaN(n) || nan.Data[1] != 1 {
		t.Errorf("NaN gradient: norm %g, grads %v; want NaN, unscaled", n, nan.Data)
	}
}

// configs returns one optimiser of each kind with every feature on.
func configs() map[string]func() Optimizer {
	return map[string]func() Optimizer{
		"sgd": func() Optimizer {
			o := NewSGD(0.05)
			o.Momentum, o.Nesterov, o.WeightDecay = 0.9, true, 0.01
			return o
		},
		"sgd-plain": func() Optimizer { return NewSGD(0.05) },
		"adam": func() Optimizer {
			o := NewAdam()
			o.LR, o.WeightDecay = 0.05, 0.01
			return o
		},
		"rmsprop": func() Optimizer {
			o := NewRMSProp()
			o.Momentum, o.Centered, o.WeightDecay = 0.5, true, 0.01
			return o
		},
		"rmsprop-default": func() Optimizer { return NewRMSProp() },
	}
}

// TestOptimizerResume checks that saving the state after k steps and
// restoring it into a fresh optimiser (before its first step, through a
// weight file) or into a used one continues bit for bit.
func TestOptimizerResume(t *testing.T) {
	g := readOptimGolden(t)
	dir := t.TempDir()
	const total, k = 7, 3
	for name, mk := range configs() {
		t.Run(name, func(t *testing.T) {
			ref := newQuadratic(g)
			o := mk()
			for range total {
				ref.step(o)
			}
			want := ref.values()

			q := newQuadratic(g)
			o1 := mk()
			for range k {
				q.step(o1)
			}
			path := filepath.Join(dir, name+".safetensors")
			if err := WriteSafetensors(path, o1.State(), nil); err != nil {
				t.Fatal(err)
			}
			st, _, err := ReadSafetensors(path)
			if err != nil {
				t.Fatal(err)
			}
			// A fresh optimiser: the state is bound at its first step.
			q2 := newQuadratic(g)
			copy(q2.params[0].Value.Data, q.params[0].Value.Data)
			copy(q2.params[1].Value.Data, q.params[1].Value.Data)
			o2 := mk()
			if err := o2.SetState(st); err != nil {
				t.Fatal(err)
			}
			if !tensorsEqual(o2.State(), st) {
				t.Error("State before the first step differs from the state set")
			}
			// A used optimiser (of a different history): bound already.
			o3 := mk()
			q3 := newQuadratic(g)
			q3.step(o3)
			copy(q3.params[0].Value.Data, q.params[0].Value.Data)
			copy(q3.params[1].Value.Data, q.params[1].Value.Data)
			if err := o3.SetState(st); err != nil {
				t.Fatal(err)
			}
			for range total - k {
				q2.step(o2)
				q3.step(o3)
			}
			for i, w := range want {
				if got := q2.values()[i]; got != w {
					t.Fatalf("resumed fresh: value %d is %.17g, uninterrupted %.17g", i, got, w)
				}
				if got := q3.values()[i]; got != w {
					t.Fatalf("resumed used: value %d is %.17g, uninterrupted %.17g", i, got, w)
				}
			}
			if !tensorsEqual(o2.State(), o.State()) || !tensorsEqual(o3.State(), o.State()) {
				t.Error("resumed state differs from the uninterrupted state")
			}
		})
	}
}

func tensorsEqual(a, b []Tensor) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Name != b[i].Name || !slices.Equal(a[i].Shape, b[i].Shape) || len(a[i].Data) != len(b[i].Data) {
			return false
		}
		for j := range a[i].Data {
			if math.Float64bits(a[i].Data[j]) != math.Float64bits(b[i].Data[j]) {
				return false
			}
		}
	}
	return true
}

func TestSetStateErrors(t *testing.T) {
	step := func(v float64) Tensor { return Tensor{Name: "step", Shape: []int{}, Data: []float64{v}} }
	buf := func(name string, r, c int) Tensor {
		return Tensor{Name: name, Shape: []int{r, c}, Data: make([]float64, r*c)}
	}
	for _, tc := range []struct {
		name  string
		state []Tensor
		want  string
	}{
		{"no step", []Tensor{buf("exp_avg.p", 1, 2), buf("exp_avg_sq.p", 1, 2)}, `no "step"`},
		{"negative step", []Tensor{step(-1)}, "not a non-negative integer"},
		{"fractional step", []Tensor{step(1.5)}, "not a non-negative integer"},
		{"step not scalar", []Tensor{{Name: "step", Shape: []int{2}, Data: []float64{1, 2}}}, "want a scalar"},
		{"duplicate", []Tensor{step(0), step(0)}, "appears twice"},
		{"unknown buffer", []Tensor{step(1), buf("momentum_buffer.p", 1, 2)}, `unexpected tensor "momentum_buffer.p"`},
		{"no parameter name", []Tensor{step(1), buf("exp_avg", 1, 2)}, "unexpected tensor"},
		{"data and shape differ", []Tensor{step(1), {Name: "exp_avg.p", Shape: []int{1, 2}, Data: []float64{1}}}, "shape [1 2] and 1 values"},
		{"vector buffer", []Tensor{step(1), {Name: "exp_avg.p", Shape: []int{2}, Data: []float64{1, 2}}}, "want a matrix"},
		{"kinds disagree", []Tensor{step(1), buf("exp_avg.p", 1, 2), buf("exp_avg_sq.p", 2, 1)}, "no matching"},
		{"kind missing a parameter", []Tensor{step(1), buf("exp_avg.p", 1, 2), buf("exp_avg.q", 1, 2), buf("exp_avg_sq.p", 1, 2)}, "exp_avg.q has no matching exp_avg_sq.q"},
		{"buffers missing", []Tensor{step(2)}, "no state buffers"},
		{"one kind missing", []Tensor{step(2), buf("exp_avg.p", 1, 2)}, "no exp_avg_sq buffer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := NewAdam().SetState(tc.state)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "nn: Adam.SetState: ") {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}

	// Against bound parameters: an error, and the state is unchanged.
	p := []*ad.Param{ad.NewParam("p", 1, 2)}
	grads := []ad.Mat{ad.MatOf(1, 2, []float64{1, 2})}
	o := NewAdam()
	o.Step(p, grads)
	before := o.State()
	for _, tc := range []struct {
		name  string
		state []Tensor
		want  string
	}{
		{"wrong parameter", []Tensor{step(1), buf("exp_avg.q", 1, 2), buf("exp_avg_sq.q", 1, 2)}, `no exp_avg.p for parameter "p"`},
		{"wrong shape", []Tensor{step(1), buf("exp_avg.p", 2, 1), buf("exp_avg_sq.p", 2, 1)}, "has shape [2 1], parameter \"p\" is 1×2"},
		{"extra parameter", []Tensor{step(1), buf("exp_avg.p", 1, 2), buf("exp_avg_sq.p", 1, 2), buf("exp_avg.q", 1, 2), buf("exp_avg_sq.q", 1, 2)}, `is for parameter "q"`},
	} {
		if err := o.SetState(tc.state); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
		if !tensorsEqual(o.State(), before) {
			t.Errorf("%s: the state changed on error", tc.name)
		}
	}
	// Against parameters bound later: the next Step panics.
	o = NewAdam()
	if err := o.SetState([]Tensor{step(1), buf("exp_avg.q", 1, 2), buf("exp_avg_sq.q", 1, 2)}); err != nil {
		t.Fatal(err)
	}
	mustPanic(t, `no exp_avg.p for parameter "p"`, func() { o.Step(p, grads) })
}

func TestStepPanics(t *testing.T) {
	p := []*ad.Param{ad.NewParam("a", 2, 2), ad.NewParam("b", 1, 2)}
	g := []ad.Mat{ad.NewMat(2, 2), ad.NewMat(1, 2)}
	mustPanic(t, "2 parameters, 1 gradients", func() { NewAdam().Step(p, g[:1]) })
	mustPanic(t, `gradient 1 is 2×2, parameter "b" is 1×2`, func() { NewAdam().Step(p, []ad.Mat{g[0], g[0]}) })
	mustPanic(t, `two parameters are named "a"`, func() { NewAdam().Step([]*ad.Param{p[0], p[0]}, []ad.Mat{g[0], g[0]}) })
	o := NewRMSProp()
	o.Step(p, g)
	mustPanic(t, "1 parameters, the optimiser was used with 2", func() { o.Step(p[:1], g[:1]) })
	mustPanic(t, `parameter 0 is "b" (1×2), the optimiser was used with "a" (2×2)`, func() {
		o.Step([]*ad.Param{p[1], p[0]}, []ad.Mat{g[1], g[0]})
	})
	s := NewSGD(0.1)
	s.Nesterov = true
	mustPanic(t, "want > 0 with Dampening = 0 for Nesterov momentum", func() { s.Step(p, g) })
	mustPanic(t, "SGD: LR = -1", func() { NewSGD(-1).Step(p, g) })
	a := NewAdam()
	a.Beta2 = 1
	mustPanic(t, "Adam: Beta2 = 1, want in [0, 1)", func() { a.Step(p, g) })
}

func TestOptimizerAllocs(t *testing.T) {
	if adtest.RaceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	g := readOptimGolden(t)
	for name, mk := range configs() {
		q, o := newQuadratic(g), mk()
		q.step(o)
		if a := testing.AllocsPerRun(10, func() { q.step(o) }); a != 0 {
			t.Errorf("%s: Step allocates %v times, want 0", name, a)
		}
	}
	grads := []ad.Mat{ad.NewMat(3, 3)}
	if a := testing.AllocsPerRun(10, func() { ClipGradNorm(grads, 1) }); a != 0 {
		t.Errorf("ClipGradNorm allocates %v times, want 0", a)
	}
}

// TestUpdateSplit checks that a step split into Begin and Updates over
// arbitrary disjoint ranges, in any order, gives Step's bits.
func TestUpdateSplit(t *testing.T) {
	for name, mk := range configs() {
		t.Run(name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(3, 4))
			shapes := [][2]int{{5, 7}, {1, 7}, {3, 1}}
			var whole, split []*ad.Param
			for i, s := range shapes {
				m := ad.MatOf(adtest.RandMat(rng, s[0], s[1], 1))
				whole = append(whole, &ad.Param{Name: fmt.Sprint(i), Value: m.Clone()})
				split = append(split, &ad.Param{Name: fmt.Sprint(i), Value: m.Clone()})
			}
			a, b := mk(), mk()
			for range 4 {
				var grads []ad.Mat
				for _, s := range shapes {
					grads = append(grads, ad.MatOf(adtest.RandMat(rng, s[0], s[1], 1)))
				}
				a.Step(whole, grads)
				b.Begin(split, grads)
				for i := len(split) - 1; i >= 0; i-- { // backwards, in uneven pieces
					n := len(split[i].Value.Data)
					cut := rng.IntN(n + 1)
					b.Update(i, cut, n)
					b.Update(i, 0, cut)
				}
			}
			for i := range whole {
				for j, v := range whole[i].Value.Data {
					if w := split[i].Value.Data[j]; math.Float64bits(v) != math.Float64bits(w) {
						t.Fatalf("param %d[%d]: split %v, whole %v", i, j, w, v)
					}
				}
			}
			if !tensorsEqual(a.State(), b.State()) {
				t.Fatal("states differ")
			}
		})
	}
}

// TestValidate checks that every invalid hyperparameter is reported as a
// *ConfigError naming it, and that Begin panics on it.
func TestValidate(t *testing.T) {
	nan := math.NaN()
	for _, c := range []struct {
		opt     Optimizer
		setting string // "" for valid
	}{
		{NewAdam(), ""},
		{NewSGD(0.1), ""},
		{NewRMSProp(), ""},
		{&SGD{LR: 0.1, Momentum: 0.9, Nesterov: true}, ""},
		{NewSGD(-1), "SGD.LR"},
		{NewSGD(nan), "SGD.LR"},
		{NewSGD(math.Inf(1)), "SGD.LR"},
		{&SGD{LR: 0.1, Momentum: nan}, "SGD.Momentum"},
		{&SGD{LR: 0.1, Momentum: -1}, "SGD.Momentum"},
		{&SGD{LR: 0.1, Dampening: -0.5}, "SGD.Dampening"},
		{&SGD{LR: 0.1, WeightDecay: nan}, "SGD.WeightDecay"},
		{&SGD{LR: 0.1, Nesterov: true}, "SGD.Momentum"},
		{&Adam{LR: 1e-3, Beta1: 1, Beta2: 0.999}, "Adam.Beta1"},
		{&Adam{LR: 1e-3, Beta1: 0.9, Beta2: nan}, "Adam.Beta2"},
		{&Adam{LR: 1e-3, Beta1: 0.9, Beta2: 0.99, Eps: -1}, "Adam.Eps"},
		{&Adam{LR: nan, Beta1: 0.9, Beta2: 0.99}, "Adam.LR"},
		{&RMSProp{LR: 0.01, Alpha: nan}, "RMSProp.Alpha"},
		{&RMSProp{LR: 0.01, Alpha: 0.9, Momentum: nan}, "RMSProp.Momentum"},
		{&RMSProp{LR: 0.01, Alpha: 0.9, WeightDecay: -1}, "RMSProp.WeightDecay"},
	} {
		err := c.opt.Validate()
		var ce *ConfigError
		switch {
		case c.setting == "" && err != nil:
			t.Errorf("%T%+v: %v", c.opt, c.opt, err)
		case c.setting == "":
		case !errors.As(err, &ce):
			t.Errorf("%T: error %v, want a *ConfigError for %s", c.opt, err, c.setting)
		case ce.Setting() != c.setting:
			t.Errorf("%T: %v names %s, want %s", c.opt, err, ce.Setting(), c.setting)
		default:
			p := &ad.Param{Name: "w", Value: ad.NewMat(1, 1)}
			func() {
				defer func() {
					if r := recover(); r == nil {
						t.Errorf("%T: Begin with %s invalid did not panic", c.opt, c.setting)
					}
				}()
				c.opt.Begin([]*ad.Param{p}, []ad.Mat{ad.NewMat(1, 1)})
			}()
		}
	}
}
