package dataio

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"
	"testing/iotest"

	"scorematch/ad"
)

func TestReadCSV(t *testing.T) {
	m23 := ad.MatOf(2, 3, []float64{1, 2, 3, 4, 5, 6})
	tests := []struct {
		name, in string
		want     ad.Mat
	}{
		{"no header", "1,2,3\n4,5,6\n", m23},
		{"header", "a,b,c\n1,2,3\n4,5,6\n", m23},
		{"empty header names", ",,\n1,2,3\n4,5,6\n", m23},
		{"quoted header", "\"a, b\",b,c\n1,2,3\n4,5,6\n", m23},
		{"no final newline", "1,2,3\n4,5,6", m23},
		{"CRLF", "x,y,z\r\n1,2,3\r\n4,5,6\r\n", m23},
		{"spaces", "  1 ,\t2,3  \n 4,5 , 6\n", m23},
		{"blank and comment lines", "# made by hand\n\nx1,x2,x3\n   \n1,2,3\n# middle\n4,5,6\n\n", m23},
		{"byte-order mark", "\ufeffa,b,c\n1,2,3\n4,5,6\n", m23},
		{"quoted numbers", "\"1\",2,\"3\"\n4,\"5\",6\n", m23},
		{"one column", "v\n1.5\n-2\n", ad.MatOf(2, 1, []float64{1.5, -2})},
		{"number syntax", "1e-3,-0,0x1p-2\n.5,+7,1E2\n", ad.MatOf(2, 3, []float64{1e-3, math.Copysign(0, -1), 0.25, 0.5, 7, 100})},
		{"gzip", string(gz([]byte("a,b,c\n1,2,3\n4,5,6\n"))), m23},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadCSV(strings.NewReader(tt.in), "t.csv")
			if err != nil {
				t.Fatal(err)
			}
			checkMat(t, got, tt.want)
		})
	}
}

func TestReadCSVErrors(t *testing.T) {
	tests := []struct {
		name, in string
		want     []string // substrings of the message, after "bad.csv: "
	}{
		{"empty", "", []string{"empty"}},
		{"only blank lines", "\n  \n# nothing\n", []string{"empty"}},
		{"header only", "a,b\n", []string{"no data rows after the header in row 1"}},
		{"semicolons", "1;2\n", []string{"no data rows", "separated by commas"}},
		{"semicolons with data", "1;2\n3;4\n", []string{`row 2, column 1: "3;4" is not a number (fields must be separated by commas)`}},
		{"ragged short", "a,b,c,d\n1,2,3,4\n5,6,7,8\n\n1,2,3,4\n1,2,3,4\n1,2,3\n", []string{"row 7 has 3 columns, want 4"}},
		{"ragged long", "1,2\n3,4,5\n", []string{"row 2 has 3 columns, want 2"}},
		{"ragged one", "1,2\n3\n", []string{"row 2 has 1 column, want 2"}},
		{"not a number", "a,b\n1,2\n3,abc\n", []string{`row 3, column 2: "abc" is not a number`}},
		{"spaces inside", "a\n1 2\n", []string{`row 2, column 1: "1 2" is not a number (fields must be separated by commas)`}},
		{"empty field", "1,,3\n", []string{"row 1, column 2: empty field"}},
		{"trailing comma", "a,b\n1,2,\n", []string{"row 2 has 3 columns, want 2"}},
		{"NaN", "a,b\n1,2\n3,NaN\n", []string{`row 3, column 2: "NaN" is not finite`}},
		{"Inf", "-inf,1\n", []string{`row 1, column 1: "-inf" is not finite`}},
		{"overflow", "x\n1e999\n", []string{`row 2, column 1: "1e999" is out of the range of float64`}},
		{"mixed first row", "x,2,y\n1,2,3\n", []string{`row 1, column 1: "x" is not a number, but column 2 holds the number "2"`}},
		{"bad quote", "1,2\n3,\"4\n", []string{"row 2, character"}},
		{"bad gzip", "\x1f\x8b\x08\x00garbage", []string{"gzip"}},
		{"truncated gzip", string(gz([]byte("1,2\n3,4\n"))[:15]), []string{"gzip data is truncated"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadCSV(strings.NewReader(tt.in), "bad.csv")
			checkErr(t, err, "bad.csv: ")
			checkErr(t, err, tt.want...)
		})
	}
}

func TestReadCSVIOError(t *testing.T) {
	boom := errors.New("boom")
	_, err := ReadCSV(iotest.ErrReader(boom), "io.csv")
	checkErr(t, err, "io.csv: ", "boom")
	if !errors.Is(err, boom) {
		t.Errorf("error %v does not wrap the reader's error", err)
	}
}

func TestWriteCSV(t *testing.T) {
	m := ad.MatOf(2, 3, []float64{0.1, -2.5e-300, 3, math.Copysign(0, -1), 1.0 / 3, 1e21})
	tests := []struct {
		header bool
		want   string
	}{
		{true, "x1,x2,x3\n0.1,-2.5e-300,3\n-0,0.3333333333333333,1e+21\n"},
		{false, "0.1,-2.5e-300,3\n-0,0.3333333333333333,1e+21\n"},
	}
	for _, tt := range tests {
		var b bytes.Buffer
		if err := WriteCSV(&b, m, tt.header); err != nil {
			t.Fatal(err)
		}
		if b.String() != tt.want {
			t.Errorf("header %v: wrote %q, want %q", tt.header, b.String(), tt.want)
		}
		got, err := ReadCSV(&b, "round.csv")
		if err != nil {
			t.Fatal(err)
		}
		checkMat(t, got, m)
	}
}

func TestWriteCSVRefuses(t *testing.T) {
	tests := []struct {
		name string
		m    ad.Mat
		want string
	}{
		{"NaN", ad.MatOf(2, 2, []float64{1, 2, 3, math.NaN()}), "row 2, column 2: NaN is not finite"},
		{"Inf", ad.MatOf(1, 2, []float64{math.Inf(-1), 0}), "row 1, column 1: -Inf is not finite"},
		{"no rows", ad.NewMat(0, 3), "empty (0×3)"},
		{"no columns", ad.NewMat(2, 0), "empty (2×0)"},
	}
	for _, tt := range tests {
		var b bytes.Buffer
		checkErr(t, WriteCSV(&b, tt.m, true), tt.want)
		if b.Len() != 0 {
			t.Errorf("%s: wrote %q before failing", tt.name, b.String())
		}
	}
}
