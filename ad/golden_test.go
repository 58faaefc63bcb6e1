package ad

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"testing"

	"scorematch/ad/adtest"
)

// readSafetensorsTest is a minimal test-only safetensors reader (F64 only).
func readSafetensorsTest(path string) (map[string]Mat, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	n := binary.LittleEndian.Uint64(b)
	var hdr map[string]json.RawMessage
	if err := json.Unmarshal(b[8:8+n], &hdr); err != nil {
		return nil, err
	}
	data := b[8+n:]
	out := map[string]Mat{}
	for name, raw := range hdr {
		if name == "__metadata__" {
			continue
		}
		var e struct {
			Dtype   string
			Shape   []int
			Offsets [2]int `json:"data_offsets"`
		}
		if err := json.Unmarshal(raw, &e); err != nil {
			return nil, err
		}
		if e.Dtype != "F64" {
			return nil, fmt.Errorf("%s: dtype %s", name, e.Dtype)
		}
		r, c := 1, e.Shape[0]
		if len(e.Shape) == 2 {
			r, c = e.Shape[0], e.Shape[1]
		}
		m := NewMat(r, c)
		for i := range m.Data {
			m.Data[i] = math.Float64frombits(binary.LittleEndian.Uint64(data[e.Offsets[0]+8*i:]))
		}
		out[name] = m
	}
	return out, nil
}

type goldenObjective struct {
	Loss      float64
	Terms     [][2]float64
	PerSample []float64 `json:"per_sample"`
	Grad      map[string]json.RawMessage
}

type golden struct {
	Sigma      float64
	Energy     []float64
	Score      [][]float64
	HVP        [][]float64
	Objectives map[string]goldenObjective
}

