package repro

import (
	"scorematch/ad"
	"scorematch/ad/internal/vmath"
)

// SumChunks sets dst[i] to the sum over chunks c = 0, 1, ... of parts[c][i],
// added in chunk order. Empty parts (unused parameters, empty chunks) count
// as zero. Every dst[i] must already have its shape.
func SumChunks(dst []ad.Mat, parts [][]ad.Mat) {
	for i := range dst {
		SumChunkRange(dst[i].Data, parts, i, 0)
	}
}

// SumChunkRange is SumChunks for elements [lo, lo+len(dst)) of the i-th
// matrices: dst[j] is the sum over chunks, in chunk order, of
// parts[c][i].Data[lo+j]. Workers may sum disjoint ranges at once.
func SumChunkRange(dst []float64, parts [][]ad.Mat, i, lo int) {
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
func SumChunkRangeScaled(dst []float64, parts [][]ad.Mat, i, lo int, mul, div float64) (finite bool) {
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
