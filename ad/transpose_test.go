package ad

import (
	"math/rand/v2"
	"testing"

	"scorematch/ad/adtest"
)

// transposeCases use Transpose where the result is not simply transposed
// back: a non-symmetric matrix beside its transpose.
func transposeCases() []opCase {
	return []opCase{
		{"solve-transposed", func(t *Tape, z1, z2 *Node, p *opParams) *Node {
			return t.Solve(t.Transpose(jetA(t, z1, p, anti4)), t.Apply(Softplus, z2))
		}},
		{"times-own-transpose", func(t *Tape, z1, z2 *Node, p *opParams) *Node {
			a := jetA(t, t.Mul(z1, z2), p, diag4)
			return t.Mul(a, t.Apply(Tanh, t.Transpose(a)))
		}},
		{"gram", func(t *Tape, z1, z2 *Node, p *opParams) *Node {
			// Aᵀ·W for a plain W of opB rows: an opH×opH matrix, then
			// sliced to opB rows.
			g := t.MatMul(t.Transpose(t.Apply(Tanh, z1)), t.Param(p.wc))
			return t.Transpose(t.SliceCols(t.Transpose(g), 0, opB))
		}},
	}
}

// TestTransposeOps checks Transpose's rules through the cases' input
// gradients, Taylor coefficients, HVP and parameter gradients against
// central differences (as TestSolveOps).
func TestTransposeOps(t *testing.T) {
	for i, c := range transposeCases() {
		t.Run(c.name, func(t *testing.T) { checkOpCase(t, c, rand.New(rand.NewPCG(15, uint64(i)))) })
	}
}

// TestTransposeValues checks every block of the value and the zero mask.
func TestTransposeValues(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 100))
	tp := NewTape()
	tp.Reset(2, 1)
	x := MatOf(adtest.RandMat(rng, 3, 4, 1))
	in := tp.Input(x, false, MatOf(adtest.RandMat(rng, 3, 4, 1)), MatOf(adtest.RandMat(rng, 3, 4, 1)))
	y := tp.Transpose(in)
	if y.Rows() != 4 || y.Cols() != 3 || y.Blocks() != 4 {
		t.Fatalf("Transpose of 3×4 with 4 blocks is %d×%d with %d blocks", y.Rows(), y.Cols(), y.Blocks())
	}
	for k := range 4 {
		for i := range 3 {
			for j := range 4 {
				if got, want := y.Coef(k).At(j, i), in.Coef(k).At(i, j); got != want {
					t.Errorf("block %d: yᵀ[%d,%d] = %v, want %v", k, i, j, got, want)
				}
			}
		}
	}
	if y.zero != in.zero || in.zero == 0 {
		t.Errorf("zero mask %b, input's %b (want equal and nonzero)", y.zero, in.zero)
	}
}