// loadGolden loads the golden energy model as an mlp with softplus.
func loadGolden(t *testing.T) (*golden, *mlp, Mat, Mat, Mat) {
	t.Helper()
	var g golden
	adtest.GoldenJSON(t, &g)
	w, err := readSafetensorsTest(adtest.GoldenPath("energy.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	m := &mlp{act: Softplus}
	for _, i := range []int{0, 2, 4} {
		m.w = append(m.w, &Param{Name: fmt.Sprintf("%d.weight", i), Value: w[fmt.Sprintf("%d.weight", i)]})
		m.b = append(m.b, &Param{Name: fmt.Sprintf("%d.bias", i), Value: w[fmt.Sprintf("%d.bias", i)]})
		m.b[len(m.b)-1].Value.Rows, m.b[len(m.b)-1].Value.Cols = 1, len(m.b[len(m.b)-1].Value.Data)
	}
	x, v, eps := MatOf(adtest.GoldenNpy(t, "x.npy")), MatOf(adtest.GoldenNpy(t, "v.npy")), MatOf(adtest.GoldenNpy(t, "eps.npy"))
	return &g, m, x, v, eps
}

func flat2(rows [][]float64) []float64 {
	var out []float64
	for _, r := range rows {
		out = append(out, r...)
	}
	return out
}

// TestGoldenEnergy reproduces PyTorch's energies, scores and Hessian-vector
// products of the golden energy net to 1e-10.
func TestGoldenEnergy(t *testing.T) {
	g, m, x, v, _ := loadGolden(t)
	tp := NewTape()
	grad, hv := NewMat(x.Rows, x.Cols), NewMat(x.Rows, x.Cols)
	e := HVP(tp, m.forward, x, v, grad, hv)
	assertClose(t, "energy", e.Data, g.Energy, 1e-10)
	for i := range grad.Data { // s = −∇E, hvp = (∇s)v = −∇²E v
		grad.Data[i], hv.Data[i] = -grad.Data[i], -hv.Data[i]
	}
	assertClose(t, "score", grad.Data, flat2(g.Score), 1e-10)
	assertClose(t, "hvp", hv.Data, flat2(g.HVP), 1e-10)
}

// TestGoldenEnergyObjectives reproduces the golden SSM, SSM-VR, exact SM and
// DSM losses, per-sample terms and parameter gradients of the energy net
// through SecondOrder, to 1e-10: route 2 against PyTorch's double backward.
func TestGoldenEnergyObjectives(t *testing.T) {
	g, m, x, v, eps := loadGolden(t)
	B, D := x.Rows, x.Cols
	basis := make([]Mat, D)
	orders := make([]int, D)
	for i := range basis {
		basis[i] = NewMat(B, D)
		for b := 0; b < B; b++ {
			basis[i].Set(b, i, 1)
		}
		orders[i] = 2
	}
	sigma := g.Sigma
	xt := x.Clone() // x̃ = x + σε
	for i := range xt.Data {
		xt.Data[i] += sigma * eps.Data[i]
	}
	var loss1, loss2 *Node
	mean := func(t *Tape, n *Node) *Node { return t.Scale(1/float64(B), t.Sum(n)) }
	// Losses per sample, with s = −∇E: ½(vᵀs)² = ½D1², vᵀ(∇s)v = −D2,
	// ½‖s‖² = ½‖g‖², tr(∇s) = −Σᵢ D2ᵢ along the basis.
	halfD1sq := func(t *Tape, d *Derivs) *Node { loss1 = t.Scale(0.5, t.Apply(Square, d.D1[0])); return mean(t, loss1) }
	negD2 := func(t *Tape, d *Derivs) *Node { loss2 = t.Scale(-1, d.D2[0]); return mean(t, loss2) }
	halfNorm := func(t *Tape, gn *Node) *Node {
		loss1 = t.Scale(0.5, t.SumRows(t.Apply(Square, gn)))
		return mean(t, loss1)
	}
	negTrace := func(t *Tape, d *Derivs) *Node {
		tr := d.D2[0]
		for _, d2 := range d.D2[1:] {
			tr = t.Add(tr, d2)
		}
		loss2 = t.Scale(-1, tr)
		return mean(t, loss2)
	}
	epsNode := func(t *Tape) *Node { return t.Const(MatOf(B, D, append([]float64(nil), eps.Data...))) }
	dsm := func(t *Tape, gn *Node) *Node { // ½‖σ²s(x̃) + σε‖² = ½‖σε − σ²g‖²
		r := t.Sub(t.Scale(sigma, epsNode(t)), t.Scale(sigma*sigma, gn))
		loss1 = t.Scale(0.5, t.SumRows(t.Apply(Square, r)))
		return mean(t, loss1)
	}
	sum := func(a, b JetLoss) JetLoss {
		return func(t *Tape, d *Derivs) *Node { return t.Add(a(t, d), b(t, d)) }
	}
	cases := []struct {
		name   string
		x      Mat
		dirs   []Mat
		orders []int
		jet    JetLoss
		grad   GradLoss
	}{
		{"energy/ssm", x, []Mat{v}, []int{2}, sum(halfD1sq, negD2), nil},
		{"energy/ssm-vr", x, []Mat{v}, []int{2}, negD2, halfNorm},
		{"energy/sm", x, basis, orders, negTrace, halfNorm},
		{"energy/dsm", xt, nil, nil, nil, dsm},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			want := g.Objectives[c.name]
			so := NewSecondOrder()
			loss1, loss2 = nil, nil
			l := so.Eval(m.forward, c.x, c.dirs, c.orders, c.jet, c.grad)
			assertClose(t, "loss", []float64{l}, []float64{want.Loss}, 1e-10)
			if want.PerSample != nil {
				assertClose(t, "per-sample loss", loss1.val.Data, want.PerSample, 1e-10)
			} else {
				var w1, w2 []float64
				for _, tm := range want.Terms {
					w1, w2 = append(w1, tm[0]), append(w2, tm[1])
				}
				assertClose(t, "loss1", loss1.val.Data, w1, 1e-10)
				assertClose(t, "loss2", loss2.val.Data, w2, 1e-10)
			}
			for _, p := range m.params() {
				wg, err := adtest.Flatten(want.Grad[p.Name])
				if err != nil {
					t.Fatal(err)
				}
				assertClose(t, "grad "+p.Name, so.Grad(p).Data, wg, 1e-10)
			}
		})
	}
}
