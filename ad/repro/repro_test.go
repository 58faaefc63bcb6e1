package repro

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"scorematch/ad/internal/gemm"
)

func TestChunk(t *testing.T) {
	for _, c := range []struct{ n, chunks int }{{10, 3}, {3, 8}, {128, 2}, {0, 4}, {1, 1}, {65, 64}} {
		next, sizes := 0, map[int]bool{}
		for i := range c.chunks {
			lo, hi := Chunk(c.n, c.chunks, i)
			if lo != next || hi < lo {
				t.Errorf("Chunk(%d, %d, %d) = [%d, %d), previous chunk ended at %d", c.n, c.chunks, i, lo, hi, next)
			}
			sizes[hi-lo] = true
			next = hi
		}
		if next != c.n || len(sizes) > 2 {
			t.Errorf("n=%d chunks=%d: covered %d rows with sizes %v", c.n, c.chunks, next, sizes)
		}
	}
}

func TestDefaultChunks(t *testing.T) {
	for _, c := range []struct{ n, want int }{{0, 1}, {1, 1}, {64, 1}, {65, 2}, {128, 2}, {256, 4}, {512, 8}, {1000, 16}, {4096, 64}, {10000, 64}} {
		if got := DefaultChunks(c.n); got != c.want {
			t.Errorf("DefaultChunks(%d) = %d, want %d", c.n, got, c.want)
		}
	}
}

// TestRunAndPool checks that Run and a Pool cover every row once, skip
// empty chunks, and re-raise the first panic in chunk order, after which
// the pool still works.
func TestRunAndPool(t *testing.T) {
	p := NewPool(4)
	defer p.Close()
	for _, run := range []struct {
		name string
		do   func(n int, job Job)
	}{
		{"Run", func(n int, job Job) { Run(n, 4, job.Run) }},
		{"Pool", p.Do},
	} {
		for _, n := range []int{0, 3, 10} {
			var seen [10]atomic.Int32
			var calls atomic.Int32
			run.do(n, JobFunc(func(c, lo, hi int) {
				calls.Add(1)
				for i := lo; i < hi; i++ {
					seen[i].Add(1)
				}
			}))
			for i := range n {
				if seen[i].Load() != 1 {
					t.Errorf("%s n=%d: row %d done %d times", run.name, n, i, seen[i].Load())
				}
			}
			if want := min(n, 4); int(calls.Load()) != want {
				t.Errorf("%s n=%d: %d chunks run, want %d", run.name, n, calls.Load(), want)
			}
		}
		for range 2 { // twice: the pool recovers
			got := func() (r any) {
				defer func() { r = recover() }()
				run.do(8, JobFunc(func(c, lo, hi int) {
					if c >= 1 {
						panic(fmt.Sprintf("chunk %d", c))
					}
				}))
				return nil
			}()
			if got != "chunk 1" {
				t.Errorf("%s: recovered %v, want the panic of chunk 1", run.name, got)
			}
		}
	}
}

// TestStreams checks that the streams of different purposes, seeds, steps
// and samples differ, that reseeding repeats a stream, and that Batch
// streams are the PCG (seed, mix(step, sample)) that training has always
// drawn from.
func TestStreams(t *testing.T) {
	draw := func(r *rand.Rand) []uint64 {
		out := make([]uint64, 4)
		for i := range out {
			out[i] = r.Uint64()
		}
		return out
	}
	seen := map[uint64]string{}
	s := NewStream()
	for seed := range uint64(3) {
		for p := Batch; p <= Evaluation; p++ {
			for step := range uint64(3) {
				for sample := range uint64(3) {
					v := draw(s.Seed(seed, p, step, sample))
					name := fmt.Sprint(seed, p, step, sample)
					if prev, ok := seen[v[0]]; ok {
						t.Fatalf("streams %s and %s start alike", prev, name)
					}
					seen[v[0]] = name
					if again := draw(New(seed, p, step, sample)); !slices.Equal(again, v) {
						t.Fatalf("stream %s: %v, then %v", name, v, again)
					}
				}
			}
		}
	}
	want := draw(rand.New(rand.NewPCG(7, mix(5, 9))))
	if got := draw(New(7, Batch, 5, 9)); !slices.Equal(got, want) {
		t.Errorf("Batch stream (7, 5, 9) = %v, want %v", got, want)
	}
}

func TestStreamAllocs(t *testing.T) {
	s := NewStream()
	if n := testing.AllocsPerRun(100, func() { s.Seed(1, Chain, 2, 3).Uint64() }); n != 0 {
		t.Errorf("Seed allocates %v times", n)
	}
}

// TestStreamLines checks that streams allocated one after the other start
// on their own 128-byte boundaries, so that no two share a cache line.
func TestStreamLines(t *testing.T) {
	if n := unsafe.Sizeof(Stream{}); n > streamSize || n <= streamSize/2 {
		t.Fatalf("Stream is %d bytes, want (%d, %d]", n, streamSize/2, streamSize)
	}
	for i := range 64 {
		if a := uintptr(unsafe.Pointer(NewStream())); a%streamSize != 0 {
			t.Fatalf("stream %d at %#x: not on a %d-byte boundary", i, a, streamSize)
		}
	}
}

