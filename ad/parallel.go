package ad

import (
	"fmt"

	"scorematch/ad/internal/vmath"
)

// A Job is the work on one chunk of a batch: rows [lo, hi) as chunk c.
// Implementations keep per-chunk state (a tape, gradient buffers) indexed by
// c, so chunks never share mutable state.
type Job interface {
	Run(c, lo, hi int)
}

// A Pool splits a batch into a fixed number of contiguous chunks and runs
// them on long-lived worker goroutines. The split depends only on the batch
// size and the chunk count, never on GOMAXPROCS or scheduling, so a caller
// that reduces per-chunk results in chunk order (see Chunks) gets the same
// bits on any machine. Do allocates nothing.
type Pool struct {
	chunks int
	job    Job
	tasks  chan [3]int
	done   chan struct{}
}

// NewPool starts a pool of the given number of chunks and one worker per
// chunk. Close stops the workers.
func NewPool(chunks int) *Pool {
	if chunks < 1 {
		panic(fmt.Sprintf("ad: NewPool(%d): need at least one chunk", chunks))
	}
	p := &Pool{chunks: chunks, tasks: make(chan [3]int, chunks), done: make(chan struct{}, chunks)}
	for range chunks {
		go p.work()
	}
	return p
}

func (p *Pool) work() {
	for t := range p.tasks {
		p.job.Run(t[0], t[1], t[2])
		p.done <- struct{}{}
	}
}

// Chunks returns the pool's chunk count.
func (p *Pool) Chunks() int { return p.chunks }

// Do runs job on every chunk of a batch of n rows and returns when all have
// finished. Chunk c covers the rows Chunk(n, p.Chunks(), c); chunks that would
// be empty are not run. Do must not be called concurrently.
func (p *Pool) Do(n int, job Job) {
	p.job = job
	sent := 0
	for c := range p.chunks {
		lo, hi := Chunk(n, p.chunks, c)
		if lo == hi {
			continue
		}
		p.tasks <- [3]int{c, lo, hi}
		sent++
	}
	for range sent {
		<-p.done
	}
	p.job = nil
}

// Close stops the workers. The pool must not be used afterwards.
func (p *Pool) Close() { close(p.tasks) }

// Chunk returns the rows [lo, hi) of chunk c when n rows are split into
// chunks contiguous parts whose sizes differ by at most one (the first
// n mod chunks parts are the larger ones).
func Chunk(n, chunks, c int) (lo, hi int) {
	q, r := n/chunks, n%chunks
	lo = c*q + min(c, r)
	hi = lo + q
	if c < r {
		hi++
	}
	return lo, hi
}

// SumChunks sets dst[i] to the sum over chunks c = 0, 1, ... of parts[c][i],
// added in chunk order. Empty parts (unused parameters, empty chunks) count
// as zero. Every dst[i] must already have its shape.
func SumChunks(dst []Mat, parts [][]Mat) {
	for i := range dst {
		SumChunkRange(dst[i].Data, parts, i, 0)
	}
}

// SumChunkRange is SumChunks for elements [lo, lo+len(dst)) of the i-th
// matrices: dst[j] is the sum over chunks, in chunk order, of
// parts[c][i].Data[lo+j]. Workers may sum disjoint ranges at once.
func SumChunkRange(dst []float64, parts [][]Mat, i, lo int) {
	SumChunkRangeScaled(dst, parts, i, lo, 1, 0) // s·1 = s exactly
}

// maxVectorParts is the number of parts that SumChunkRangeScaled passes to
// the vector kernel in one call.
const maxVectorParts = 32

// SumChunkRangeScaled is SumChunkRange followed by a scaling: each sum s
// becomes s·mul, or s/div when mul is 0, as one rounded operation (a mean
// over n rows takes mul = 1/n when n is a power of two, exact, and div = n
// otherwise). It reports whether every dst[j] is finite (neither NaN nor
// ±Inf). The sums start from +0 and add the non-empty parts in chunk
// order, so the bits are those of clearing dst, adding each part and then
// scaling. It does not allocate.
func SumChunkRangeScaled(dst []float64, parts [][]Mat, i, lo int, mul, div float64) (finite bool) {
	var data [maxVectorParts][]float64
	k := 0
	for _, p := range parts {
		if i < len(p) && len(p[i].Data) > 0 {
			if k == len(data) {
				// Sum these into dst, unscaled (×1 is exact), and go on
				// from there: the kernel continues a sum exactly when dst
				// is its first part.
				vmath.SumScale(dst, data[:], 1, 0)
				data[0], k = dst, 1
			}
			data[k] = p[i].Data[lo : lo+len(dst)]
			k++
		}
	}
	return vmath.SumScale(dst, data[:k], mul, div)
}
