package plot

import (
	"math"
	"strconv"
	"strings"

	"scorematch/ad/rmath"
)

// ticks are the marked positions of an axis and their labels.
type ticks struct {
	at     []float64
	labels []string
}

// expandRange widens a degenerate or non-finite range [lo, hi] to one an
// axis can show: a single value v becomes v ± 10% (±1 for 0), and
// anything not finite becomes [0, 1].
func expandRange(lo, hi float64) (float64, float64) {
	switch {
	case math.IsNaN(lo) || math.IsNaN(hi) || math.IsInf(lo, 0) || math.IsInf(hi, 0):
		return 0, 1
	case hi < lo:
		lo, hi = hi, lo
	}
	if hi > lo && !math.IsInf(hi-lo, 0) {
		return lo, hi
	}
	if hi > lo { // the width overflows: keep it representable
		return lo / 2, hi / 2
	}
	if lo == 0 {
		return -1, 1
	}
	d := math.Abs(lo) / 10
	return lo - d, hi + d
}

// pow10 returns 10^e for the exponents of representable floats.
func pow10(e int) float64 { return math.Pow10(e) }

// scaled returns k·10^e rounded once, so that 3·10^-1 gives 0.3 exactly as
// the literal would.
func scaled(k float64, e int) float64 {
	if e >= 0 {
		return k * pow10(e)
	}
	return k / pow10(-e)
}

// linearTicks returns the multiples of a "nice" step, 1, 2 or 5 times a
// power of ten, that lie in [lo, hi], choosing the smallest such step that
// gives at most maxN intervals across the range, and labels them with as
// many decimals as the step needs. A degenerate range is widened first
// (see expandRange); maxN below 1 counts as 1.
func linearTicks(lo, hi float64, maxN int) ticks {
	lo, hi = expandRange(lo, hi)
	maxN = max(maxN, 1)
	raw := (hi - lo) / float64(maxN)
	e := int(math.Floor(rmath.Log10(raw)))
	var m float64
	for _, m = range []float64{1, 2, 5, 10} {
		if scaled(m, e) >= raw*(1-1e-9) {
			break
		}
	}
	if m == 10 {
		m, e = 1, e+1
	}
	step := scaled(m, e)
	k0 := math.Ceil(lo/step - 1e-9)
	k1 := math.Floor(hi/step + 1e-9)
	if !(k1-k0 <= float64(2*maxN+2)) { // rounding trouble at the ends of float64
		return ticks{at: []float64{lo, hi}, labels: []string{formatG(lo), formatG(hi)}}
	}
	var t ticks
	for k := k0; k <= k1; k++ {
		t.at = append(t.at, scaled(k*m, e)+0) // +0 turns -0 into 0
	}
	t.labels = formatLinear(t.at, e)
	return t
}

// formatLinear labels ticks spaced by a step of exponent e: plain decimals
// with max(0, −e) places, or, when the values are large (≥ 10⁶) or tiny
// (< 10⁻⁴), scientific notation with the digits the step needs.
func formatLinear(at []float64, e int) []string {
	var big float64
	for _, v := range at {
		big = max(big, math.Abs(v))
	}
	labels := make([]string, len(at))
	if big >= 1e6 || (big > 0 && big < 1e-4) {
		digits := max(0, int(math.Floor(rmath.Log10(big)))-e)
		for i, v := range at {
			labels[i] = tidyExp(strconv.FormatFloat(v, 'e', digits, 64))
		}
		return labels
	}
	for i, v := range at {
		labels[i] = strconv.FormatFloat(v, 'f', max(0, -e), 64)
	}
	return labels
}

// tidyExp shortens Go's exponent notation: 1.5e+06 → 1.5e6, 2e-05 → 2e-5.
func tidyExp(s string) string {
	mant, exp, ok := strings.Cut(s, "e")
	if !ok {
		return s
	}
	sign := ""
	if exp[0] == '-' {
		sign = "-"
	}
	exp = strings.TrimLeft(exp[1:], "0")
	if exp == "" {
		return mant
	}
	return mant + "e" + sign + exp
}

// formatG formats one value compactly.
func formatG(v float64) string {
	if a := math.Abs(v); a != 0 && (a >= 1e5 || a < 1e-3) {
		return tidyExp(strconv.FormatFloat(v, 'e', -1, 64))
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// logTicks returns ticks for a logarithmic axis over [lo, hi], 0 < lo < hi:
// the powers of ten in the range, every k-th one if there are more than
// maxN+1; if fewer than three powers fall in the range, 1, 2 and 5 times
// powers of ten instead, when that gives two to maxN+1 ticks; failing
// both, linear ticks.
func logTicks(lo, hi float64, maxN int) ticks {
	maxN = max(maxN, 1)
	a, b := rmath.Log10(lo), rmath.Log10(hi)
	e0, e1 := int(math.Ceil(a-1e-9)), int(math.Floor(b+1e-9))
	var t ticks
	if n := e1 - e0 + 1; n >= 2 {
		stride := (n + maxN) / (maxN + 1) // ceil(n / (maxN+1))
		first := e0
		if r := ((e0 % stride) + stride) % stride; r != 0 {
			first += stride - r
		}
		for e := first; e <= e1; e += stride {
			t.at = append(t.at, scaled(1, e))
		}
	}
	if len(t.at) < 3 {
		// Too few decades: try 1-2-5 multiples, then 1-3 multiples.
		for _, ms := range [][]float64{{1, 2, 5}, {1, 3}} {
			var more []float64
			for e := int(math.Floor(a)); e <= int(math.Ceil(b)); e++ {
				for _, m := range ms {
					if v := scaled(m, e); v >= lo*(1-1e-9) && v <= hi*(1+1e-9) {
						more = append(more, v)
					}
				}
			}
			if len(more) >= 2 && len(more) <= maxN+1 {
				t.at = more
				break
			}
		}
		if len(t.at) < 2 {
			t.at = nil
		}
	}
	if len(t.at) < 2 || len(t.at) > maxN+1 {
		return linearTicks(lo, hi, maxN)
	}
	for _, v := range t.at {
		t.labels = append(t.labels, formatG(v))
	}
	return t
}