// BenchmarkConcurrentDraws draws from two generators on two goroutines at
// once: "streams" from two Streams allocated one after the other, and
// "shared-line" from two PCG states that sit on one cache line, as
// unpadded streams did (the gap is the cost of a line moving between
// cores at every draw). Each goroutine draws b.N numbers; ns/op is the
// wall time per number.
func BenchmarkConcurrentDraws(b *testing.B) {
	draw := func(b *testing.B, r [2]*rand.Rand) {
		var wg sync.WaitGroup
		var sink [2]uint64
		for g := range 2 {
			wg.Go(func() {
				s := uint64(0)
				for range b.N {
					s += r[g].Uint64()
				}
				sink[g] = s
			})
		}
		wg.Wait()
		if sink[0] == sink[1] {
			b.Fatal("the two generators drew the same numbers")
		}
	}
	b.Run("streams", func(b *testing.B) {
		s0, s1 := NewStream(), NewStream()
		draw(b, [2]*rand.Rand{s0.Seed(1, Batch, 0, 0), s1.Seed(1, Batch, 0, 1)})
	})
	b.Run("shared-line", func(b *testing.B) {
		line := new([2]rand.PCG) // 32 bytes, on a 32-byte boundary
		line[0].Seed(1, 0)
		line[1].Seed(1, 1)
		draw(b, [2]*rand.Rand{rand.New(&line[0]), rand.New(&line[1])})
	})
}

// BenchmarkPoolUneven times a pool of two chunks through a step shaped
// like a training step's: one Do whose chunks finish 500 µs apart (the
// evaluation, when one core is slower), then one of two short chunks (the
// update). The chunks busy-wait; overhead-µs is the time per step beyond
// the longest chunk of each Do, spent handing chunks to workers and back.
func BenchmarkPoolUneven(b *testing.B) {
	busy := func(d time.Duration) {
		for start := time.Now(); time.Since(start) < d; {
		}
	}
	lengths := [][2]time.Duration{
		{100 * time.Microsecond, 600 * time.Microsecond},
		{20 * time.Microsecond, 20 * time.Microsecond},
	}
	if runtime.GOMAXPROCS(0) < 2 {
		b.Skip("needs two processors: on one, the chunks take turns")
	}
	p := NewPool(2)
	defer p.Close()
	var phase int
	job := JobFunc(func(c, lo, hi int) { busy(lengths[phase][c]) })
	for b.Loop() {
		for phase = range lengths {
			p.Do(2, job)
		}
	}
	work := 0.0
	for _, l := range lengths {
		work += float64(max(l[0], l[1]))
	}
	b.ReportMetric((b.Elapsed().Seconds()*1e9/float64(b.N)-work)/1e3, "overhead-µs")
}

// TestPoolAfterSleep hands work to a pool whose workers are still polling
// and to one whose workers have given up polling and sleep: both run every
// chunk once, and Close ends the sleeping workers.
func TestPoolAfterSleep(t *testing.T) {
	p := NewPool(3)
	for _, pause := range []time.Duration{0, 3 * SpinTime, 0} {
		time.Sleep(pause)
		var rows [9]atomic.Int32
		p.Do(9, JobFunc(func(c, lo, hi int) {
			for i := lo; i < hi; i++ {
				rows[i].Add(1)
			}
		}))
		for i := range rows {
			if n := rows[i].Load(); n != 1 {
				t.Fatalf("after a pause of %v: row %d run %d times", pause, i, n)
			}
		}
	}
	before := runtime.NumGoroutine()
	p.Close()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before-3 {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines 5 s after Close, want at most %d", runtime.NumGoroutine(), before-3)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestPoolStandby checks that a worker waiting for its next chunk stands
// by for parts of the products of the chunks still running when another
// processor can run it, and not with one processor, where the owner of a
// product cut for it would compute every part itself.
func TestPoolStandby(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	for _, c := range []struct{ procs, want int }{{1, 0}, {2, 1}} {
		runtime.GOMAXPROCS(c.procs)
		// Workers of other tests' pools stop standing by within SpinTime.
		for deadline := time.Now().Add(time.Second); gemm.Standing() != 0 && time.Now().Before(deadline); {
			time.Sleep(SpinTime)
		}
		p := NewPool(2)
		// A worker stands by for SpinTime at most; on a loaded machine the
		// measuring goroutine may miss that window, so with a processor to
		// spare it gets up to 50 tries. Without, every try must see none.
		tries := 3
		if c.want > 0 {
			tries = 50
		}
		got := -1
		for range tries {
			if got = standingDuringChunk(p); got != 0 {
				break
			}
		}
		p.Close()
		if got != c.want {
			t.Errorf("GOMAXPROCS %d: %d workers stand by while a chunk runs, want %d", c.procs, got, c.want)
		}
	}
}

// standingDuringChunk runs two chunks on p and returns how many goroutines
// stand by (gemm.Standing) during the chunk that starts first, once the
// other chunk has finished and its worker polls for its next chunk.
func standingDuringChunk(p *Pool) int {
	var first, otherDone atomic.Bool
	got := -1
	p.Do(2, JobFunc(func(chunk, lo, hi int) {
		if first.Swap(true) {
			otherDone.Store(true)
			return
		}
		deadline := time.Now().Add(10 * time.Second) // a bound for a stalled machine
		for !otherDone.Load() && time.Now().Before(deadline) {
			runtime.Gosched()
		}
		for range 100 {
			if gemm.Standing() != 0 {
				break
			}
			runtime.Gosched()
		}
		got = gemm.Standing()
	}))
	return got
}
