package implicit

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"scorematch/ad"
	"scorematch/ad/rmath"
	"scorematch/sampler"
)

// A BernoulliDecoder is p_θ(x|z) = Πⱼ Bernoulli(xⱼ; σ(lⱼ(z))) with logits
// l = Net(z), an MLP in PyTorch's layout.
type BernoulliDecoder struct {
	Net *MLP
}

// NewBernoulliDecoder returns a decoder z → hidden... → XDim logits,
// initialised from rng as NewMLP describes.
func NewBernoulliDecoder(zdim, xdim int, hidden []int, act string, rng *rand.Rand) (*BernoulliDecoder, error) {
	net, err := NewMLP(sizes(zdim, hidden, xdim), act, rng)
	if err != nil {
		return nil, err
	}
	return &BernoulliDecoder{Net: net}, nil
}

// Params returns θ.
func (d *BernoulliDecoder) Params() []*ad.Param { return d.Net.Params() }

// ZDim and XDim are the widths of z and x.
func (d *BernoulliDecoder) ZDim() int { return d.Net.In() }

// XDim returns the width of x.
func (d *BernoulliDecoder) XDim() int { return d.Net.Out() }

// LogLik records log p_θ(x_b|z_b) per row (B×1) for a B×ZDim node z
// (plain or jet) and plain B×XDim targets x in [0, 1].
func (d *BernoulliDecoder) LogLik(t *ad.Tape, z, x *ad.Node) *ad.Node {
	return t.BernoulliLogLik(d.Net.Forward(t, z), x)
}

// Joint returns, for one observation x (XDim values in [0, 1]), the
// unnormalised density over z
//
//	p̃(z) = p_θ(x|z)·N(z; 0, I),
//
// whose normalising constant is the marginal likelihood p_θ(x): AIS over z
// (sampler.AIS, whose base N(0, s²I) is the prior when s = 1) or, for
// ZDim ≤ 2, quadrature (sampler.GridLogZ) gives log p_θ(x). The score is
// ∇_z log p̃ from one reverse sweep. It is the one member of Joints of x.
// It panics if x has not XDim values.
func (d *BernoulliDecoder) Joint(x []float64) sampler.LogDensity {
	if len(x) != d.XDim() {
		panic(fmt.Sprintf("implicit: Joint: x has %d values, the decoder %d", len(x), d.XDim()))
	}
	return sampler.Member(d.Joints(ad.MatOf(1, len(x), slices.Clone(x))), 0)
}

// Joints returns the densities Joint(x_r) of the rows x_r of data (n×XDim,
// values in [0, 1], n ≥ 1) as one family, member r for row r, whose
// evaluator takes a batch of points z of several members at once
// (sampler.AIS.RunFamily estimates all the log p_θ(x_r) that way). A
// point's values do not depend on the rest of its batch: the decoder's
// matrix products and the Bernoulli log-likelihood treat rows alone. The
// family reads data when it evaluates, so data must not change while it is
// used. It panics if data has not XDim columns or no rows.
func (d *BernoulliDecoder) Joints(data ad.Mat) sampler.LogDensityFamily {
	if data.Rows < 1 || data.Cols != d.XDim() {
		panic(fmt.Sprintf("implicit: Joints: data is %d×%d, want n×%d with n ≥ 1", data.Rows, data.Cols, d.XDim()))
	}
	return joints{d: d, data: data}
}

type joints struct {
	d    *BernoulliDecoder
	data ad.Mat
}

func (j joints) Dim() int { return j.d.ZDim() }

func (j joints) Len() int { return j.data.Rows }

func (j joints) NewFamilyFunc() sampler.FamilyFunc {
	t := ad.NewTape()
	t.FreezeParams(true)
	var xs ad.Mat  // the observations of the last batch's points
	var rows []int // their members
	logNorm := -0.5 * float64(j.d.ZDim()) * rmath.Log(2*math.Pi)
	f := func(t *ad.Tape, z *ad.Node) *ad.Node {
		return t.Sub(j.d.LogLik(t, z, t.Const(xs)), t.HalfSquaredNorm(z))
	}
	return func(logp []float64, score, z ad.Mat, member []int) {
		if len(logp) != z.Rows || len(member) != z.Rows || z.Cols != j.d.ZDim() || len(score.Data) > 0 && !score.SameShape(z) {
			panic(fmt.Sprintf("implicit: Joints: logp has %d entries, member %d, score %d×%d, z %d×%d", len(logp), len(member), score.Rows, score.Cols, z.Rows, z.Cols))
		}
		if !slices.Equal(rows, member) {
			if xs.Rows != z.Rows {
				xs = ad.NewMat(z.Rows, j.data.Cols)
			}
			for b, m := range member {
				copy(xs.Row(b), j.data.Row(m))
			}
			rows = append(rows[:0], member...)
		}
		var v ad.Mat
		if len(score.Data) == 0 {
			t.Reset()
			v = f(t, t.Input(z, false)).Primal()
		} else {
			v = ad.InputGrad(t, f, z, score)
		}
		for b, val := range v.Data {
			logp[b] = val + logNorm
		}
	}
}
