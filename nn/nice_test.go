package nn

import (
	"encoding/json"
	"errors"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"scorematch/ad"
	"scorematch/ad/adtest"
	"scorematch/ad/fd"
	"scorematch/ad/repro"
)

// testNICE returns a NICE of dimension d with random weights and
// log-scales s ~ N(0, 0.3²), so that the log-determinant is not 0.
func testNICE(t *testing.T, d, couplings int, hidden []int, act string, seed uint64) *NICE {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 14))
	m, err := NewNICE(NICEConfig{Dim: d, Couplings: couplings, Hidden: hidden, Activation: act}, rng)
	if err != nil {
		t.Fatal(err)
	}
	for i := range m.scale.Value.Data {
		m.scale.Value.Data[i] = 0.3 * rng.NormFloat64()
	}
	return m
}

// TestNICEStructure checks the parameters' names, shapes and order (the
// reference module's state_dict for its two configurations), the
// initialisation (PyTorch's bounds, s = 0, one seed one net) and the
// accessors.
func TestNICEStructure(t *testing.T) {
	for _, c := range []struct {
		hidden []int
		dense  int
	}{{[]int{7}, 2}, {[]int{7, 7, 7, 7}, 5}} {
		m, err := NewNICE(NICEConfig{Dim: 10, Hidden: c.hidden}, rand.New(rand.NewPCG(1, 2)))
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for k := 1; k <= 4; k++ {
			for j := 1; j <= c.dense; j++ {
				want = append(want, "nice"+string(rune('0'+k))+".dense"+string(rune('0'+j))+".weight",
					"nice"+string(rune('0'+k))+".dense"+string(rune('0'+j))+".bias")
			}
		}
		want = append(want, "scale.scales")
		var names []string
		for _, p := range m.Params() {
			names = append(names, p.Name)
		}
		if !slices.Equal(names, want) {
			t.Fatalf("parameters %v, want %v", names, want)
		}
		ps := m.Params()
		if w := ps[0].Value; w.Rows != 7 || w.Cols != 5 {
			t.Errorf("nice1.dense1.weight is %d×%d, want 7×5", w.Rows, w.Cols)
		}
		if w := ps[2*c.dense-2].Value; w.Rows != 5 || w.Cols != 7 {
			t.Errorf("the last layer's weight is %d×%d, want 5×7", w.Rows, w.Cols)
		}
		if s := ps[len(ps)-1].Value; s.Rows != 1 || s.Cols != 10 || slices.ContainsFunc(s.Data, func(v float64) bool { return v != 0 }) {
			t.Errorf("scale.scales is %d×%d %v, want 1×10 zeros", s.Rows, s.Cols, s.Data)
		}
		for _, p := range ps[:len(ps)-1] {
			fanIn := 5.0
			if p.Name[len(p.Name)-len("dense1.weight"):] != "dense1.weight" && p.Name[len(p.Name)-len("dense1.bias"):] != "dense1.bias" {
				fanIn = 7
			}
			for _, v := range p.Value.Data {
				if v == 0 || math.Abs(v) > 1/math.Sqrt(fanIn) {
					t.Fatalf("%s holds %g, outside ±1/√%g or zero", p.Name, v, fanIn)
				}
			}
		}
		if m.Dim() != 10 || m.Couplings() != 4 || !slices.Equal(m.Hidden(), c.hidden) || m.Activation() != "softplus" || m.LogDet() != 0 {
			t.Errorf("accessors: dim %d couplings %d hidden %v activation %s logdet %g", m.Dim(), m.Couplings(), m.Hidden(), m.Activation(), m.LogDet())
		}
		again, _ := NewNICE(NICEConfig{Dim: 10, Hidden: c.hidden}, rand.New(rand.NewPCG(1, 2)))
		for i, p := range again.Params() {
			if !adtest.SameBits(p.Value.Data, ps[i].Value.Data) {
				t.Errorf("%s differs between two nets of one seed", p.Name)
			}
		}
	}
}

