package repro

import (
	"fmt"
	"runtime"
	"sync"
	"time"

	"scorematch/ad/internal/gemm"
)

// RowsPerChunk is the number of rows per chunk of DefaultChunks.
const RowsPerChunk = 64

// MaxDefaultChunks bounds DefaultChunks.
const MaxDefaultChunks = 64

// DefaultChunks is the chunk count for a batch of n rows when none is
// given: one per RowsPerChunk rows, rounded up, at most MaxDefaultChunks
// and at least 1. Results that sum over chunks depend on the count; choose
// it from the batch, as here, never from the core count.
func DefaultChunks(n int) int {
	return min(MaxDefaultChunks, max(1, (n+RowsPerChunk-1)/RowsPerChunk))
}

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

// A Job is the work on one chunk of a batch: rows [lo, hi) as chunk c.
// Implementations keep per-chunk state (a tape, gradient buffers) indexed by
// c, so chunks never share mutable state.
type Job interface {
	Run(c, lo, hi int)
}

// JobFunc adapts a function to a Job.
type JobFunc func(c, lo, hi int)

// Run calls f(c, lo, hi).
func (f JobFunc) Run(c, lo, hi int) { f(c, lo, hi) }

// Run calls f(c, lo, hi) for every non-empty chunk c of n rows split into
// chunks parts, each on its own goroutine, and returns when all have
// finished. A panic in a chunk is re-raised in the caller (the first in
// chunk order).
func Run(n, chunks int, f func(c, lo, hi int)) {
	checkChunks(chunks)
	panics := make([]any, chunks)
	var wg sync.WaitGroup
	for c := range chunks {
		lo, hi := Chunk(n, chunks, c)
		if lo == hi {
			continue
		}
		wg.Go(func() {
			defer catch(&panics[c])
			f(c, lo, hi)
		})
	}
	wg.Wait()
	raise(panics)
}

// A Pool runs the chunks of batches on long-lived worker goroutines, one
// per chunk: Run without starting goroutines for every batch. Do
// allocates nothing.
//
// A worker that has finished a chunk polls for the next one for up to
// SpinTime before it sleeps, yielding its processor to any other goroutine
// that is ready to run. A training step calls Do several times in quick
// succession (the chunks, then the parameter update by range), and the
// chunks of one Do may finish hundreds of microseconds apart when one core
// runs slower. A worker that slept meanwhile leaves its processor idle, and
// on a virtual machine waking an idle processor takes tens of microseconds,
// paid by the goroutine that hands over the next chunk or the last result:
// as long as a whole update of a small model.
type Pool struct {
	chunks int
	job    Job
	tasks  chan [3]int
	done   chan struct{}
	panics []any
}

// NewPool starts a pool of the given number of chunks and one worker per
// chunk. Close stops the workers.
func NewPool(chunks int) *Pool {
	checkChunks(chunks)
	p := &Pool{chunks: chunks, tasks: make(chan [3]int, chunks), done: make(chan struct{}, chunks),
		panics: make([]any, chunks)}
	for range chunks {
		go p.work()
	}
	return p
}

// SpinTime is how long an idle worker of a Pool polls for work before it
// sleeps: longer than the usual gap between the chunks of one Do finishing
// (BenchmarkPoolUneven: with a gap of 500 µs, a step's hand-overs cost
// 66–71 µs when workers polled for 100 µs, 13–14 µs with this setting).
const SpinTime = time.Millisecond

func (p *Pool) work() {
	var ws gemm.Workspace // the packing buffers of the products it helps with
	for {
		t, ok := p.next(&ws)
		if !ok {
			return
		}
		p.run(t[0], t[1], t[2])
		p.done <- struct{}{}
	}
}

// next returns the next task, polling for up to SpinTime before it blocks;
// ok is false once the pool is closed. While it polls, the worker computes
// parts of the large matrix products that the other workers start, with
// the packing buffers ws (see gemm.Workspace.Help): a worker whose chunk
// ended early takes parts of the products left in the chunks still running.
// It stands by for them (gemm.Standby) only when GOMAXPROCS is above one.
func (p *Pool) next(ws *gemm.Workspace) (t [3]int, ok bool) {
	select {
	case t, ok = <-p.tasks:
		return t, ok
	default:
	}
	// With one processor, the owner of a product cut for this worker
	// would compute every part itself, after packing more: on one core
	// the products of a step at D = 784 packed 130k–430k elements more.
	standby := runtime.GOMAXPROCS(0) > 1
	if standby {
		gemm.Standby(true)
	}
	var start time.Time
	for i := 1; ; i++ {
		select {
		case t, ok = <-p.tasks:
			if standby {
				gemm.Standby(false)
			}
			return t, ok
		default:
		}
		if ws.Help() {
			start = time.Time{}
			continue
		}
		if i%16 != 0 {
			continue
		}
		if start.IsZero() {
			start = time.Now()
		} else if time.Since(start) > SpinTime {
			if standby {
				gemm.Standby(false)
			}
			t, ok = <-p.tasks
			return t, ok
		}
		runtime.Gosched()
	}
}

func (p *Pool) run(c, lo, hi int) {
	defer catch(&p.panics[c])
	p.job.Run(c, lo, hi)
}

// Chunks returns the pool's chunk count.
func (p *Pool) Chunks() int { return p.chunks }

// Do runs job on every chunk of a batch of n rows and returns when all have
// finished. Chunk c covers the rows Chunk(n, p.Chunks(), c); chunks that would
// be empty are not run. A panic in a chunk is re-raised in the caller (the
// first in chunk order) once every chunk has finished. Do must not be
// called concurrently.
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
	raise(p.panics)
}

// Close stops the workers. The pool must not be used afterwards.
func (p *Pool) Close() { close(p.tasks) }

func checkChunks(chunks int) {
	if chunks < 1 {
		panic(fmt.Sprintf("repro: %d chunks, need at least one", chunks))
	}
}

// catch stores a panic of the calling goroutine in *slot.
func catch(slot *any) {
	if r := recover(); r != nil {
		*slot = r
	}
}

// raise clears panics and re-raises the first, if any.
func raise(panics []any) {
	for i, r := range panics {
		if r != nil {
			clear(panics[i:])
			panic(r)
		}
	}
}
