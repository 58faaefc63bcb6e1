package nn

import (
	"encoding/json"
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
	"scorematch/ad/fd"
	"scorematch/nn/sde"
)

// testSDEs are the diffusions the SDENet tests run on.
var testSDEs = []sde.SDE{
	sde.VE{SigmaMin: 0.01, SigmaMax: 5},
	sde.VP{BetaMin: 0.1, BetaMax: 20},
	sde.SubVP{BetaMin: 0.1, BetaMax: 20},
}

// testSDENet returns an SDENet for s with perturbed parameters, a batch,
// directions and per-sample times spanning (0, 1].
func testSDENet(t *testing.T, s sde.SDE) (m *SDENet, x, v, times ad.Mat) {
	t.Helper()
	rng := rand.New(rand.NewPCG(21, 22))
	m, err := NewSDENet(SDENetConfig{SDE: s, Dim: 3, Hidden: []int{5, 4}, Activation: "softplus", FourierDim: 3, FourierScale: 1}, rng)
	if err != nil {
		t.Fatal(err)
	}
	perturb(m, rng, 0.3)
	x, v = ad.MatOf(adtest.RandMat(rng, 4, 3, 1)), ad.MatOf(adtest.RandMat(rng, 4, 3, 1))
	times = ad.MatOf(4, 1, []float64{1e-3, 0.2, 0.55, 1})
	return m, x, v, times
}

func TestSDENetStructure(t *testing.T) {
	s := testSDEs[0]
	m, err := NewSDENet(SDENetConfig{SDE: s, Dim: 3, Hidden: []int{5, 4}}, rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		t.Fatal(err)
	}
	sc, _ := NewScoreMLP(3, []int{5, 4}, "", rand.New(rand.NewPCG(1, 2)))
	var names []string
	for _, p := range m.Params() {
		names = append(names, p.Name)
	}
	want := []string{"0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias", "temb.0.weight", "temb.1.weight"}
	if !slices.Equal(names, want) {
		t.Fatalf("parameters %v, want %v", names, want)
	}
	for i, p := range sc.Params() {
		if !slices.Equal(p.Value.Data, m.Params()[i].Value.Data) {
			t.Errorf("%s differs from NewScoreMLP's with the same seed", p.Name)
		}
	}
	e := DefaultFourierDim
	bound := 1 / math.Sqrt(2*float64(e))
	for l, h := range []int{5, 4} {
		p := m.Params()[6+l]
		if p.Value.Rows != h || p.Value.Cols != 2*e {
			t.Errorf("%s is %d×%d, want %d×%d", p.Name, p.Value.Rows, p.Value.Cols, h, 2*e)
		}
		if slices.ContainsFunc(p.Value.Data, func(v float64) bool { return math.Abs(v) > bound || v == 0 }) {
			t.Errorf("%s has entries outside (−%g, %g) or zero", p.Name, bound, bound)
		}
	}
	w := m.Buffers()[0]
	if w.Name != "fourier.W" || w.Value.Rows != 1 || w.Value.Cols != e {
		t.Fatalf("buffer %q %d×%d, want fourier.W 1×%d", w.Name, w.Value.Rows, w.Value.Cols, e)
	}
	// The frequencies are N(0, 16²): their mean square over 16 draws is
	// within a factor 3 of 256 with overwhelming probability.
	ms := 0.0
	for _, v := range w.Value.Data {
		ms += v * v / float64(e)
	}
	if ms < 256.0/3 || ms > 3*256 {
		t.Errorf("mean square frequency %g, want about 256", ms)
	}
	if m.Dim() != 3 || !slices.Equal(m.Hidden(), []int{5, 4}) || m.Activation() != DefaultActivation ||
		m.FourierDim() != e || m.FourierScale() != DefaultFourierScale || m.SDE() != s {
		t.Errorf("Dim %d, Hidden %v, Activation %q, FourierDim %d, FourierScale %g, SDE %v",
			m.Dim(), m.Hidden(), m.Activation(), m.FourierDim(), m.FourierScale(), m.SDE())
	}
}