// TestNICEConfigErrors checks that every invalid setting is a *ConfigError
// naming its field.
func TestNICEConfigErrors(t *testing.T) {
	ok := NICEConfig{Dim: 4, Hidden: []int{3}}
	for _, c := range []struct {
		field string
		edit  func(*NICEConfig)
	}{
		{"Dim", func(c *NICEConfig) { c.Dim = 0 }},
		{"Dim", func(c *NICEConfig) { c.Dim = 5 }},
		{"Dim", func(c *NICEConfig) { c.Dim = -2 }},
		{"Couplings", func(c *NICEConfig) { c.Couplings = -1 }},
		{"Couplings", func(c *NICEConfig) { c.Couplings = MaxNICECouplings + 1 }},
		{"Hidden", func(c *NICEConfig) { c.Hidden = nil }},
		{"Hidden", func(c *NICEConfig) { c.Hidden = []int{3, 0} }},
		{"Hidden", func(c *NICEConfig) { c.Hidden = make([]int, MaxHiddenLayers+1) }},
		{"Activation", func(c *NICEConfig) { c.Activation = "gelu" }},
	} {
		cfg := ok
		c.edit(&cfg)
		_, err := NewNICE(cfg, rand.New(rand.NewPCG(1, 1)))
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Type != "NICEConfig" || ce.Field != c.field {
			t.Errorf("%+v: error %v, want a *ConfigError for NICEConfig.%s", cfg, err, c.field)
		}
	}
	for _, cfg := range []NICEConfig{ok, {Dim: 2, Couplings: MaxNICECouplings, Hidden: []int{1}, Activation: "relu"}} {
		if err := cfg.Validate(); err != nil {
			t.Errorf("%+v: %v", cfg, err)
		}
	}
}

// TestNICEInverse checks that Inverse undoes Forward and Forward undoes
// Inverse to 1e-12, on data and on points far in the tails, and that
// Sample is Inverse of the prior's draws.
func TestNICEInverse(t *testing.T) {
	for _, c := range []struct {
		d, couplings int
		act          string
	}{{2, 1, "softplus"}, {6, 4, "softplus"}, {10, 5, "tanh"}, {8, 3, "relu"}} {
		m := testNICE(t, c.d, c.couplings, []int{16, 16}, c.act, uint64(c.d))
		rng := rand.New(rand.NewPCG(3, uint64(c.d)))
		x := ad.MatOf(adtest.RandMat(rng, 50, c.d, 3))
		if e := maxAbsDiff(m.Inverse(m.Forward(x)).Data, x.Data); e > 1e-12 {
			t.Errorf("D=%d: |Inverse(Forward(x)) − x| up to %.3g", c.d, e)
		}
		if e := maxAbsDiff(m.Forward(m.Inverse(x)).Data, x.Data); e > 1e-12 {
			t.Errorf("D=%d: |Forward(Inverse(z)) − z| up to %.3g", c.d, e)
		}
		xs := m.Sample(repro.New(9, repro.Check, 0, 0), 20)
		z := ad.NewMat(20, c.d)
		r := repro.New(9, repro.Check, 0, 0)
		for i := range z.Data {
			z.Data[i] = repro.Normal(r)
		}
		if e := maxAbsDiff(m.Forward(xs).Data, z.Data); e > 1e-12 {
			t.Errorf("D=%d: Forward(Sample) differs from the prior's draws by %.3g", c.d, e)
		}
	}
}

func maxAbsDiff(a, b []float64) float64 {
	e := 0.0
	for i := range a {
		e = math.Max(e, math.Abs(a[i]-b[i]))
	}
	return e
}

// jacobian returns the D×D Jacobian ∂f(x)/∂x of the flow at the single row
// x, column by column with the tape: the first Taylor coefficient of the
// coupled halves along the unit vector e_i, times exp(s).
func (m *NICE) jacobian(x []float64) ad.Mat {
	d := m.Dim()
	J := ad.NewMat(d, d)
	t := ad.NewTape()
	for i := range d {
		e := ad.NewMat(1, d)
		e.Data[i] = 1
		t.Reset(1)
		a, b := m.couple(t, t.Input(ad.MatOf(1, d, x), false, e))
		y := t.ConcatCols(a, b).Coef(1).Data
		for j := range d {
			J.Set(j, i, y[j]*math.Exp(m.scale.Value.Data[j]))
		}
	}
	return J
}

