package vmath

import "fmt"

// SumScale sets every dst[j] to the sum of parts[k][j] over the parts in
// order, times mul, or divided by div when mul is 0, and reports whether
// every dst[j] is finite (neither NaN nor ±Inf). Element by element it
// computes exactly
//
//	s := 0.0
//	for _, p := range parts {
//		s += p[j]
//	}
//	if mul != 0 {
//		s *= mul
//	} else {
//		s /= div
//	}
//	dst[j] = s
//
// so the sum starts from +0 (a −0 part alone gives +0) and the result does
// not depend on the implementation. With no parts, dst[j] is 0·mul or 0/div.
// A mul of 1 leaves the sum as it is, exactly.
//
// Every part must have at least len(dst) elements (SumScale panics
// otherwise). Parts must not overlap dst, except that parts[0] may be dst
// itself: a sum s can be continued by a later call with dst as its first
// part, exactly, as 0 + s = s for a sum that starts from +0 (it is never
// −0). SumScale does not allocate.
func SumScale(dst []float64, parts [][]float64, mul, div float64) bool {
	for k, p := range parts {
		if len(p) < len(dst) {
			panic(fmt.Sprintf("vmath.SumScale: len(parts[%d]) = %d, want at least len(dst) = %d", k, len(p), len(dst)))
		}
	}
	n, finite := 0, true
	switch impl {
	case implAVX2:
		n = len(dst) &^ 3
		if n > 0 {
			finite = sumScaleAVX2(&dst[0], n, firstPart(parts), len(parts), mul, div, mul != 0)
		}
	case implAVX512:
		n = len(dst) &^ 7
		if n > 0 {
			finite = sumScaleAVX512(&dst[0], n, firstPart(parts), len(parts), mul, div, mul != 0)
		}
	}
	if n < len(dst) {
		finite = sumScaleGo(dst[n:], parts, n, mul, div) && finite
	}
	return finite
}

// firstPart returns &parts[0], or nil when there are no parts.
func firstPart(parts [][]float64) *[]float64 {
	if len(parts) == 0 {
		return nil
	}
	return &parts[0]
}

// sumScaleGo is the reference of SumScale for dst[j] = the scaled sum of
// parts[k][off+j]. It adds part by part over the whole of dst: each
// element gets the operations of the loop in SumScale's comment in the
// same order, hence the same bits. The first pass reads each element of
// parts[0] before it writes that of dst, so the two may coincide.
func sumScaleGo(dst []float64, parts [][]float64, off int, mul, div float64) bool {
	if len(parts) == 0 {
		clear(dst) // s := 0.0
	}
	for k, p := range parts {
		p = p[off : off+len(dst)]
		if k == 0 {
			for j, v := range p {
				dst[j] = 0 + v // s := 0.0; s += p[j]
			}
			continue
		}
		for j, v := range p {
			dst[j] += v
		}
	}
	bad := 0.0
	for j, s := range dst {
		if mul != 0 {
			s *= mul
		} else {
			s /= div
		}
		dst[j] = s
		bad += s - s // 0 while every s is finite, NaN from the first NaN or ±Inf on
	}
	return bad == 0
}
