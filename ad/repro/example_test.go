package repro_test

import (
	"fmt"
	"runtime"

	"scorematch/ad/repro"
)

// meanSquare estimates E[x²] for x ~ N(0, 1) from n draws: sample i's draw
// comes from its own stream, chunk c sums its rows, and the chunks' sums
// are added in chunk order.
func meanSquare(seed uint64, n int) float64 {
	chunks := repro.DefaultChunks(n)
	sums := make([]float64, chunks)
	repro.Run(n, chunks, func(c, lo, hi int) {
		s := repro.NewStream()
		for i := lo; i < hi; i++ {
			x := repro.Normal(s.Seed(seed, repro.Evaluation, 0, uint64(i)))
			sums[c] += float64(x * x) // rounded: no fused multiply-add
		}
	})
	total := 0.0
	for _, s := range sums {
		total += s
	}
	return total / float64(n)
}

// A Monte Carlo estimate computed in parallel chunks has the same bits on
// one core as on many: each sample draws from its own stream, and the
// chunks' sums are added in chunk order.
func Example() {
	const n = 10000
	fmt.Println(repro.DefaultChunks(n), "chunks")
	many := meanSquare(1, n)
	prev := runtime.GOMAXPROCS(1)
	one := meanSquare(1, n)
	runtime.GOMAXPROCS(prev)
	fmt.Printf("E[x²] ≈ %.4f\n", many)
	fmt.Println("same bits on one core:", one == many)
	// Output:
	// 64 chunks
	// E[x²] ≈ 0.9943
	// same bits on one core: true
}

// rowSums is a Job that sums the rows of a matrix, one chunk of rows each.
type rowSums struct {
	x    [][]float64
	sums []float64 // one per row
}

func (j *rowSums) Run(c, lo, hi int) {
	for i := lo; i < hi; i++ {
		s := 0.0
		for _, v := range j.x[i] {
			s += v
		}
		j.sums[i] = s
	}
}

// A Pool keeps its workers between batches: Do runs a Job on every chunk
// and returns when all have finished.
func ExamplePool() {
	p := repro.NewPool(2)
	defer p.Close()
	job := &rowSums{x: [][]float64{{1, 2}, {3, 4}, {5, 6}}, sums: make([]float64, 3)}
	lo, hi := repro.Chunk(3, p.Chunks(), 0)
	fmt.Println("chunk 0: rows", lo, "to", hi-1)
	p.Do(3, job)
	fmt.Println(job.sums)
	// Output:
	// chunk 0: rows 0 to 1
	// [3 7 11]
}