// logAbsDet returns log|det A| by Gaussian elimination with partial
// pivoting.
func logAbsDet(a ad.Mat) float64 {
	a = a.Clone()
	n := a.Rows
	s := 0.0
	for k := range n {
		p := k
		for i := k + 1; i < n; i++ {
			if math.Abs(a.At(i, k)) > math.Abs(a.At(p, k)) {
				p = i
			}
		}
		for j := range n {
			v := a.At(k, j)
			a.Set(k, j, a.At(p, j))
			a.Set(p, j, v)
		}
		s += math.Log(math.Abs(a.At(k, k)))
		for i := k + 1; i < n; i++ {
			f := a.At(i, k) / a.At(k, k)
			for j := k; j < n; j++ {
				a.Set(i, j, a.At(i, j)-f*a.At(k, j))
			}
		}
	}
	return s
}

// TestNICELogDensity checks the exact log-density against a brute-force
// change of variables: log p(x) = log N(f(x); 0, I) + log|det ∂f/∂x|, with
// the Jacobian built column by column with the tape and its determinant
// by elimination, to 1e-10; that log|det| is Σ s (the couplings have unit
// determinant); and the tape's Jacobian against central differences of
// Forward.
func TestNICELogDensity(t *testing.T) {
	for _, d := range []int{2, 4, 6} {
		m := testNICE(t, d, 4, []int{8, 8}, "softplus", uint64(100+d))
		rng := rand.New(rand.NewPCG(4, uint64(d)))
		x := ad.MatOf(adtest.RandMat(rng, 6, d, 1.5))
		z := m.Forward(x)
		logp := m.LogDensity(x)
		for b := range x.Rows {
			J := m.jacobian(x.Row(b))
			ld := logAbsDet(J)
			if math.Abs(ld-m.LogDet()) > 1e-10 {
				t.Errorf("D=%d row %d: log|det J| = %.15g by elimination, LogDet = %.15g", d, b, ld, m.LogDet())
			}
			want := ld - 0.5*float64(d)*math.Log(2*math.Pi)
			for _, v := range z.Row(b) {
				want -= 0.5 * v * v
			}
			if math.Abs(logp[b]-want) > 1e-10*math.Max(1, math.Abs(want)) {
				t.Errorf("D=%d row %d: log p = %.15g, change of variables gives %.15g", d, b, logp[b], want)
			}
			// The tape's Jacobian against central differences of Forward.
			xb := ad.MatOf(1, d, slices.Clone(x.Row(b)))
			for i := range d {
				xi := xb.Data[i]
				for j := range d {
					num := fd.CentralDiff(func(s float64) float64 {
						xb.Data[i] = s
						defer func() { xb.Data[i] = xi }()
						return m.Forward(xb).Data[j]
					}, xi, 1e-4)
					if math.Abs(num-J.At(j, i)) > 1e-7*math.Max(1, math.Abs(num)) {
						t.Errorf("D=%d row %d: ∂f_%d/∂x_%d = %.12g, central difference %.12g", d, b, j, i, J.At(j, i), num)
					}
				}
			}
		}
	}
}

// TestNICENormalised checks that p = exp(−E) integrates to 1 at D = 2: a
// Riemann sum with step 0.0375 over the box [−15, 15]², which for a
// smooth, fast-decaying density is accurate far below the tolerance
// (measured: 1 − 2.8e-13). The mass outside the box is the prior's mass
// outside f(box), at most exp(−r²/2) for r the smallest |f(x)| on the
// box's edge: r ≥ 7 bounds it by 3e-11.
func TestNICENormalised(t *testing.T) {
	m := testNICE(t, 2, 4, []int{8}, "softplus", 2)
	const lim, h = 15.0, 0.0375
	n := int(2*lim/h) + 1
	x := ad.NewMat(n, 2)
	total := 0.0
	for i := range n {
		for j := range n {
			x.Set(j, 0, -lim+float64(i)*h)
			x.Set(j, 1, -lim+float64(j)*h)
		}
		for _, lp := range m.LogDensity(x) {
			total += math.Exp(lp) * h * h
		}
	}
	t.Logf("∫ p = 1 %+.3g", total-1)
	if math.Abs(total-1) > 1e-10 {
		t.Errorf("∫ p = %.9f over the grid, want 1", total)
	}
	// The edge of the box is far in the prior's tail.
	edge := ad.NewMat(4*n, 2)
	for i := range n {
		v := -lim + float64(i)*h
		edge.Set(4*i, 0, v)
		edge.Set(4*i, 1, -lim)
		edge.Set(4*i+1, 0, v)
		edge.Set(4*i+1, 1, lim)
		edge.Set(4*i+2, 0, -lim)
		edge.Set(4*i+2, 1, v)
		edge.Set(4*i+3, 0, lim)
		edge.Set(4*i+3, 1, v)
	}
	z := m.Forward(edge)
	for r := range z.Rows {
		if n := math.Hypot(z.At(r, 0), z.At(r, 1)); n < 7 {
			t.Fatalf("|f(x)| = %.3g at the box's edge %v, want ≥ 7", n, edge.Row(r))
		}
	}
}

