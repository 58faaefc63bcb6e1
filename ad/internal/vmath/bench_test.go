package vmath

import (
	"math"
	"testing"
)

// BenchmarkActivation measures every function for a forward pass (f0, f1)
// and a full jet (f0…f3) with every implementation available, in ns per
// element, against math.Exp over the same inputs.
func BenchmarkActivation(b *testing.B) {
	const n = 32768
	x := make([]float64, n)
	for i := range x {
		x[i] = 20*float64(i)/n - 10 + 0.001*float64(i%7)
	}
	out := make([]float64, 4*n)
	f0, f1, f2, f3 := out[:n], out[n:2*n], out[2*n:3*n], out[3*n:]
	perElem := func(b *testing.B) {
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/elem")
	}
	b.Run("math.Exp", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for i, v := range x {
				f0[i] = math.Exp(v)
			}
		}
		perElem(b)
	})
	for _, fn := range functions {
		for _, orders := range []string{"f0f1", "f0-f3"} {
			for _, i := range implsAvailable() {
				b.Run(fn.name+"/"+orders+"/"+implNames[i], func(b *testing.B) {
					b.ReportAllocs()
					g2, g3 := f2, f3
					if orders == "f0f1" {
						g2, g3 = nil, nil
					}
					withImpl(i, func() {
						for b.Loop() {
							fn.call(x, f0, f1, g2, g3)
						}
					})
					perElem(b)
				})
			}
		}
	}
}
