package gemm

import (
	"runtime"
	"sync/atomic"
)

// Sharing a product with an idle goroutine.
//
// The chunks of a training step run side by side, one per worker, and end
// at different times: one core runs slower than the other for a while, or
// the chunks do different amounts of work. A worker that has finished its
// chunk waits (see Standby and Help), and while one waits, a large product
// that a Workspace starts is cut in two parts along its rows or columns:
// the owner computes one part, the waiting goroutine the other, and the
// owner returns when both are done. Every output element is still
// accumulated along k from its value in C in one fixed order by the blocked
// driver, whoever computes it, so the result has the same bits whether the
// product was shared or not.

// shareMin is the smallest product (m·n·k) a Workspace shares: 2 MFLOP,
// tens of microseconds, against the few microseconds a hand-over costs.
const shareMin = 1 << 20

// shareParts is the number of parts of a shared product.
const shareParts = 2

var (
	// standby counts the goroutines between Standby(true) and
	// Standby(false): while it is zero, no product is cut.
	standby atomic.Int32

	// offered is the product open to helpers, or nil: one at a time.
	offered atomic.Pointer[share]
)

// Standby(true) declares that the calling goroutine is waiting for work and
// will call Help until it calls Standby(false); products that Workspaces
// start meanwhile are cut in parts for it to take.
func Standby(on bool) {
	if on {
		standby.Add(1)
	} else {
		standby.Add(-1)
	}
}

// Help computes the parts of the offered product that nobody has taken yet,
// if one is offered, and reports whether it computed any. A goroutine that
// calls Help should be marked with Standby.
func Help() bool {
	s := offered.Load()
	if s == nil {
		return false
	}
	s.users.Add(1)
	helped := false
	// The owner withdraws its offer before it reuses s for another product
	// and waits for users to leave before it rewrites the fields, so a
	// helper that still finds s offered once it is counted reads the fields
	// of the product it was offered.
	if offered.Load() == s {
		var ws *workspace
		for {
			i := s.next.Add(1) - 1
			if i >= shareParts {
				break
			}
			if ws == nil {
				ws = getWorkspace()
			}
			s.part(int(i), ws)
			s.done.Add(1)
			helped = true
		}
		if ws != nil {
			putWorkspace(ws)
		}
	}
	s.users.Add(-1)
	return helped
}

// A share is a product cut in shareParts parts at cut: the rows [0, cut)
// and [cut, m) when rows is set, else the columns [0, cut) and [cut, n).
type share struct {
	kern           *kernel
	transA, transB bool
	set            bool
	m, n, k        int
	a              []float64
	lda            int
	b              []float64
	ldb            int
	c              []float64
	ldc            int
	rows           bool
	cut            int

	next  atomic.Int32 // parts taken
	done  atomic.Int32 // parts finished
	users atomic.Int32 // helpers that may read the fields
}

// part computes part i of s with the packing buffers ws.
func (s *share) part(i int, ws *workspace) {
	m, n, a, b, c := s.m, s.n, s.a, s.b, s.c
	switch {
	case s.rows && i == 0:
		m = s.cut
	case s.rows:
		m -= s.cut
		if s.transA { // A is k×m
			a = a[s.cut:]
		} else {
			a = a[s.cut*s.lda:]
		}
		c = c[s.cut*s.ldc:]
	case i == 0:
		n = s.cut
	default:
		n -= s.cut
		if s.transB { // B is n×k
			b = b[s.cut*s.ldb:]
		} else {
			b = b[s.cut:]
		}
		c = c[s.cut:]
	}
	gemmBlocked(ws, s.kern, s.transA, s.transB, s.set, m, n, s.k, a, s.lda, b, s.ldb, c, s.ldc)
}

// splitShape returns where to cut a blocked product in two: along the rows
// or the columns, whichever packs fewer extra elements, at a multiple of the
// register tile so that no part gets more edge tiles than the whole had;
// cut is 0 when the product is too narrow to cut. Cutting the columns packs
// A once more (m·k elements) unless the kernel reads A in place; cutting the
// rows packs B once more (k·n) unless it reads B in place.
func splitShape(kern *kernel, transA, transB bool, m, n, k int) (rows bool, cut int) {
	extraCols := m * k
	if kern.strided && transA {
		extraCols = 0
	}
	extraRows := k * n
	if kern.strided && !transB {
		extraRows = 0
	}
	rows = extraRows < extraCols
	size, w := n, kern.nr
	if rows {
		size, w = m, kern.mr
	}
	cut = (size/2 + w - 1) / w * w
	if cut <= 0 || cut >= size {
		return rows, 0
	}
	return rows, cut
}

// shared computes the blocked product in two parts, one of them perhaps by a
// helper, and reports whether it did; it does not when no goroutine is on
// standby, the product is too small or too narrow, or another product is
// already offered.
func (w *Workspace) shared(kern *kernel, transA, transB, set bool, m, n, k int, a []float64, lda int, b []float64, ldb int, c []float64, ldc int) bool {
	if m*n*k < shareMin || standby.Load() == 0 || offered.Load() != nil {
		return false
	}
	rows, cut := splitShape(kern, transA, transB, m, n, k)
	if cut == 0 {
		return false
	}
	s := &w.share
	for s.users.Load() != 0 {
		// A helper of the previous product has not left yet: it finds
		// nothing to take, so this is brief.
		runtime.Gosched()
	}
	s.kern, s.transA, s.transB, s.set, s.m, s.n, s.k = kern, transA, transB, set, m, n, k
	s.a, s.lda, s.b, s.ldb, s.c, s.ldc = a, lda, b, ldb, c, ldc
	s.rows, s.cut = rows, cut
	s.next.Store(0)
	s.done.Store(0)
	if !offered.CompareAndSwap(nil, s) {
		return false
	}
	for {
		i := s.next.Add(1) - 1
		if i >= shareParts {
			break
		}
		s.part(int(i), &w.ws)
		s.done.Add(1)
	}
	offered.CompareAndSwap(s, nil)
	for s.done.Load() < shareParts {
		// The helper is computing the other part.
		runtime.Gosched()
	}
	s.a, s.b, s.c = nil, nil, nil
	return true
}