// TestNICEDerivatives checks the score, the HVP and the Taylor
// coefficients of the energy against central differences of the energy.
func TestNICEDerivatives(t *testing.T) {
	m := testNICE(t, 6, 4, []int{8, 8}, "softplus", 5)
	rng := rand.New(rand.NewPCG(5, 5))
	x, v := ad.MatOf(adtest.RandMat(rng, 4, 6, 1)), ad.MatOf(adtest.RandMat(rng, 4, 6, 1))
	g, hv := ad.NewMat(4, 6), ad.NewMat(4, 6)
	ad.HVP(ad.NewTape(), m.Energy, x, v, g, hv)
	grad := func(x ad.Mat) ad.Mat {
		g := ad.NewMat(x.Rows, x.Cols)
		ad.InputGrad(ad.NewTape(), m.Energy, x, g)
		return g
	}
	if e := maxAbsDiff(grad(x).Data, g.Data); e > 1e-12 {
		t.Errorf("HVP's gradient differs from InputGrad's by %.3g", e)
	}
	step := 1e-4
	along := func(f func(ad.Mat) []float64) []float64 { // d/dt f(x + t v) at 0
		xp, xm := x.Clone(), x.Clone()
		for i := range x.Data {
			xp.Data[i] += step * v.Data[i]
			xm.Data[i] -= step * v.Data[i]
		}
		fp, fm := f(xp), f(xm)
		out := make([]float64, len(fp))
		for i := range fp {
			out[i] = (fp[i] - fm[i]) / (2 * step)
		}
		return out
	}
	energy := func(x ad.Mat) []float64 { return energies(m, x) }
	// vᵀ∇E against d/dt E(x + t v), per row.
	d1 := along(energy)
	for b := range 4 {
		got := 0.0
		for j := range 6 {
			got += g.At(b, j) * v.At(b, j)
		}
		if math.Abs(got-d1[b]) > 1e-7*math.Max(1, math.Abs(d1[b])) {
			t.Errorf("row %d: vᵀ∇E = %.12g, central difference %.12g", b, got, d1[b])
		}
	}
	// ∇²E v against d/dt ∇E(x + t v).
	num := along(func(x ad.Mat) []float64 { return grad(x).Data })
	if err, at := fd.RelErr(hv.Data, num, 1); err > 1e-6 {
		t.Errorf("HVP: relative error %.3g at %d (%.12g vs %.12g)", err, at, hv.Data[at], num[at])
	}
	// The tape's 2-jet: E″ along v against the difference of vᵀ∇E.
	tp := ad.NewTape()
	tp.Reset(2)
	d2 := tp.Deriv(m.Energy(tp, tp.Input(x, false, v)), 0, 2).Value().Data
	for b := range 4 {
		vhv := 0.0
		for j := range 6 {
			vhv += hv.At(b, j) * v.At(b, j)
		}
		if math.Abs(d2[b]-vhv) > 1e-10*math.Max(1, math.Abs(vhv)) {
			t.Errorf("row %d: E″ along v = %.15g by the jet, vᵀ(∇²E v) = %.15g", b, d2[b], vhv)
		}
	}
}

