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
// chunk waits (see Standby and Workspace.Help) and takes parts of the
// products that the other workers compute meanwhile:
//
//   - while a goroutine stands by, a large product that a Workspace starts
//     is cut in two, along its rows or columns, and the owner and the
//     helper compute one half each;
//   - a large product whose columns can be cut at no cost (the kernel reads
//     both operands in place: TN with the AVX-512 kernel, the weight
//     gradients of a layer) is cut in four and offered even when nobody
//     stands by, so that a worker that goes idle while it runs takes the
//     parts the owner has not started.
//
// The owner returns when every part is done. Every output element is still
// accumulated along k from its value in C in one fixed order by the blocked
// driver, whoever computes it, so the result has the same bits whether the
// product was shared or not.

// shareMin is the smallest product (m·n·k) a Workspace shares: 2 MFLOP,
// tens of microseconds, against the few microseconds a hand-over costs.
const shareMin = 1 << 20

// maxParts is the most parts a shared product is cut into.
const maxParts = 4

var (
	// standby counts the goroutines between Standby(true) and
	// Standby(false).
	standby atomic.Int32

	// offers are the products open to helpers; nil slots are free.
	offers [4]atomic.Pointer[share]
)

// Standby(true) declares that the calling goroutine is waiting for work and
// will call Workspace.Help until it calls Standby(false); products that
// Workspaces start meanwhile are cut in parts for it to take.
func Standby(on bool) {
	if on {
		standby.Add(1)
	} else {
		standby.Add(-1)
	}
}

// Standing reports how many goroutines stand by (see Standby).
func Standing() int { return int(standby.Load()) }

// Help computes, with w's packing buffers, the parts that nobody has taken
// yet of one offered product, if there is one, and reports whether it
// computed any. A goroutine that calls Help should be marked with Standby;
// w must not be nil, and is used by one goroutine at a time as always.
func (w *Workspace) Help() bool {
	for i := range offers {
		if s := offers[i].Load(); s != nil && s.help(&offers[i], &w.ws) {
			return true
		}
	}
	return false
}

// help takes and computes parts of s, found in slot, with the packing
// buffers ws, and reports whether it computed any.
func (s *share) help(slot *atomic.Pointer[share], ws *workspace) bool {
	s.users.Add(1)
	helped := false
	// The owner withdraws its offer before it reuses s for another product
	// and waits for users to leave before it rewrites the fields, so a
	// helper that still finds s offered once it is counted reads the fields
	// of the product it was offered.
	if slot.Load() == s {
		helped = s.work(ws)
	}
	s.users.Add(-1)
	return helped
}

// work takes the parts of s not yet taken, one at a time, and computes them
// with the packing buffers ws; it reports whether it computed any.
func (s *share) work(ws *workspace) bool {
	worked := false
	for {
		i := int(s.next.Add(1) - 1)
		if i >= s.parts {
			return worked
		}
		s.part(i, ws)
		s.done.Add(1)
		worked = true
	}
}

// A share is a product cut in parts: part i is the rows (when rows is set)
// or columns [bounds[i], bounds[i+1]) of C.
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
	parts          int
	bounds         [maxParts + 1]int

	next  atomic.Int32 // parts taken
	done  atomic.Int32 // parts finished
	users atomic.Int32 // helpers that may read the fields
}

// part computes part i of s with the packing buffers ws.
func (s *share) part(i int, ws *workspace) {
	m, n, a, b, c := s.m, s.n, s.a, s.b, s.c
	lo, hi := s.bounds[i], s.bounds[i+1]
	if s.rows {
		m = hi - lo
		if s.transA { // A is k×m
			a = a[lo:]
		} else {
			a = a[lo*s.lda:]
		}
		c = c[lo*s.ldc:]
	} else {
		n = hi - lo
		if s.transB { // B is n×k
			b = b[lo*s.ldb:]
		} else {
			b = b[lo:]
		}
		c = c[lo:]
	}
	gemmBlocked(ws, s.kern, s.transA, s.transB, s.set, m, n, s.k, a, s.lda, b, s.ldb, c, s.ldc)
}

// cut sets s.bounds to parts near-equal ranges of size rows or columns
// that start at multiples of w, and s.parts to their number: fewer than
// asked when the side is too short.
func (s *share) cut(parts, size, w int) {
	s.parts = 0
	s.bounds[0] = 0
	for i := 1; i <= parts; i++ {
		b := min(size, (size*i/parts+w-1)/w*w)
		if b > s.bounds[s.parts] {
			s.parts++
			s.bounds[s.parts] = b
		}
	}
}

// splitShape returns how to cut a blocked product: along the rows or the
// columns, whichever packs fewer extra elements per cut, and that number.
// Cutting the columns packs A once more (m·k elements) unless the kernel
// reads A in place; cutting the rows packs B once more (k·n) unless it
// reads B in place. (Cutting the rows also rereads B in full for each part,
// which costs the micro-kernel its reuse of B when the parts are short, so
// only a column cut counts as free.)
func splitShape(kern *kernel, transA, transB bool, m, n, k int) (rows bool, extra int) {
	extraCols := m * k
	if kern.strided && transA {
		extraCols = 0
	}
	extraRows := k * n
	if kern.strided && !transB {
		extraRows = 0
	}
	if extraRows < extraCols {
		return true, max(extraRows, 1)
	}
	return false, extraCols
}

// shared computes a blocked product in parts, some perhaps by a helper, and
// reports whether it did; it does not when the product is too small, when
// nobody stands by and cutting would cost packing, or when every offer
// slot is taken.
func (w *Workspace) shared(kern *kernel, transA, transB, set bool, m, n, k int, a []float64, lda int, b []float64, ldb int, c []float64, ldc int) bool {
	if m*n*k < shareMin {
		return false
	}
	rows, extra := splitShape(kern, transA, transB, m, n, k)
	parts := maxParts
	if standby.Load() > 0 {
		parts = 2
	} else if extra > 0 {
		return false
	}
	slot := freeSlot()
	if slot == nil {
		return false
	}
	s := &w.share
	for s.users.Load() != 0 {
		// A helper of the previous product has not left yet: it finds
		// nothing to take, so this is brief.
		runtime.Gosched()
	}
	if rows {
		s.cut(parts, m, kern.mr)
	} else {
		s.cut(parts, n, kern.nr)
	}
	if s.parts < 2 {
		return false
	}
	s.kern, s.transA, s.transB, s.set, s.m, s.n, s.k = kern, transA, transB, set, m, n, k
	s.a, s.lda, s.b, s.ldb, s.c, s.ldc = a, lda, b, ldb, c, ldc
	s.rows = rows
	s.next.Store(0)
	s.done.Store(0)
	if !slot.CompareAndSwap(nil, s) {
		return false
	}
	s.work(&w.ws)
	slot.Store(nil)
	for int(s.done.Load()) < s.parts {
		// A helper is computing the last parts.
		runtime.Gosched()
	}
	s.a, s.b, s.c = nil, nil, nil
	return true
}

// freeSlot returns an offer slot that is free now, or nil.
func freeSlot() *atomic.Pointer[share] {
	for i := range offers {
		if offers[i].Load() == nil {
			return &offers[i]
		}
	}
	return nil
}
