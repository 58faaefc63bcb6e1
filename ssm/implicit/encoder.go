package implicit

import (
	"fmt"
	"math/rand/v2"

	"scorematch/ad"
	"scorematch/ad/repro"
	"scorematch/ad/rmath"
)

// A Sampler is a reparameterised conditional distribution q_φ(z|x): a draw
// is z = g_φ(x, ε) with ε ~ N(0, I) of ZDim coordinates. Its density may be
// intractable; its score ∇_z log q(z|x) is what an Estimator estimates.
type Sampler interface {
	// Params returns φ.
	Params() []*ad.Param
	// XDim and ZDim are the widths of x and z (and ε).
	XDim() int
	ZDim() int
	// Sample records z = g_φ(x, ε) on t for plain B×XDim and B×ZDim nodes
	// x and ε, and returns the B×ZDim node z.
	Sample(t *ad.Tape, x, eps *ad.Node) *ad.Node
}

// An Encoder is an implicit encoder: an MLP on the concatenation [x, ε],
// z = g_φ(x, ε), whose q(z|x) has no closed form.
type Encoder struct {
	// Net maps XDim+ZDim inputs to ZDim outputs.
	Net  *MLP
	xdim int
}

// NewEncoder returns an implicit encoder [x, ε] → hidden... → z with the
// named activation, initialised from rng as NewMLP describes.
func NewEncoder(xdim, zdim int, hidden []int, act string, rng *rand.Rand) (*Encoder, error) {
	if xdim < 1 || zdim < 1 {
		return nil, &ConfigError{Type: "Encoder", Field: "dims", Value: [2]int{xdim, zdim}, Want: "x and z widths ≥ 1"}
	}
	net, err := NewMLP(sizes(xdim+zdim, hidden, zdim), act, rng)
	if err != nil {
		return nil, err
	}
	return &Encoder{Net: net, xdim: xdim}, nil
}

// Params returns the network's parameters.
func (e *Encoder) Params() []*ad.Param { return e.Net.Params() }

// XDim returns the width of x.
func (e *Encoder) XDim() int { return e.xdim }

// ZDim returns the width of z and ε.
func (e *Encoder) ZDim() int { return e.Net.Out() }

// Sample records g_φ(x, ε) = Net([x, ε]).
func (e *Encoder) Sample(t *ad.Tape, x, eps *ad.Node) *ad.Node {
	return e.Net.Forward(t, t.ConcatCols(x, eps))
}

// A GaussianEncoder is the explicit encoder z = μ_φ(x) + σ_φ(x)∘ε with
// separate MLPs for μ and log σ: the baseline of the analytic ELBO, and an
// "implicit" encoder whose score −(z−μ)/σ² and entropy
// Σⱼ log σⱼ(x) + (ZDim/2)·log(2πe) are known, to check the estimators.
type GaussianEncoder struct {
	Mean, LogStd *MLP
}

// NewGaussianEncoder returns a Gaussian encoder whose μ and log σ nets are
// x → hidden... → z, initialised from rng (μ's net first); the last layer
// of log σ is scaled by logStdScale (0 keeps PyTorch's initialisation), to
// set how far σ varies with x.
func NewGaussianEncoder(xdim, zdim int, hidden []int, act string, logStdScale float64, rng *rand.Rand) (*GaussianEncoder, error) {
	if xdim < 1 || zdim < 1 {
		return nil, &ConfigError{Type: "GaussianEncoder", Field: "dims", Value: [2]int{xdim, zdim}, Want: "x and z widths ≥ 1"}
	}
	mu, err := NewMLP(sizes(xdim, hidden, zdim), act, rng)
	if err != nil {
		return nil, err
	}
	ls, err := NewMLP(sizes(xdim, hidden, zdim), act, rng)
	if err != nil {
		return nil, err
	}
	if logStdScale != 0 {
		ps := ls.Params()
		for _, p := range ps[len(ps)-2:] {
			for i := range p.Value.Data {
				p.Value.Data[i] *= logStdScale
			}
		}
	}
	return &GaussianEncoder{Mean: mu, LogStd: ls}, nil
}

// Params returns μ's parameters, then log σ's.
func (g *GaussianEncoder) Params() []*ad.Param {
	return append(append([]*ad.Param(nil), g.Mean.Params()...), g.LogStd.Params()...)
}

// XDim returns the width of x.
func (g *GaussianEncoder) XDim() int { return g.Mean.In() }

// ZDim returns the width of z.
func (g *GaussianEncoder) ZDim() int { return g.Mean.Out() }