// niceGolden is nn/testdata/nice_golden.json (see nice_golden.py).
type niceGolden struct {
	Dim, Couplings int
	Hidden         []int
	Activation     string
	Sigma          float64
	Tensors        map[string][]float64
	X, V, Eps      [][]float64
	Energy         []float64
	Score, HVP     [][]float64
	Latent         [][]float64
	ApproxDiag     [][]float64 `json:"approx_diag"`
	Objectives     map[string]struct {
		Loss  float64
		Terms [][]float64
		Grad  map[string][]float64
	}
}

func readNICEGolden(t *testing.T) *niceGolden {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "nice_golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	var g niceGolden
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	return &g
}

func rowsMat(rows [][]float64) ad.Mat {
	m := ad.NewMat(len(rows), len(rows[0]))
	for i, r := range rows {
		copy(m.Row(i), r)
	}
	return m
}

func flatRows(rows [][]float64) []float64 { return rowsMat(rows).Data }

// TestNICEGolden reproduces PyTorch's energy, score, HVP along v, latent
// point and approximate-backprop Hessian diagonal (by the reference's
// hand-written layer rules) of a small NICE (D = 6, four couplings, two
// hidden layers of 8) to 1e-10, with the weights under their state_dict
// names. The
// objectives' values are checked by ssm's TestNICEObjectivesGolden.
func TestNICEGolden(t *testing.T) {
	g := readNICEGolden(t)
	m, err := newNICE(NICEConfig{Dim: g.Dim, Couplings: g.Couplings, Hidden: g.Hidden, Activation: g.Activation})
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Tensors) != len(m.Params()) {
		t.Fatalf("golden has %d tensors, the model %d parameters", len(g.Tensors), len(m.Params()))
	}
	for _, p := range m.Params() {
		v, ok := g.Tensors[p.Name]
		if !ok || len(v) != len(p.Value.Data) {
			t.Fatalf("golden tensor %s: %d values, want %d", p.Name, len(v), len(p.Value.Data))
		}
		copy(p.Value.Data, v)
	}
	x, v := rowsMat(g.X), rowsMat(g.V)
	check := func(what string, got, want []float64) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
		}
		if e, at := fd.RelErr(got, want, 1e-3); e > 1e-10 {
			t.Errorf("%s: relative error %.3g at %d (%.15g vs %.15g)", what, e, at, got[at], want[at])
		}
	}
	check("energy", energies(m, x), g.Energy)
	gr, hv := ad.NewMat(x.Rows, x.Cols), ad.NewMat(x.Rows, x.Cols)
	ad.HVP(ad.NewTape(), m.Energy, x, v, gr, hv)
	score := make([]float64, len(gr.Data))
	for i, d := range gr.Data {
		score[i] = -d
	}
	check("score", score, flatRows(g.Score))
	check("HVP", hv.Data, flatRows(g.HVP))
	check("latent", m.Forward(x).Data, flatRows(g.Latent))
	// Approximate backprop over the tape (ad.Tape.ApproxHessianDiag) gives
	// what the reference's hand-written NICE rules give.
	tp := ad.NewTape()
	in := tp.Input(x, false)
	_, d := tp.ApproxHessianDiag(m.Energy(tp, in), in)
	check("approximate backprop's diagonal", d.Value().Data, flatRows(g.ApproxDiag))
	if e := maxAbsDiff(m.Inverse(rowsMat(g.Latent)).Data, x.Data); e > 1e-12 {
		t.Errorf("Inverse of PyTorch's latent points is off x by %.3g", e)
	}
}

