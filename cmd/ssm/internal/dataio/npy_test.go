package dataio

import (
	"bytes"
	"math"
	"strings"
	"testing"

	"scorematch/ad"
)

func TestReadNPY(t *testing.T) {
	m23 := ad.MatOf(2, 3, seq(6))
	std := "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }"
	tests := []struct {
		name string
		in   []byte
		want ad.Mat
	}{
		{"v1", npyBytes(1, std, f8(seq(6)...)), m23},
		{"v2", npyBytes(2, std, f8(seq(6)...)), m23},
		{"v3", npyBytes(3, std, f8(seq(6)...)), m23},
		{"float32", npyBytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", f4(1, 2, 3, 4, 5, 6)), m23},
		{"float32 exact", npyBytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", f4(0.1)), ad.MatOf(1, 1, []float64{float64(float32(0.1))})},
		{"1-D", npyBytes(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", f8(1, 2, 3)), ad.MatOf(3, 1, []float64{1, 2, 3})},
		{"key order, no trailing comma", npyBytes(1, "{'shape': (2, 3), 'fortran_order': False, 'descr': '<f8'}", f8(seq(6)...)), m23},
		{"double quotes, tight", npyBytes(1, `{"descr":"<f8","fortran_order":False,"shape":(2,3)}`, f8(seq(6)...)), m23},
		{"loose spacing", npyBytes(1, "{ 'descr' : '<f8' ,\n 'fortran_order' : False ,\t'shape' : ( 2 , 3 , ) , }", f8(seq(6)...)), m23},
		{"python 2 longs", npyBytes(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2L, 3L), }", f8(seq(6)...)), m23},
		{"gzip", gz(npyBytes(1, std, f8(seq(6)...))), m23},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadNPY(bytes.NewReader(tt.in), "t.npy")
			if err != nil {
				t.Fatal(err)
			}
			checkMat(t, got, tt.want)
		})
	}
}

func TestReadNPYErrors(t *testing.T) {
	good := npyBytes(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (4, 5), }", f8(seq(20)...))
	hdr := func(dict string) []byte { return npyBytes(1, dict, f8(seq(20)...)) }
	withVersion := func(major, minor byte) []byte {
		b := bytes.Clone(good)
		b[6], b[7] = major, minor
		return b
	}
	nan := f8(seq(20)...)
	copy(nan[8*7:], f8(math.NaN()))
	tests := []struct {
		name string
		in   []byte
		want []string // substrings of the message, after "x.npy: "
	}{
		{"empty", nil, []string{"empty file"}},
		{"short", []byte("\x93NUM"), []string{"not a .npy file: only 4 bytes long"}},
		{"magic", []byte("PK\x03\x04 this is a zip file"), []string{"not a .npy file: starts with"}},
		{"version 4", withVersion(4, 0), []string{"version 4.0 is not supported"}},
		{"version 1.1", withVersion(1, 1), []string{"version 1.1 is not supported"}},
		{"no header length", good[:9], []string{"truncated: the file ends in the header length"}},
		{"truncated header", good[:40], []string{"truncated header: have 30 bytes, want 118"}},
		{"huge v2 header", append([]byte("\x93NUMPY\x02\x00"), 0xff, 0xff, 0xff, 0x7f), []string{"header length 2147483647 exceeds the limit"}},
		{"v3 not UTF-8", npyBytes(3, "{'descr': '<f8\xff', 'fortran_order': False, 'shape': (4, 5), }", nil), []string{"not valid UTF-8"}},
		{"not a dict", hdr("['descr', '<f8']"), []string{"header: at byte 0: want '{' to start the header dictionary"}},
		{"unquoted key", hdr("{descr: '<f8', 'fortran_order': False, 'shape': (4, 5)}"), []string{"header: at byte 1: want a quoted string"}},
		{"missing colon", hdr("{'descr' '<f8', 'fortran_order': False, 'shape': (4, 5)}"), []string{"at byte 9: want ':' after key \"descr\""}},
		{"missing comma", hdr("{'descr': '<f8' 'fortran_order': False, 'shape': (4, 5)}"), []string{"at byte 16: want ',' or '}' after the value of \"descr\""}},
		{"unterminated", hdr("{'descr': '<f8, 'fortran_order': False}"), []string{"at byte 17: want ',' or '}' after the value of \"descr\", found \"fortran_orde...\""}},
		{"unclosed dict", hdr("{'descr': '<f8', 'fortran_order': False, 'shape': (4, 5),"), []string{"want '}' to end the header dictionary"}},
		{"trailing text", hdr("{'descr': '<f8', 'fortran_order': False, 'shape': (4, 5)} x"), []string{"unexpected text after the header dictionary"}},
		{"duplicate key", hdr("{'descr': '<f8', 'descr': '<f8', 'fortran_order': False, 'shape': (4, 5)}"), []string{`key "descr" appears twice`}},
		{"unknown key", hdr("{'descr': '<f8', 'fortran_order': False, 'shape': (4, 5), 'x': 1}"), []string{`unexpected key "x"`}},
		{"missing key", hdr("{'descr': '<f8', 'shape': (4, 5)}"), []string{"missing key 'fortran_order'"}},
		{"bad bool", hdr("{'descr': '<f8', 'fortran_order': 0, 'shape': (4, 5)}"), []string{"field 'fortran_order'", "want True or False"}},
		{"bad shape", hdr("{'descr': '<f8', 'fortran_order': False, 'shape': [4, 5]}"), []string{"field 'shape'", "want '(' to start the shape tuple"}},
		{"shape not int", hdr("{'descr': '<f8', 'fortran_order': False, 'shape': (4, 5.0)}"), []string{"field 'shape'", "want ',' or ')'"}},
		{"negative dim", hdr("{'descr': '<f8', 'fortran_order': False, 'shape': (-4, 5)}"), []string{"negative dimension"}},
		{"big-endian", hdr("{'descr': '>f8', 'fortran_order': False, 'shape': (4, 5)}"), []string{"header field 'descr': dtype '>f8' is not supported; want '<f8' or '<f4'"}},
		{"int64", hdr("{'descr': '<i8', 'fortran_order': False, 'shape': (4, 5)}"), []string{"dtype '<i8' is not supported"}},
		{"object", hdr("{'descr': '|O', 'fortran_order': False, 'shape': (4, 5)}"), []string{"dtype '|O' is not supported"}},
		{"structured", hdr("{'descr': [('a', '<f8')], 'fortran_order': False, 'shape': (4, 5)}"), []string{"field 'descr': structured dtypes are not supported"}},
		{"fortran", hdr("{'descr': '<f8', 'fortran_order': True, 'shape': (4, 5)}"), []string{"header field 'fortran_order' is True; only C-order"}},
		{"scalar", hdr("{'descr': '<f8', 'fortran_order': False, 'shape': ()}"), []string{"header field 'shape': () is 0-D; want a 1-D or 2-D array"}},
		{"3-D", hdr("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2, 5)}"), []string{"(2, 2, 5) is 3-D"}},
		{"no elements", hdr("{'descr': '<f8', 'fortran_order': False, 'shape': (0, 5)}"), []string{"(0, 5) has no elements"}},
		{"too large", hdr("{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000, 1000000000)}"), []string{"is too large"}},
		{"truncated data", good[:len(good)-40], []string{"truncated: have 120 bytes of data, want 160 for shape (4, 5) <f8"}},
		{"trailing data", append(bytes.Clone(good), 1, 2, 3), []string{"3 bytes after the data: have 163 bytes of data, want 160 for shape (4, 5) <f8"}},
		{"NaN", npyBytes(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (4, 5), }", nan), []string{"row 2, column 3: NaN is not finite"}},
		{"Inf float32", npyBytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", f4(1, float32(math.Inf(1)), 2)), []string{"row 2, column 1: +Inf is not finite"}},
		{"truncated gzip", gz(good)[:30], []string{"gzip data is truncated"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadNPY(bytes.NewReader(tt.in), "x.npy")
			checkErr(t, err, "x.npy: ")
			checkErr(t, err, tt.want...)
		})
	}
}

func TestWriteNPY(t *testing.T) {
	for _, shape := range [][2]int{{1, 1}, {4, 5}, {3, 1}, {1000, 7}} {
		m := ad.NewMat(shape[0], shape[1])
		for i := range m.Data {
			m.Data[i] = math.Sin(float64(i)) * math.Pow(10, float64(i%40-20))
		}
		var b bytes.Buffer
		if err := WriteNPY(&b, m); err != nil {
			t.Fatal(err)
		}
		raw := b.Bytes()
		hlen := int(raw[8]) | int(raw[9])<<8
		if (10+hlen)%64 != 0 || raw[10+hlen-1] != '\n' {
			t.Errorf("%v: data starts at byte %d, header ends in %q; want a multiple of 64 and a newline", shape, 10+hlen, raw[10+hlen-1])
		}
		if !strings.HasPrefix(string(raw[10:]), "{'descr': '<f8', 'fortran_order': False, 'shape': (") {
			t.Errorf("%v: header %q", shape, raw[10:10+hlen])
		}
		got, err := ReadNPY(&b, "round.npy")
		if err != nil {
			t.Fatal(err)
		}
		checkMat(t, got, m)
	}
	var b bytes.Buffer
	checkErr(t, WriteNPY(&b, ad.MatOf(1, 2, []float64{0, math.NaN()})), "row 1, column 2: NaN is not finite")
	checkErr(t, WriteNPY(&b, ad.NewMat(0, 2)), "empty")
	if b.Len() != 0 {
		t.Errorf("wrote %d bytes before failing", b.Len())
	}
}

// TestNPYFromNumPy reads bytes as numpy.save writes them (version 1.0,
// header padded to 64 bytes, NumPy 1.x spacing).
func TestNPYFromNumPy(t *testing.T) {
	header := "\x93NUMPY\x01\x00v\x00{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), }" +
		strings.Repeat(" ", 58) + "\n"
	in := append([]byte(header), f8(0.5, -1, 2, 1e-300)...)
	got, err := ReadNPY(bytes.NewReader(in), "np.npy")
	if err != nil {
		t.Fatal(err)
	}
	checkMat(t, got, ad.MatOf(2, 2, []float64{0.5, -1, 2, 1e-300}))
}
