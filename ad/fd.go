package ad

import "scorematch/ad/fd"

// The finite-difference checker is package ad/fd. The names below forward
// to it, with the same results, only until their last caller
// (ssm/objective_test.go) moves to package fd; this file then goes.

// FDStep is fd.DefaultStep.
const FDStep = fd.DefaultStep

// CentralDiff calls fd.CentralDiff.
func CentralDiff(f func(float64) float64, x, h float64) float64 { return fd.CentralDiff(f, x, h) }

// NumGrad calls fd.NumGrad.
func NumGrad(f func() float64, x, grad []float64, h float64) { fd.NumGrad(f, x, grad, h) }

// RelErr calls fd.RelErr.
func RelErr(got, want []float64, floor float64) (maxErr float64, at int) {
	return fd.RelErr(got, want, floor)
}

// CheckGrad calls fd.CheckGrad.
func CheckGrad(f func() float64, x, grad []float64, h float64) (maxErr float64, at int) {
	return fd.CheckGrad(f, x, grad, h)
}
