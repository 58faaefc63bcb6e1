// Package linalg is the small dense linear algebra the other packages of
// scorematch need: Cholesky factorisation, triangular solves, the
// log-determinant from a Cholesky factor and the eigen-decomposition of a
// symmetric matrix.
//
// Matrices are row-major []float64 slices of n×n values, element (i, j) at
// index i*n+j; vectors have n values. Destinations come first. The
// routines allocate nothing except SymEigen's O(n) work space, and their
// results are deterministic: the same inputs give the same bits.
//
// A slice of the wrong length is a programmer error and panics; a matrix
// that is not positive definite is a property of the data and is reported
// by Cholesky as an error.
package linalg