func TestNewSDENetErrors(t *testing.T) {
	ok := SDENetConfig{SDE: testSDEs[1], Dim: 2, Hidden: []int{4}}
	for _, tc := range []struct {
		name string
		edit func(*SDENetConfig)
		want string
	}{
		{"no SDE", func(c *SDENetConfig) { c.SDE = nil }, "no SDE"},
		{"unset σmax", func(c *SDENetConfig) { c.SDE = sde.VE{SigmaMin: 0.01} }, "SigmaMax"},
		{"no hidden layer", func(c *SDENetConfig) { c.Hidden = nil }, "at least one hidden layer"},
		{"zero width", func(c *SDENetConfig) { c.Hidden = []int{0} }, "hidden[0] is 0"},
		{"zero dim", func(c *SDENetConfig) { c.Dim = 0 }, "dim is 0"},
		{"negative FourierDim", func(c *SDENetConfig) { c.FourierDim = -1 }, "FourierDim is -1"},
		{"huge FourierDim", func(c *SDENetConfig) { c.FourierDim = MaxFourierDim + 1 }, "FourierDim is"},
		{"negative scale", func(c *SDENetConfig) { c.FourierScale = -1 }, "FourierScale is -1"},
		{"infinite scale", func(c *SDENetConfig) { c.FourierScale = math.Inf(1) }, "FourierScale is +Inf"},
		{"unknown activation", func(c *SDENetConfig) { c.Activation = "cube" }, `unknown activation "cube"`},
	} {
		c := ok
		tc.edit(&c)
		_, err := NewSDENet(c, rand.New(rand.NewPCG(1, 2)))
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "nn: NewSDENet: ") {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}

// sdeNetDirect evaluates the SDENet formula directly with package math.
func sdeNetDirect(m *SDENet, x []float64, time float64) []float64 {
	ps := m.Params()
	w := m.Buffers()[0].Value.Data
	e := len(w)
	alpha, std := m.SDE().Marginal(time)
	_ = alpha
	c := time
	if m.SDE().Kind() == "ve" {
		c = math.Log(std)
	}
	emb := make([]float64, 2*e)
	for i, f := range w {
		emb[i], emb[e+i] = math.Sin(2*math.Pi*f*c), math.Cos(2*math.Pi*f*c)
	}
	h := x
	layers := len(m.Hidden()) + 1
	for l := range layers {
		wt, bias := ps[2*l].Value, ps[2*l+1].Value
		next := make([]float64, wt.Rows)
		for i := range wt.Rows {
			s := bias.Data[i]
			for j := range wt.Cols {
				s += wt.At(i, j) * h[j]
			}
			if l < layers-1 {
				tb := ps[2*layers+l].Value
				for j := range tb.Cols {
					s += tb.At(i, j) * emb[j]
				}
				s = math.Log1p(math.Exp(s))
			}
			next[i] = s
		}
		h = next
	}
	if m.SDE().Kind() == "ve" {
		for j := range h {
			h[j] /= std
		}
	}
	return h
}

// TestSDENetForward checks h(x, t) against a direct evaluation of the
// formula, for every SDE.
func TestSDENetForward(t *testing.T) {
	for _, s := range testSDEs {
		m, x, _, times := testSDENet(t, s)
		tape := ad.NewTape()
		got := m.TimeScore(tape, tape.Input(x, false), times).Primal()
		for b := range x.Rows {
			want := sdeNetDirect(m, x.Row(b), times.Data[b])
			for j, w := range want {
				if !relClose(got.At(b, j), w, 1e-12) {
					t.Errorf("%v: h(x_%d, %g)[%d] = %.17g, want %.17g", s, b, times.Data[b], j, got.At(b, j), w)
				}
			}
		}
	}
}

// TestSDENetDerivatives checks the jet's first and second directional
// derivatives in x against finite differences, the Hessian-vector product
// (forward over reverse) of uᵀh against finite differences of its
// gradient, and the parameter gradients of a loss built from h and its
// derivatives (the form of an SSE objective) against finite differences
// in every parameter, for every SDE.
func TestSDENetDerivatives(t *testing.T) {
	for _, s := range testSDEs {
		t.Run(s.Kind(), func(t *testing.T) { checkSDENetDerivatives(t, s) })
	}
}

func checkSDENetDerivatives(t *testing.T, s sde.SDE) {
	m, x, v, times := testSDENet(t, s)
	tape := ad.NewTape()
	rng := rand.New(rand.NewPCG(23, 24))
	r0, r1, r2 := ad.MatOf(adtest.RandMat(rng, 4, 3, 1)), ad.MatOf(adtest.RandMat(rng, 4, 3, 1)), ad.MatOf(adtest.RandMat(rng, 4, 3, 1))
	record := func() (h, d1, d2 *ad.Node) {
		tape.Reset(2)
		out := m.TimeScore(tape, tape.Input(x, false, v), times)
		return tape.Deriv(out, 0, 0), tape.Deriv(out, 0, 1), tape.Deriv(out, 0, 2)
	}
	at := func(s float64) ad.Mat { // h(x + s v)
		xs := x.Clone()
		for i := range xs.Data {
			xs.Data[i] += float64(s * v.Data[i])
		}
		t2 := ad.NewTape()
		return m.TimeScore(t2, t2.Input(xs, false), times).Primal().Clone()
	}
	firstAt := func(s float64) ad.Mat { // vᵀ∇h at x + s v, from the jet
		saved := x.Clone()
		for i := range x.Data {
			x.Data[i] += float64(s * v.Data[i])
		}
		_, d1, _ := record()
		out := d1.Value().Clone()
		copy(x.Data, saved.Data)
		return out
	}
	h, d1, d2 := record()
	hv, d1v, d2v := h.Value().Clone(), d1.Value().Clone(), d2.Value().Clone()
	if !adtest.SameBits(hv.Data, at(0).Data) {
		t.Error("block 0 of the jet differs from a plain pass")
	}
	for i := range d1v.Data {
		num1 := fd.CentralDiff(func(s float64) float64 { return at(s).Data[i] }, 0, 1e-3)
		num2 := fd.CentralDiff(func(s float64) float64 { return firstAt(s).Data[i] }, 0, 1e-3)
		if !relClose(d1v.Data[i], num1, 1e-7) && math.Abs(d1v.Data[i]-num1) > 1e-8 {
			t.Errorf("vᵀ∇h[%d] = %g, finite difference %g", i, d1v.Data[i], num1)
		}
		if !relClose(d2v.Data[i], num2, 1e-7) && math.Abs(d2v.Data[i]-num2) > 1e-8 {
			t.Errorf("vᵀ∇²h v[%d] = %g, finite difference %g", i, d2v.Data[i], num2)
		}
	}

	// The Hessian-vector product of f = uᵀh against finite differences of
	// ∇f along v.
	u := ad.MatOf(3, 1, r0.Row(0))
	f := func(tp *ad.Tape, in *ad.Node) *ad.Node {
		return tp.MatMul(m.TimeScore(tp, in, times), tp.Const(u))
	}
	grad := func(s float64) ad.Mat {
		xs := x.Clone()
		for i := range xs.Data {
			xs.Data[i] += float64(s * v.Data[i])
		}
		g := ad.NewMat(x.Rows, x.Cols)
		ad.InputGrad(ad.NewTape(), f, xs, g)
		return g
	}
	hvp := ad.NewMat(x.Rows, x.Cols)
	ad.HVP(ad.NewTape(), f, x, v, ad.Mat{}, hvp)
	for i := range hvp.Data {
		num := fd.CentralDiff(func(s float64) float64 { return grad(s).Data[i] }, 0, 1e-3)
		if !relClose(hvp.Data[i], num, 1e-7) && math.Abs(hvp.Data[i]-num) > 1e-8 {
			t.Errorf("∇²(uᵀh)v[%d] = %g, finite difference %g", i, hvp.Data[i], num)
		}
	}

	// loss = Σ r0∘h + Σ r1∘(vᵀ∇h) + Σ r2∘(vᵀ∇²h v) + ½Σ (vᵀ∇h)².
	loss := func() *ad.Node {
		h, d1, d2 := record()
		l := tape.Add(tape.Sum(tape.Mul(h, tape.Const(r0))), tape.Sum(tape.Mul(d1, tape.Const(r1))))
		l = tape.Add(l, tape.Sum(tape.Mul(d2, tape.Const(r2))))
		return tape.Add(l, tape.Scale(0.5, tape.Sum(tape.Apply(ad.Square, d1))))
	}
	tape.Backward(loss())
	for _, p := range m.Params() {
		g := tape.Grad(p).Clone()
		if len(g.Data) == 0 {
			t.Fatalf("%s: no gradient", p.Name)
		}
		f := func() float64 { return loss().Primal().Data[0] }
		if e, at := fd.CheckGrad(f, p.Value.Data, g.Data, fd.DefaultStep); e > 1e-6 {
			t.Errorf("%s: gradient error %g at %d", p.Name, e, at)
		}
	}
	if g := tape.Grad(m.Buffers()[0]); len(g.Data) != 0 {
		t.Error("fourier.W has a gradient: it must not be trained")
	}
}

// TestSDENetTimeFunctions checks the derivatives in c (or t) that the
// net's time functions declare — the embedding's, and VE's log σ(t) and
// 1/σ(t) — against central differences of their values, though TimeScore
// never differentiates in time.
func TestSDENetTimeFunctions(t *testing.T) {
	m, _, _, _ := testSDENet(t, testSDEs[0])
	e := m.FourierDim()
	for name, f := range map[string]*ad.Elementwise{"embedding": m.embed, "log σ": m.cond, "1/σ": m.inv} {
		n := 1
		if f == m.embed {
			n = 2 * e
		}
		for _, c := range []float64{-2.5, 0.3, 0.9} {
			x := make([]float64, n)
			for i := range x {
				x[i] = c
			}
			d := [4][]float64{make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n)}
			f.Eval(x, d[0], d[1], d[2], d[3])
			for k := 1; k < 4; k++ {
				for i := range n {
					num := fd.CentralDiff(func(v float64) float64 {
						xs := slices.Clone(x)
						xs[i] = v
						out := make([]float64, n)
						outs := [4][]float64{}
						outs[k-1] = out
						f.Eval(xs, outs[0], outs[1], outs[2], outs[3])
						return out[i]
					}, c, 1e-4)
					if math.Abs(d[k][i]-num) > 1e-6*math.Max(1, math.Abs(num)) {
						t.Errorf("%s: derivative %d at %g, element %d: %g, finite difference %g", name, k, c, i, d[k][i], num)
					}
				}
			}
		}
	}
}

