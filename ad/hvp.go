package ad

import "fmt"

// A Func is a per-sample scalar function of a batch: given the B×D input
// node x it records ops on t and returns a B×1 node whose row b depends on
// row b of x only. Model energies are Funcs.
type Func func(t *Tape, x *Node) *Node

// call runs f and checks the shape of its result.
func call(f Func, t *Tape, x *Node) *Node {
	out := f(t, x)
	if out.rows != x.rows || out.val.Cols != 1 {
		panic(fmt.Sprintf("ad: Func returned %d×%d for a batch of %d, want %d×1", out.rows, out.val.Cols, x.rows, x.rows))
	}
	return out
}

// ones returns a B×1 matrix of ones kept by the tape.
func (t *Tape) onesCol(b int) Mat {
	if t.ones.Rows != b {
		t.ones.Resize(b, 1)
		for i := range t.ones.Data {
			t.ones.Data[i] = 1
		}
	}
	return t.ones
}

// HVP computes, for every sample b, the gradient g_b = ∇f(x_b) and the
// Hessian-vector product hv_b = ∇²f(x_b)·v_b of the per-sample scalar
// function f, forward over reverse: one forward pass carries dual numbers
// along v (a jet of order 1), and the reverse sweep runs in dual arithmetic,
// so each adjoint carries its tangent along v and the input's adjoint
// tangent is ∇²f·v. g and hv must be shaped like x; g may be empty. Param
// leaves are constants for the duration of the call. It returns f's values
// as a B×1 matrix shared with the tape.
//
// The cost is about twice a gradient: every linear map runs over 2B rows.
func HVP(t *Tape, f Func, x, v, g, hv Mat) Mat {
	if !v.SameShape(x) || !hv.SameShape(x) || len(g.Data) > 0 && !g.SameShape(x) {
		panic(fmt.Sprintf("ad: HVP: x is %d×%d, v %d×%d, g %d×%d, hv %d×%d", x.Rows, x.Cols, v.Rows, v.Cols, g.Rows, g.Cols, hv.Rows, hv.Cols))
	}
	frozen := t.frozen
	t.frozen = true
	defer func() { t.frozen = frozen }()
	t.Reset(1)
	in := t.Input(x, true, v)
	out := call(f, t, in)
	t.sweep(out, &Mat{Rows: x.Rows, Cols: 1, Data: t.onesCol(x.Rows).Data}, sweepDual)
	copy(hv.Data, in.ablk(1))
	if len(g.Data) > 0 {
		copy(g.Data, in.ablk(0))
	}
	return out.Primal()
}

// InputGrad sets g to the per-sample gradients ∇f(x_b) with one forward pass
// and one reverse sweep over plain values, and returns f's values (B×1,
// shared with the tape). Param leaves are constants for the duration of the
// call. It is the score of an energy model up to sign: s = −∇E.
func InputGrad(t *Tape, f Func, x, g Mat) Mat {
	if !g.SameShape(x) {
		panic(fmt.Sprintf("ad: InputGrad: x is %d×%d, g is %d×%d", x.Rows, x.Cols, g.Rows, g.Cols))
	}
	frozen := t.frozen
	t.frozen = true
	defer func() { t.frozen = frozen }()
	t.Reset()
	in := t.Input(x, true)
	out := call(f, t, in)
	t.BackwardPrimal(out, t.onesCol(x.Rows))
	copy(g.Data, in.ablk(0))
	return out.Primal()
}
