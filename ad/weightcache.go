package ad

import "sync"

// A WeightCache shares work on parameters between tapes while the
// parameters do not change, as within one training step: every tape that
// uses the cache (see Tape.UseWeightCache) gets from it the transpose of
// each weight W that Linear and MatMulT multiply by, made once by the first
// tape that needs it. Y = X·Wᵀ is then the product X·(Wᵀ) with Wᵀ read in
// place, instead of each tape packing W for every product. The results are
// the same bits either way.
//
// Call Invalidate after the parameters change and before any tape that
// uses the cache records again. A WeightCache is safe for concurrent use by
// the tapes; Invalidate must not run concurrently with them.
type WeightCache struct {
	mu      sync.Mutex
	entries []*transposed
}

// transposed is the transpose of one parameter's value.
type transposed struct {
	mu    sync.Mutex
	p     *Param
	valid bool
	t     Mat
}

// NewWeightCache returns an empty cache.
func NewWeightCache() *WeightCache { return &WeightCache{} }

// Invalidate discards the cached transposes (their storage is kept).
func (c *WeightCache) Invalidate() {
	c.mu.Lock()
	for _, e := range c.entries {
		e.valid = false
	}
	c.mu.Unlock()
}

// entry returns p's entry, made (with storage for the transpose) if new.
func (c *WeightCache) entry(p *Param) *transposed {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range c.entries {
		if e.p == p {
			return e
		}
	}
	e := &transposed{p: p}
	e.t.resize(p.Value.Cols, p.Value.Rows)
	c.entries = append(c.entries, e)
	return e
}

// transpose returns p.Value's transpose, making it if it is not current.
func (c *WeightCache) transpose(p *Param) Mat {
	e := c.entry(p)
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.valid {
		transposeInto(e.t, p.Value)
		e.valid = true
	}
	return e.t
}

// TransposeRange writes elements [lo, hi) of p.Value, in row-major order,
// to their places in p's cached transpose. Goroutines may write disjoint
// ranges at once, for instance right after an optimiser updated them.
// When ranges have covered every element of every parameter that tapes
// multiply by, Validate makes the transposes current without redoing them.
func (c *WeightCache) TransposeRange(p *Param, lo, hi int) {
	e := c.entry(p)
	r, cols := p.Value.Rows, p.Value.Cols
	src, dst := p.Value.Data, e.t.Data
	// A partial first row, whole rows in tiles, a partial last row.
	if j := lo % cols; j != 0 && lo < hi {
		i, end := lo/cols, min(cols, j+hi-lo)
		for jj := j; jj < end; jj++ {
			dst[jj*r+i] = src[i*cols+jj]
		}
		lo += end - j
	}
	i0, i1 := lo/cols, hi/cols
	const tile = 16
	for ib := i0; ib < i1; ib += tile {
		ie := min(ib+tile, i1)
		for j := 0; j < cols; j++ {
			// Column j of the tile's rows: a contiguous run of dst.
			out := dst[j*r+ib : j*r+ie]
			for k := range out {
				out[k] = src[(ib+k)*cols+j]
			}
		}
	}
	for f := max(lo, i1*cols); f < hi; f++ {
		dst[(f%cols)*r+i1] = src[f]
	}
}

// Validate marks every cached transpose current (see TransposeRange).
func (c *WeightCache) Validate() {
	c.mu.Lock()
	for _, e := range c.entries {
		e.valid = true
	}
	c.mu.Unlock()
}

// transposeInto sets dst (c×r) to the transpose of src (r×c), in tiles
// that stay in the L1 cache.
func transposeInto(dst, src Mat) {
	const tile = 32
	r, c := src.Rows, src.Cols
	for i0 := 0; i0 < r; i0 += tile {
		for j0 := 0; j0 < c; j0 += tile {
			for i := i0; i < min(i0+tile, r); i++ {
				row := src.Data[i*c : (i+1)*c]
				for j := j0; j < min(j0+tile, c); j++ {
					dst.Data[j*r+i] = row[j]
				}
			}
		}
	}
}

// UseWeightCache makes the tape take weight transposes from c (nil: none).
// It holds until changed and survives Reset.
func (t *Tape) UseWeightCache(c *WeightCache) { t.cache = c }