func TestSDENetPanics(t *testing.T) {
	m, x, _, _ := testSDENet(t, testSDEs[0])
	tape := ad.NewTape()
	mustPanic(t, "times is 3×1, want 4×1", func() { m.TimeScore(tape, tape.Input(x, false), ad.NewMat(3, 1)) })
	mustPanic(t, "times must be finite and ≥ 0", func() {
		m.TimeScore(tape, tape.Input(x, false), ad.MatOf(4, 1, []float64{1, 1, -0.5, 1}))
	})
	mustPanic(t, "times must be finite and ≥ 0", func() {
		m.TimeScore(tape, tape.Input(x, false), ad.MatOf(4, 1, []float64{1, math.NaN(), 0.5, 1}))
	})
	mustPanic(t, "input has 2 columns", func() { m.TimeScore(tape, tape.Input(ad.NewMat(4, 2), false), ad.NewMat(4, 1)) })
}

// TestSDENetSaveLoad saves and loads an SDENet of every SDE: the same
// architecture, parameters, frequencies and outputs, bit for bit.
func TestSDENetSaveLoad(t *testing.T) {
	dir := t.TempDir()
	for _, s := range testSDEs {
		m, x, _, times := testSDENet(t, s)
		path := filepath.Join(dir, s.Kind()+".safetensors")
		if err := Save(path, m); err != nil {
			t.Fatal(err)
		}
		got, err := Load(path, LoadOptions{Kind: KindSDE})
		if err != nil {
			t.Fatal(err)
		}
		g, ok := got.(*SDENet)
		if !ok {
			t.Fatalf("Load returned %T, want *SDENet", got)
		}
		a, _ := ArchitectureOf(m)
		b, _ := ArchitectureOf(g)
		if !sameArchitecture(a, b) || g.SDE() != s {
			t.Errorf("architecture %v (SDE %#v), want %v", b, g.SDE(), a)
		}
		if a.String() != "sde dim=3 hidden=5,4 activation=softplus sde="+s.String()+" fourier=3 fourier_scale=1" {
			t.Errorf("architecture %q", a)
		}
		for i, p := range append(m.Params(), m.Buffers()...) {
			q := append(g.Params(), g.Buffers()...)[i]
			if p.Name != q.Name || !adtest.SameBits(p.Value.Data, q.Value.Data) {
				t.Errorf("%s: loaded %s differs", p.Name, q.Name)
			}
		}
		ta, tb := ad.NewTape(), ad.NewTape()
		if !adtest.SameBits(m.TimeScore(ta, ta.Input(x, false), times).Primal().Data, g.TimeScore(tb, tb.Input(x, false), times).Primal().Data) {
			t.Error("the loaded net's outputs differ")
		}
		_, meta, err := ReadSafetensors(path)
		if err != nil {
			t.Fatal(err)
		}
		if meta["sde"] != s.String() || meta["embedding"] != "fourier" || meta["fourier_dim"] != "3" || meta["fourier_scale"] != "1" {
			t.Errorf("metadata %v", meta)
		}
		if _, err := Load(path, LoadOptions{Kind: KindNCSN}); err == nil {
			t.Error("Load with Kind ncsn: no error")
		}
	}
}