// TestNICESaveLoad checks that a NICE survives Save and Load bit for bit
// with its architecture, and that the reference module's state_dict (a
// file without our metadata, scale.scales [1 D]) loads as KindNICE.
func TestNICESaveLoad(t *testing.T) {
	dir := t.TempDir()
	m := testNICE(t, 6, 3, []int{5, 4}, "tanh", 7)
	x := ad.MatOf(adtest.RandMat(rand.New(rand.NewPCG(7, 7)), 4, 6, 1))
	path := filepath.Join(dir, "nice.safetensors")
	if err := Save(path, m); err != nil {
		t.Fatal(err)
	}
	a, ok := ArchitectureOf(m)
	if !ok || a.String() != "nice dim=6 hidden=5,4 activation=tanh couplings=3" {
		t.Errorf("architecture %q (%v)", a, ok)
	}
	same := func(what string, got Model) {
		t.Helper()
		n, ok := got.(*NICE)
		if !ok {
			t.Fatalf("%s: Load returned %T, want *NICE", what, got)
		}
		b, _ := ArchitectureOf(n)
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%s: architecture %v, want %v", what, b, a)
		}
		for i, p := range n.Params() {
			q := m.Params()[i]
			if p.Name != q.Name || !adtest.SameBits(p.Value.Data, q.Value.Data) {
				t.Errorf("%s: %s differs from %s", what, p.Name, q.Name)
			}
		}
		if !adtest.SameBits(energies(n, x), energies(m, x)) {
			t.Errorf("%s: the loaded flow's energies differ", what)
		}
	}
	for _, opts := range []LoadOptions{{}, {Kind: KindNICE}, {Kind: KindNICE, Activation: "tanh"}} {
		got, err := Load(path, opts)
		if err != nil {
			t.Fatal(err)
		}
		same("saved", got)
	}
	ts, meta, err := ReadSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	if meta["kind"] != "nice" || meta["couplings"] != "3" || meta["hidden"] != "5,4" {
		t.Errorf("metadata %v", meta)
	}
	for _, tn := range ts {
		if tn.Name == "scale.scales" && !slices.Equal(tn.Shape, []int{1, 6}) {
			t.Errorf("scale.scales has shape %v, want [1 6] as in PyTorch", tn.Shape)
		}
	}
	if _, err := Load(path, LoadOptions{Kind: KindEnergy}); err == nil {
		t.Error("Load with Kind energy: no error")
	}
	// Bad metadata: a *FormatError saying what is wrong.
	for key, c := range map[string]struct{ value, want string }{
		"dim":       {"5", "dim is 5, want an even number"},
		"couplings": {"0", `metadata couplings "0" is not an integer from 1 to 64`},
		"hidden":    {"", "hidden is [], want 1 to 64 hidden layers"},
	} {
		bad := maps.Clone(meta)
		bad[key] = c.value
		p := filepath.Join(dir, "meta.safetensors")
		if err := WriteSafetensors(p, ts, bad); err != nil {
			t.Fatal(err)
		}
		_, err := Load(p, LoadOptions{})
		var fe *FormatError
		if !errors.As(err, &fe) || !strings.Contains(err.Error(), c.want) || strings.Count(err.Error(), "nn: ") != 1 {
			t.Errorf("metadata %s = %q: %v, want a *FormatError containing %q", key, c.value, err, c.want)
		}
	}

	// The reference's state_dict, without our metadata.
	pt := filepath.Join(dir, "pt.safetensors")
	if err := WriteSafetensors(pt, ts, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	got, err := Load(pt, LoadOptions{Kind: KindNICE, Activation: "tanh"})
	if err != nil {
		t.Fatal(err)
	}
	same("state_dict", got)
	var mo *MissingOptionError
	if _, err := Load(pt, LoadOptions{Kind: KindNICE}); !errors.As(err, &mo) || mo.Option != "Activation" {
		t.Errorf("state_dict without an activation: %v, want a *MissingOptionError", err)
	}
	// Damaged state_dicts: a tensor missing, one too many, a bad shape.
	for name, edit := range map[string]func([]Tensor) []Tensor{
		"scale.scales": func(ts []Tensor) []Tensor {
			return slices.DeleteFunc(ts, func(t Tensor) bool { return t.Name == "scale.scales" })
		},
		"nice2.dense3.bias": func(ts []Tensor) []Tensor {
			return slices.DeleteFunc(ts, func(t Tensor) bool { return t.Name == "nice2.dense3.bias" })
		},
		"nice5.dense1.weight": func(ts []Tensor) []Tensor {
			return append(ts, Tensor{Name: "nice5.dense1.weight", Shape: []int{5, 3}, Data: make([]float64, 15)})
		},
		"nice3.dense2.weight": func(ts []Tensor) []Tensor {
			for i := range ts {
				if ts[i].Name == "nice3.dense2.weight" {
					ts[i].Shape = []int{4, 5, 1}
				}
			}
			return ts
		},
	} {
		bad := edit(slices.Clone(ts))
		p := filepath.Join(dir, "bad.safetensors")
		if err := WriteSafetensors(p, bad, map[string]string{"format": "pt"}); err != nil {
			t.Fatal(err)
		}
		_, err := Load(p, LoadOptions{Kind: KindNICE, Activation: "tanh"})
		var fe *FormatError
		if !errors.As(err, &fe) || fe.Tensor != name && name != "nice5.dense1.weight" {
			t.Errorf("state_dict with %s damaged: %v, want a *FormatError naming it", name, err)
		}
	}
}

