package ad

import "fmt"

// Mat is a dense row-major float64 matrix: element (i, j) is Data[i*Cols+j].
// A batch of B samples with F features is a B×F Mat, one sample per row.
type Mat struct {
	Rows, Cols int
	Data       []float64
}

// NewMat returns a zeroed r×c matrix.
func NewMat(r, c int) Mat {
	if r < 0 || c < 0 {
		panic(fmt.Sprintf("ad: NewMat(%d, %d): negative dimension", r, c))
	}
	return Mat{Rows: r, Cols: c, Data: make([]float64, r*c)}
}

// MatOf returns an r×c matrix that uses data as its storage. It panics if
// len(data) != r*c.
func MatOf(r, c int, data []float64) Mat {
	if r < 0 || c < 0 || len(data) != r*c {
		panic(fmt.Sprintf("ad: MatOf(%d, %d): have %d elements", r, c, len(data)))
	}
	return Mat{Rows: r, Cols: c, Data: data}
}

// At returns element (i, j).
func (m Mat) At(i, j int) float64 { return m.Data[i*m.Cols+j] }

// Set sets element (i, j) to v.
func (m Mat) Set(i, j int, v float64) { m.Data[i*m.Cols+j] = v }

// Row returns row i as a slice that shares m's storage.
func (m Mat) Row(i int) []float64 { return m.Data[i*m.Cols : (i+1)*m.Cols] }

// RowRange returns rows [lo, hi) as a Mat that shares m's storage.
func (m Mat) RowRange(lo, hi int) Mat {
	return Mat{Rows: hi - lo, Cols: m.Cols, Data: m.Data[lo*m.Cols : hi*m.Cols]}
}

// Clone returns a copy of m with its own storage.
func (m Mat) Clone() Mat {
	return Mat{Rows: m.Rows, Cols: m.Cols, Data: append([]float64(nil), m.Data...)}
}

// SameShape reports whether m and o have the same dimensions.
func (m Mat) SameShape(o Mat) bool { return m.Rows == o.Rows && m.Cols == o.Cols }

// Resize makes m an r×c matrix, reusing its storage when it is large
// enough (so that buffers sized once allocate nothing after). The contents
// are unspecified.
func (m *Mat) Resize(r, c int) {
	n := r * c
	if cap(m.Data) < n {
		m.Data = make([]float64, n)
	} else {
		m.Data = m.Data[:n]
	}
	m.Rows, m.Cols = r, c
}

// zero sets every element of m to 0.
func (m Mat) zero() { clear(m.Data) }