func sameArchitecture(a, b Architecture) bool {
	return a.Kind == b.Kind && a.Dim == b.Dim && slices.Equal(a.Hidden, b.Hidden) && a.Activation == b.Activation &&
		a.SDE == b.SDE && a.FourierDim == b.FourierDim && a.FourierScale == b.FourierScale
}

// TestSDENetLoadErrors checks that Load refuses files with a missing or
// bad SDE or embedding, with a *FormatError that says what is wrong.
func TestSDENetLoadErrors(t *testing.T) {
	dir := t.TempDir()
	m, _, _, _ := testSDENet(t, testSDEs[0])
	ts, base, err := modelTensors(m)
	if err != nil {
		t.Fatal(err)
	}
	meta := func(kv ...string) map[string]string {
		out := map[string]string{}
		for k, v := range base {
			out[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == "-" {
				delete(out, kv[i])
			} else {
				out[kv[i]] = kv[i+1]
			}
		}
		return out
	}
	withoutW := slices.DeleteFunc(slices.Clone(ts), func(t Tensor) bool { return t.Name == "fourier.W" })
	for _, tc := range []struct {
		name   string
		meta   map[string]string
		ts     []Tensor
		opts   LoadOptions
		tensor string
		want   string
	}{
		{"no sde", meta("sde", "-"), ts, LoadOptions{}, "", "must record its SDE"},
		{"bad sde", meta("sde", "ou:1:2"), ts, LoadOptions{}, "", `unknown kind "ou"`},
		{"unset σmax", meta("sde", "ve"), ts, LoadOptions{}, "", `metadata sde "ve" is not a usable SDE`},
		{"bad β", meta("sde", "vp:-1:20"), ts, LoadOptions{}, "", `metadata sde "vp:-1:20"`},
		{"no embedding", meta("embedding", "-"), ts, LoadOptions{}, "", "is not a time embedding"},
		{"bad fourier_dim", meta("fourier_dim", "0"), ts, LoadOptions{}, "", `fourier_dim "0"`},
		{"bad fourier_scale", meta("fourier_scale", "NaN"), ts, LoadOptions{}, "", `fourier_scale "NaN"`},
		{"fourier_dim unlike W", meta("fourier_dim", "4"), ts, LoadOptions{}, "temb.0.weight", "shape [5 6], want [5 8]"},
		{"no W", meta(), withoutW, LoadOptions{}, "fourier.W", "missing"},
		{"no metadata", map[string]string{"format": "pt"}, ts, LoadOptions{Kind: KindSDE, Activation: "softplus"}, "", "does not record an SDE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, "m.safetensors")
			if err := WriteSafetensors(path, tc.ts, tc.meta); err != nil {
				t.Fatal(err)
			}
			_, err := Load(path, tc.opts)
			checkLoadError(t, err, path, tc.tensor, tc.want)
		})
	}
}