// Sample records μ(x) + exp(log σ(x))∘ε.
func (g *GaussianEncoder) Sample(t *ad.Tape, x, eps *ad.Node) *ad.Node {
	return t.Add(g.Mean.Forward(t, x), t.Mul(t.Apply(ad.Exp, g.LogStd.Forward(t, x)), eps))
}

// LogStdSum records Σⱼ log σⱼ(x) per row (B×1): the entropy of q(·|x) less
// the constant (ZDim/2)·log(2πe).
func (g *GaussianEncoder) LogStdSum(t *ad.Tape, x *ad.Node) *ad.Node {
	return t.SumRows(g.LogStd.Forward(t, x))
}

// Score sets dst (B×ZDim) to the exact score −(z_b − μ(x_b))/σ(x_b)² at
// the rows of x (B×XDim) and z. It panics on mismatched shapes.
func (g *GaussianEncoder) Score(dst, x, z ad.Mat) {
	checkRows("GaussianEncoder.Score", dst, x, z, g.XDim(), g.ZDim())
	t := ad.NewTape()
	t.FreezeParams(true)
	t.Reset()
	in := t.Const(x)
	mu, ls := g.Mean.Forward(t, in).Primal(), g.LogStd.Forward(t, in).Primal()
	for i := range dst.Data {
		// −(z−μ)·e^(−2 log σ)
		dst.Data[i] = -(z.Data[i] - mu.Data[i]) * rmath.Exp(-2*ls.Data[i])
	}
}

// checkRows panics unless dst and z are B×zdim and x is B×xdim.
func checkRows(name string, dst, x, z ad.Mat, xdim, zdim int) {
	if dst.Rows != x.Rows || z.Rows != x.Rows || x.Cols != xdim || dst.Cols != zdim || z.Cols != zdim {
		panic(fmt.Sprintf("implicit: %s: dst %d×%d, x %d×%d, z %d×%d: want B×%d, B×%d, B×%d",
			name, dst.Rows, dst.Cols, x.Rows, x.Cols, z.Rows, z.Cols, zdim, xdim, zdim))
	}
}

// sizes returns in, hidden..., out.
func sizes(in int, hidden []int, out int) []int {
	return append(append([]int{in}, hidden...), out)
}

// Purposes of the package's random streams (named in package repro's
// list): sample b of a draw at step s reads the stream (seed, purpose, s, b).
const (
	// PurposeNoise is the encoder noise ε of the draws an estimator makes
	// for itself: the score net's training samples and the kernel
	// estimators' K samples per x.
	PurposeNoise = repro.EncoderNoise
	// PurposeProjection is the projections of the score net's SSE-VR steps.
	PurposeProjection = repro.ScoreNetProjection
)

// A Drawer draws samples of a Sampler with its own tape and buffers; it is
// not safe for concurrent use.
type Drawer struct {
	s     Sampler
	tape  *ad.Tape
	eps   ad.Mat
	strm  *repro.Stream
	seed  uint64
	purps repro.Purpose
}

// NewDrawer returns a drawer of s whose noise comes from the streams
// (seed, p, step, first+row).
func NewDrawer(s Sampler, seed uint64, p repro.Purpose) *Drawer {
	t := ad.NewTape()
	t.FreezeParams(true)
	return &Drawer{s: s, tape: t, strm: repro.NewStream(), seed: seed, purps: p}
}

// Draw sets z (n×ZDim) to z_r = g(x_r, ε_r), ε_r ~ N(0, I) from the stream
// (seed, p, step, first+r), for the rows x_r of x (n×XDim).
func (d *Drawer) Draw(z, x ad.Mat, step uint64, first int) {
	if z.Rows != x.Rows || z.Cols != d.s.ZDim() || x.Cols != d.s.XDim() {
		panic(fmt.Sprintf("implicit: Draw: z is %d×%d, x %d×%d, want n×%d and n×%d", z.Rows, z.Cols, x.Rows, x.Cols, d.s.ZDim(), d.s.XDim()))
	}
	d.eps.Resize(x.Rows, d.s.ZDim())
	for r := range x.Rows {
		rng := d.strm.Seed(d.seed, d.purps, step, uint64(first+r))
		for j := range d.eps.Row(r) {
			d.eps.Row(r)[j] = repro.Normal(rng)
		}
	}
	d.tape.Reset()
	copy(z.Data, d.s.Sample(d.tape, d.tape.Const(x), d.tape.Const(d.eps)).Primal().Data)
}

// Repeat returns a new matrix of k copies of each row of x in turn: row
// b·k + i is row b of x.
func Repeat(x ad.Mat, k int) ad.Mat {
	out := ad.NewMat(x.Rows*k, x.Cols)
	for b := range x.Rows {
		for i := range k {
			copy(out.Row(b*k+i), x.Row(b))
		}
	}
	return out
}