// TestNICEPanics checks the shape checks.
func TestNICEPanics(t *testing.T) {
	m := testNICE(t, 4, 2, []int{3}, "", 1)
	tp := ad.NewTape()
	mustPanic(t, "NICE: input has 3 columns", func() { m.Energy(tp, tp.Input(ad.NewMat(2, 3), false)) })
	mustPanic(t, "NICE: Inverse of 5 columns", func() { m.Inverse(ad.NewMat(2, 5)) })
	mustPanic(t, "NICE: Sample", func() { m.Sample(nil, 3) })
}

// TestNICEAllocs checks that re-recording the energy's 2-jet on a tape
// allocates nothing.
func TestNICEAllocs(t *testing.T) {
	m := testNICE(t, 6, 4, []int{8, 8}, "softplus", 3)
	rng := rand.New(rand.NewPCG(8, 8))
	x, v := ad.MatOf(adtest.RandMat(rng, 5, 6, 1)), ad.MatOf(adtest.RandMat(rng, 5, 6, 1))
	tp := ad.NewTape()
	run := func() {
		tp.Reset(2)
		e := m.Energy(tp, tp.Input(x, false, v))
		tp.Backward(tp.Sum(tp.Deriv(e, 0, 2)))
	}
	run()
	if n := testing.AllocsPerRun(10, run); n != 0 {
		t.Errorf("%v allocations per re-recorded step, want 0", n)
	}
}

// TestLogitPixels checks the logit transform's values, its clamp and its
// log-determinant against central differences of the map, and that it
// turns a density of logits into one of intensities: the logistic
// distribution's density of logits is the uniform density on (0, 1).
func TestLogitPixels(t *testing.T) {
	x := ad.MatOf(2, 4, []float64{0.5, 0.2, 0.9, 0.0004, 0.03, 0.999, 1.2, 0.7})
	dst := ad.NewMat(2, 4)
	ld := LogitPixels(dst, x, DefaultLogitClamp)
	for r := range 2 {
		want := 0.0
		for j, p := range x.Row(r) {
			q := min(max(p, 1e-3), 1-1e-3)
			if v := math.Log(q / (1 - q)); math.Abs(dst.At(r, j)-v) > 1e-14 {
				t.Errorf("logit(%g) = %.17g, want %.17g", p, dst.At(r, j), v)
			}
			if p == q { // unclamped: the log of the derivative
				num := fd.CentralDiff(func(p float64) float64 { return math.Log(p / (1 - p)) }, p, 1e-6*p)
				want += math.Log(num)
			} else {
				want -= math.Log(q * (1 - q))
			}
		}
		if math.Abs(ld[r]-want) > 1e-8 {
			t.Errorf("row %d: log-determinant %.15g, want %.15g", r, ld[r], want)
		}
	}
	// A logistic density of logits, log σ(l) + log σ(−l) per element, plus
	// the log-determinant is the uniform density: 0.
	y := ad.MatOf(1, 3, []float64{0.1, 0.5, 0.8})
	ld = LogitPixels(y, y, DefaultLogitClamp) // in place
	sum := ld[0]
	for _, l := range y.Data {
		sum += -math.Log1p(math.Exp(-l)) - math.Log1p(math.Exp(l))
	}
	if math.Abs(sum) > 1e-14 {
		t.Errorf("logistic density of the logits + log-det = %g, want 0", sum)
	}
	mustPanic(t, "LogitPixels", func() { LogitPixels(ad.NewMat(1, 2), ad.NewMat(1, 3), 1e-3) })
	mustPanic(t, "LogitPixels", func() { LogitPixels(x, x, 0.5) })
}