// sdenetGolden is testdata/sdenet_golden.json, written by
// sdenet_golden.py: nets built in PyTorch (float64) with fixed weights,
// their scores at fixed (x, t), and the parameter gradients of a fixed
// loss.
type sdenetGolden struct {
	Cases []struct {
		SDE        string               `json:"sde"`
		Activation string               `json:"activation"`
		Dim        int                  `json:"dim"`
		Hidden     []int                `json:"hidden"`
		Tensors    map[string][]float64 `json:"tensors"`
		X          [][]float64          `json:"x"`
		T          []float64            `json:"t"`
		R          [][]float64          `json:"r"`
		Score      [][]float64          `json:"score"`
		Loss       float64              `json:"loss"`
		Grads      map[string][]float64 `json:"grads"`
	} `json:"cases"`
}

// TestSDENetGolden compares the net's scores and the parameter gradients
// of loss = Σ r∘h + ½Σ h² with PyTorch's (float64) to 1e-12 relative.
func TestSDENetGolden(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "sdenet_golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	var g sdenetGolden
	if err := json.Unmarshal(raw, &g); err != nil {
		t.Fatal(err)
	}
	if len(g.Cases) != 3 {
		t.Fatalf("%d cases, want 3", len(g.Cases))
	}
	for _, c := range g.Cases {
		t.Run(c.SDE, func(t *testing.T) {
			s, err := sde.Parse(c.SDE)
			if err != nil {
				t.Fatal(err)
			}
			e := len(c.Tensors["fourier.W"])
			m, err := newSDENet(SDENetConfig{SDE: s, Dim: c.Dim, Hidden: c.Hidden, Activation: c.Activation, FourierDim: e, FourierScale: 16})
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range append(m.Params(), m.Buffers()...) {
				v, ok := c.Tensors[p.Name]
				if !ok || len(v) != len(p.Value.Data) {
					t.Fatalf("%s: %d values in the golden file, want %d", p.Name, len(v), len(p.Value.Data))
				}
				copy(p.Value.Data, v)
			}
			x := ad.NewMat(len(c.X), c.Dim)
			r := ad.NewMat(len(c.X), c.Dim)
			for b := range c.X {
				copy(x.Row(b), c.X[b])
				copy(r.Row(b), c.R[b])
			}
			times := ad.MatOf(len(c.T), 1, c.T)
			tape := ad.NewTape()
			h := m.TimeScore(tape, tape.Input(x, false), times)
			loss := tape.Add(tape.Sum(tape.Mul(h, tape.Const(r))), tape.Sum(tape.HalfSquaredNorm(h)))
			tape.Backward(loss)
			worst := 0.0
			check := func(what string, got, want float64) {
				e := math.Abs(got-want) / math.Max(math.Abs(want), 1e-300)
				worst = math.Max(worst, e)
				if e > 1e-12 {
					t.Errorf("%s = %.17g, PyTorch %.17g", what, got, want)
				}
			}
			for b := range c.Score {
				for j, w := range c.Score[b] {
					check(fmt.Sprintf("h[%d][%d]", b, j), h.Primal().At(b, j), w)
				}
			}
			check("loss", loss.Primal().Data[0], c.Loss)
			for _, p := range m.Params() {
				want := c.Grads[p.Name]
				got := tape.Grad(p).Data
				if len(want) != len(got) {
					t.Fatalf("%s: %d golden gradients, want %d", p.Name, len(want), len(got))
				}
				// Relative to the tensor's largest gradient: entries near
				// zero carry only rounding.
				scale := 0.0
				for _, w := range want {
					scale = math.Max(scale, math.Abs(w))
				}
				for i, w := range want {
					e := math.Abs(got[i]-w) / math.Max(math.Abs(w), 1e-3*scale)
					worst = math.Max(worst, e)
					if e > 1e-12 {
						t.Errorf("∂loss/∂%s[%d] = %.17g, PyTorch %.17g", p.Name, i, got[i], w)
					}
				}
			}
			t.Logf("%s: largest relative difference from PyTorch %.2g", c.SDE, worst)
		})
	}
}
