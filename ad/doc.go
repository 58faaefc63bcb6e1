// Package ad is a tape-based automatic-differentiation engine over dense
// float64 tensors (batch × features), built for objectives that contain
// derivatives of a model with respect to its input: score matching and its
// sliced variants.
//
// # Values, tapes and jets
//
// A Tape records tensor ops (never one node per scalar) and runs reverse
// sweeps over them. Every value on a tape may carry truncated Taylor
// coefficients along one or more directions v: with x(t) = x + t·v, a node
// holds y(0), y'(0) and ½y″(0) stacked as row blocks below one another
// (Tape.Reset sets the directions and their orders). Element-wise functions
// map coefficients by y₁ = f'(x₀)x₁, y₂ = f'(x₀)x₂ + ½f″(x₀)x₁²; linear maps
// act on every block, so a jet of a batch of B rows goes through one GEMM of
// (1+orders)·B rows. For a per-sample scalar f one forward pass gives
// vᵀ∇f and vᵀ∇²f v for the whole batch (Tape.Deriv).
//
// Besides the arithmetic, linear and element-wise ops there are column ops
// (ConcatCols, SliceCols, GatherCols, its transpose ScatterCols, and
// PermuteCols: a plain operand beside a jet has zero Taylor coefficients),
// matrix ops (Transpose; SqDist, the pairwise squared distances of a
// kernel's rows to fixed points; and Solve, the solution of a linear
// system by LU with partial pivoting, differentiated as a solution and
// never through iterations), StopGradient (the value passes, with zero tangent and no
// adjoint: JAX's stop_gradient) and BernoulliLogLik (the per-row Bernoulli
// log-likelihood with logits, exact in both tails).
//
// # Second derivatives
//
// HVP computes Hessian-vector products with respect to the input forward
// over reverse: dual numbers along v through the forward pass, and a reverse
// sweep in dual arithmetic in which every adjoint carries its tangent.
//
// Parameter gradients of losses that contain input derivatives use route 2
// of the design notes: Taylor mode on the tape, then one reverse sweep over
// it (reverse over forward), rather than a differentiable backward pass
// (route 1, PyTorch's create_graph). Along v, vᵀs = −E' and vᵀ(∇s)v = −E″
// for s = −∇E, so the SSM loss is a function of the 2-jet, and a reverse
// sweep through the Taylor-mode pass gives its exact θ-gradient. A term in
// the input gradient g = ∇E (‖s‖² in SSM-VR, exact SM and DSM) has
// θ-gradient ∇_θ(uᵀg) with u = ∂loss/∂g held fixed, and uᵀg is the first
// derivative along u: one more order-1 direction on the same pass, after a
// plain pass that computes g (SecondOrder does this).
//
// Why route 2: it needs no second tape of backward ops, no ops for the
// derivatives of derivative rules, and no graph that grows with the order;
// each op carries one value rule and three short derivative rules next to
// each other, all tested against finite differences. The stacked layout
// turns every jet coefficient of every layer into rows of one GEMM, which
// is where the time goes. Route 1 would re-record the backward pass as ops
// and then sweep it again: about twice the GEMM work for the same loss.
//
// # Hessian diagonals: approximate backprop and curvature propagation
//
// Two baselines of the sliced score matching paper replace tr ∇²E in
// exact score matching by an estimate of the Hessian's diagonal propagated
// from E back to the input. Tape.ApproxHessianDiag (Becker & LeCun's
// approximate backprop, as Kingma & LeCun use it) and Tape.CurvatureProp
// (Martens, Sutskever & Swersky) are sweeps over a plain tape that record
// their recursions as new ops: the exact gradient g of E with respect to
// every node, and either the diagonal estimate d (off-diagonal terms
// dropped at every op, so that it depends on how E is written as ops: an
// intermediate that reaches E along two paths loses the cross terms
// between them; fused ops such as SqDist keep them) or two random vectors
// u, ũ with E[u∘ũ] = diag ∇²E
// on any graph (a fresh noise draw wherever an op has a second-order term).
// Each op carries its curvature rule next to its other rules; a sweep
// that reaches an op without one panics with its name. Because the result
// is ordinary tape nodes, one reverse sweep gives the exact parameter
// gradient of the baseline's own loss.
//
// # Cost model
//
// Per linear layer of size B×in×out, count one unit as one B×in×out GEMM.
// A gradient step costs 3 units (forward, input adjoint, weight gradient;
// the first layer's input adjoint is skipped when the input needs none).
// An SSM step carries 3 blocks (value, first and second coefficient) and
// costs 9 units: 3 forward, 3 input adjoints, 3 stacked into one weight
// gradient GEMM, so about 3× a gradient step plus element-wise work.
// SSM-VR adds a plain pass for g (2 units) and a fourth block (u), about
// 14 units, under 5×. Exact SM costs about D times SSM. HVP costs 2 forward
// and 2 reverse units, no weight gradient.
//
// Three shortcuts cut that without changing a bit. When SecondOrder has made
// the plain pass at x, the jet takes block 0 of every Linear and Apply from
// it instead of computing it again (an activation is then asked only for
// f″ and f‴). And a block known to be zero (the second coefficient of the
// input) is neither multiplied forward nor added into the weight gradient:
// the first layer of an SSM-VR step multiplies 2 of its 4 blocks. And
// the reverse sweep does not zero the adjoints before it starts: the
// products and activations write an adjoint that nothing has added to yet
// outright (0 + v, the bits of adding v to a zero), and every other op
// finds its inputs' adjoints zeroed just before its rule runs.
//
// # Kernels, memory and parallelism
//
// Matrix products run on the kernels of ad/internal/gemm and the
// activations on those of ad/internal/vmath: each a pure-Go reference and
// AVX2 and AVX-512 assembly (amd64, unless built with the purego tag),
// chosen at start-up from the CPU's features and bit-identical to each
// other; Kernel names the active ones. The environment variable
// SCOREMATCH_KERNEL=avx2-fma or purego caps the choice, to compare them.
// A Tape keeps its nodes and buffers across Reset, so recording the same
// ops again allocates nothing. A Tape is not safe for concurrent use: to
// evaluate a batch in parallel, give each chunk its own tapes (package
// ad/repro runs fixed chunks and sums their results in chunk order, so
// results are bit-identical for any GOMAXPROCS).
//
// The finite-difference checker that every package's tests use is package
// ad/fd, and their shared helpers are package ad/adtest.
//
// # Adding an op
//
// An op is a type with three rules (see the op interface): forward sets
// the value and every Taylor coefficient, looping over Tape.directions for
// the Taylor part; backward pulls adjoints back over the first nb blocks;
// dual is the forward-over-reverse rule of HVP. Its Tape method checks the
// operands, allocates the node and calls emit. A case in the
// finite-difference table tests (ops_test.go) checks all three rules at
// every order. Products added to anything are written float64(a*b) + c,
// so that no compiler fuses them and every platform gives the same bits.
//
// # Errors
//
// The engine takes no user input: every misuse (operands of mismatched
// shapes, nodes of another tape, a seed shaped unlike its root) is a
// programmer error and panics with a message naming the operation.
package ad

import (
	"scorematch/ad/internal/cpu"
	"scorematch/ad/internal/gemm"
	"scorematch/ad/internal/vmath"
)

// Kernel returns the name of the vector kernels in use, chosen at start-up
// from the CPU's features: "avx512", "avx2-fma" or "purego" (the pure-Go
// reference, much slower). When the matrix multiply and the element-wise
// functions differ it names both, as "gemm X, elementwise Y". Every kernel
// gives the same bits.
func Kernel() string {
	g, e := gemm.Kernel(), vmath.Kernel()
	if g == e {
		return g
	}
	return "gemm " + g + ", elementwise " + e
}

// VectorLanes returns the float64 lanes of the vector instructions the
// kernels may use: 8 with AVX-512, 4 with AVX2 and FMA, and 1 where only the
// pure-Go reference runs. Kernels outside this package (the optimisers' in
// nn) choose by it, so that SCOREMATCH_KERNEL caps them too.
func VectorLanes() int {
	switch {
	case cpu.X86.HasAVX512:
		return 8
	case cpu.X86.HasAVX2FMA:
		return 4
	}
	return 1
}
