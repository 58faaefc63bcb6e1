package dataio

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"scorematch/ad"
)

// npyMagic starts every .npy file.
const npyMagic = "\x93NUMPY"

// maxNPYHeader bounds the header length ReadNPY accepts. NumPy writes
// headers of well under a kilobyte for the arrays read here.
const maxNPYHeader = 1 << 20

// maxElements bounds the element count of an array, so that sizes computed
// from a header cannot overflow: 2⁵⁰, or what a byte count of 8-byte
// elements leaves on a 32-bit platform.
const maxElements = min(1<<50, math.MaxInt/8)

// ReadNPY reads a matrix from a NumPy .npy stream. name is used in error
// messages, normally the file's path.
//
// It accepts format versions 1.0, 2.0 and 3.0; the dtypes '<f8' and '<f4'
// (little-endian float64 and float32, the latter converted exactly to
// float64); C order only; and 1-D arrays of shape (N,), returned as N×1, or
// 2-D arrays of shape (N, D), returned as N×D. The header dictionary is
// parsed as the Python literal NumPy writes: the keys 'descr',
// 'fortran_order' and 'shape', each exactly once and in any order, with
// single- or double-quoted strings, True or False, a tuple of
// non-negative integers (an old "L" suffix allowed), any spacing and an
// optional trailing comma.
//
// Every other input is refused with an error naming the file: a wrong
// magic string or version; a header length over 1 MiB or past the end of
// the file; a header that is not such a dictionary (the message gives the
// byte offset within the header); any other dtype, such as '>f8', '<i8' or
// a structured one (the message names it); fortran_order True; other
// ranks; an array with no elements; data shorter or longer than the shape
// requires, e.g.
//
//	x.npy: truncated: have 120 bytes of data, want 160 for shape (4, 5) <f8
//
// and a NaN or ±Inf element, for which the row and column are given.
func ReadNPY(r io.Reader, name string) (ad.Mat, error) {
	name = displayName(name)
	in, err := open(r, name)
	if err != nil {
		return ad.Mat{}, err
	}
	var pre [8]byte
	if n, err := io.ReadFull(in, pre[:]); err != nil {
		if n == 0 && err == io.EOF {
			return ad.Mat{}, fmt.Errorf("%s: empty file, want a .npy array", name)
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return ad.Mat{}, fmt.Errorf("%s: not a .npy file: only %d bytes long", name, n)
		}
		return ad.Mat{}, ioError(name, err)
	}
	if string(pre[:6]) != npyMagic {
		return ad.Mat{}, fmt.Errorf("%s: not a .npy file: starts with %q, want %q", name, pre[:6], npyMagic)
	}
	major, minor := pre[6], pre[7]
	var hlen int
	switch {
	case minor != 0 || major < 1 || major > 3:
		return ad.Mat{}, fmt.Errorf("%s: .npy format version %d.%d is not supported; want 1.0, 2.0 or 3.0", name, major, minor)
	case major == 1:
		var b [2]byte
		if _, err := io.ReadFull(in, b[:]); err != nil {
			return ad.Mat{}, npyShort(name, "header length", err)
		}
		hlen = int(binary.LittleEndian.Uint16(b[:]))
	default:
		var b [4]byte
		if _, err := io.ReadFull(in, b[:]); err != nil {
			return ad.Mat{}, npyShort(name, "header length", err)
		}
		h := binary.LittleEndian.Uint32(b[:])
		if h > maxNPYHeader {
			return ad.Mat{}, fmt.Errorf("%s: header length %d exceeds the limit of %d bytes", name, h, maxNPYHeader)
		}
		hlen = int(h)
	}
	hdr := make([]byte, hlen)
	if n, err := io.ReadFull(in, hdr); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || err == io.EOF {
			return ad.Mat{}, fmt.Errorf("%s: truncated header: have %d bytes, want %d", name, n, hlen)
		}
		return ad.Mat{}, ioError(name, err)
	}
	if major == 3 && !utf8.Valid(hdr) {
		return ad.Mat{}, fmt.Errorf("%s: header is not valid UTF-8, as format 3.0 requires", name)
	}
	h, err := parseNPYHeader(string(hdr))
	if err != nil {
		return ad.Mat{}, fmt.Errorf("%s: header: %w", name, err)
	}

	var size int
	switch h.descr {
	case "<f8":
		size = 8
	case "<f4":
		size = 4
	default:
		return ad.Mat{}, fmt.Errorf("%s: header field 'descr': dtype %s is not supported; want '<f8' or '<f4' (little-endian float64 or float32)", name, pyQuote(h.descr))
	}
	if h.fortran {
		return ad.Mat{}, fmt.Errorf("%s: header field 'fortran_order' is True; only C-order arrays are supported (save np.ascontiguousarray(a))", name)
	}
	var rows, cols int
	switch len(h.shape) {
	case 1:
		rows, cols = h.shape[0], 1
	case 2:
		rows, cols = h.shape[0], h.shape[1]
	default:
		return ad.Mat{}, fmt.Errorf("%s: header field 'shape': %s is %d-D; want a 1-D or 2-D array", name, h.shapeString(), len(h.shape))
	}
	if rows == 0 || cols == 0 {
		return ad.Mat{}, fmt.Errorf("%s: header field 'shape': %s has no elements", name, h.shapeString())
	}
	if rows > maxElements/cols {
		return ad.Mat{}, fmt.Errorf("%s: header field 'shape': %s is too large", name, h.shapeString())
	}
	count := rows * cols
	want := int64(count) * int64(size)
	raw, err := io.ReadAll(io.LimitReader(in, want))
	if err != nil {
		return ad.Mat{}, ioError(name, err)
	}
	if int64(len(raw)) < want {
		return ad.Mat{}, fmt.Errorf("%s: truncated: have %d bytes of data, want %d for shape %s %s", name, len(raw), want, h.shapeString(), h.descr)
	}
	extra, err := io.Copy(io.Discard, in)
	if err != nil {
		return ad.Mat{}, ioError(name, err)
	}
	if extra > 0 {
		return ad.Mat{}, fmt.Errorf("%s: %d bytes after the data: have %d bytes of data, want %d for shape %s %s", name, extra, want+extra, want, h.shapeString(), h.descr)
	}
	data := make([]float64, count)
	for k := range data {
		var v float64
		if size == 8 {
			v = math.Float64frombits(binary.LittleEndian.Uint64(raw[8*k:]))
		} else {
			v = float64(math.Float32frombits(binary.LittleEndian.Uint32(raw[4*k:])))
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return ad.Mat{}, fmt.Errorf("%s: row %d, column %d: %v is not finite; the data must be finite", name, k/cols+1, k%cols+1, v)
		}
		data[k] = v
	}
	return ad.MatOf(rows, cols, data), nil
}

// npyShort describes a file that ends inside its preamble.
func npyShort(name, what string, err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) || err == io.EOF {
		return fmt.Errorf("%s: truncated: the file ends in the %s", name, what)
	}
	return ioError(name, err)
}

// npyHeader holds the fields of a .npy header dictionary.
type npyHeader struct {
	descr   string // the dtype, e.g. <f8
	fortran bool
	shape   []int
}

// shapeString formats the shape as Python prints a tuple.
func (h npyHeader) shapeString() string {
	var b strings.Builder
	b.WriteByte('(')
	for i, d := range h.shape {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Itoa(d))
	}
	if len(h.shape) == 1 {
		b.WriteByte(',')
	}
	b.WriteByte(')')
	return b.String()
}

// pyQuote quotes s for a message, as Python's repr would for plain text.
func pyQuote(s string) string {
	q := strconv.QuoteToASCII(s)
	return "'" + strings.ReplaceAll(q[1:len(q)-1], `\"`, `"`) + "'"
}

// hdrParser is a cursor over the text of a .npy header.
type hdrParser struct {
	s string
	i int
}

// errorf returns an error located at the cursor.
func (p *hdrParser) errorf(format string, args ...any) error {
	return fmt.Errorf("at byte %d: %s", p.i, fmt.Sprintf(format, args...))
}

// found describes the text at the cursor for error messages.
func (p *hdrParser) found() string {
	if p.i >= len(p.s) {
		return "end of header"
	}
	rest := p.s[p.i:]
	if len(rest) > 12 {
		rest = rest[:12] + "..."
	}
	return strconv.Quote(rest)
}

func (p *hdrParser) skipSpace() {
	for p.i < len(p.s) && strings.IndexByte(" \t\r\n", p.s[p.i]) >= 0 {
		p.i++
	}
}

// peek returns the next byte after spaces, or 0 at the end.
func (p *hdrParser) peek() byte {
	p.skipSpace()
	if p.i >= len(p.s) {
		return 0
	}
	return p.s[p.i]
}

func (p *hdrParser) expect(c byte, what string) error {
	if p.peek() != c {
		return p.errorf("want %q %s, found %s", c, what, p.found())
	}
	p.i++
	return nil
}

// str parses a Python string literal in single or double quotes, with
// backslash escapes of the quote and the backslash.
func (p *hdrParser) str() (string, error) {
	q := p.peek()
	if q != '\'' && q != '"' {
		return "", p.errorf("want a quoted string, found %s", p.found())
	}
	start := p.i
	p.i++
	var b strings.Builder
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == q:
			p.i++
			return b.String(), nil
		case c == '\\' && p.i+1 < len(p.s):
			b.WriteByte(p.s[p.i+1])
			p.i += 2
		case c == '\n':
			p.i = start
			return "", p.errorf("unterminated string")
		default:
			b.WriteByte(c)
			p.i++
		}
	}
	p.i = start
	return "", p.errorf("unterminated string")
}

// ident parses a run of letters and digits.
func (p *hdrParser) ident() string {
	p.skipSpace()
	start := p.i
	for p.i < len(p.s) {
		c := p.s[p.i]
		if c != '_' && (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			break
		}
		p.i++
	}
	return p.s[start:p.i]
}

// boolean parses True or False.
func (p *hdrParser) boolean() (bool, error) {
	start := p.i
	switch id := p.ident(); id {
	case "True":
		return true, nil
	case "False":
		return false, nil
	}
	p.i = start
	p.skipSpace()
	return false, p.errorf("want True or False, found %s", p.found())
}

// tuple parses a parenthesised, comma-separated list of non-negative
// integers, with an optional trailing comma.
func (p *hdrParser) tuple() ([]int, error) {
	if err := p.expect('(', "to start the shape tuple"); err != nil {
		return nil, err
	}
	dims := []int{}
	for {
		if p.peek() == ')' {
			p.i++
			return dims, nil
		}
		if p.peek() == '-' {
			return nil, p.errorf("negative dimension in shape")
		}
		start := p.i
		id := p.ident()
		digits := strings.TrimSuffix(strings.TrimSuffix(id, "L"), "l")
		d, err := strconv.Atoi(digits)
		if err != nil || digits == "" || strings.IndexFunc(digits, func(r rune) bool { return r < '0' || r > '9' }) >= 0 {
			p.i = start
			return nil, p.errorf("want an integer dimension or ')', found %s", p.found())
		}
		if d > maxElements {
			p.i = start
			return nil, p.errorf("dimension %s is too large", digits)
		}
		dims = append(dims, d)
		switch p.peek() {
		case ',':
			p.i++
		case ')':
		default:
			return nil, p.errorf("want ',' or ')' in the shape tuple, found %s", p.found())
		}
	}
}

// parseNPYHeader parses the dictionary literal of a .npy header, which may
// be followed by spaces and a newline.
func parseNPYHeader(s string) (npyHeader, error) {
	p := &hdrParser{s: s}
	var h npyHeader
	if err := p.expect('{', "to start the header dictionary"); err != nil {
		return h, err
	}
	seen := map[string]bool{}
	for p.peek() != '}' {
		keyAt := p.i
		key, err := p.str()
		if err != nil {
			if p.peek() == 0 {
				return h, p.errorf("want '}' to end the header dictionary, found end of header")
			}
			return h, err
		}
		if seen[key] {
			p.i = keyAt
			return h, p.errorf("key %q appears twice", key)
		}
		seen[key] = true
		if err := p.expect(':', fmt.Sprintf("after key %q", key)); err != nil {
			return h, err
		}
		switch key {
		case "descr":
			if c := p.peek(); c == '[' || c == '{' {
				return h, p.errorf("field 'descr': structured dtypes are not supported; want '<f8' or '<f4'")
			}
			d, err := p.str()
			if err != nil {
				return h, fmt.Errorf("field 'descr': %w", err)
			}
			h.descr = d
		case "fortran_order":
			if h.fortran, err = p.boolean(); err != nil {
				return h, fmt.Errorf("field 'fortran_order': %w", err)
			}
		case "shape":
			if h.shape, err = p.tuple(); err != nil {
				return h, fmt.Errorf("field 'shape': %w", err)
			}
		default:
			p.i = keyAt
			return h, p.errorf("unexpected key %q; want 'descr', 'fortran_order' and 'shape'", key)
		}
		switch p.peek() {
		case ',':
			p.i++
		case '}':
		default:
			return h, p.errorf("want ',' or '}' after the value of %q, found %s", key, p.found())
		}
	}
	p.i++
	if p.skipSpace(); p.i != len(s) {
		return h, p.errorf("unexpected text after the header dictionary: %s", p.found())
	}
	for _, k := range []string{"descr", "fortran_order", "shape"} {
		if !seen[k] {
			return h, fmt.Errorf("missing key '%s'", k)
		}
	}
	return h, nil
}

// WriteNPY writes m as a NumPy .npy stream of format version 1.0 with
// dtype '<f8', C order and shape (Rows, Cols), always 2-D. The header is
// padded with spaces so that the data starts at a multiple of 64 bytes, as
// NumPy does.
//
// It refuses an empty matrix and non-finite values, returning an error
// that gives the row and column, before writing anything.
func WriteNPY(w io.Writer, m ad.Mat) error {
	if err := checkWritable(m); err != nil {
		return err
	}
	dict := fmt.Sprintf("{'descr': '<f8', 'fortran_order': False, 'shape': (%d, %d), }", m.Rows, m.Cols)
	const pre = len(npyMagic) + 2 + 2 // magic, version, header length
	n := pre + len(dict) + 1          // and a final newline
	pad := (64 - n%64) % 64
	hdr := make([]byte, 0, n+pad)
	hdr = append(hdr, npyMagic...)
	hdr = append(hdr, 1, 0)
	hdr = binary.LittleEndian.AppendUint16(hdr, uint16(len(dict)+pad+1))
	hdr = append(hdr, dict...)
	hdr = append(hdr, strings.Repeat(" ", pad)...)
	hdr = append(hdr, '\n')
	bw := bufio.NewWriter(w)
	bw.Write(hdr)
	var b [8]byte
	for _, v := range m.Data {
		binary.LittleEndian.PutUint64(b[:], math.Float64bits(v))
		if _, err := bw.Write(b[:]); err != nil {
			return err
		}
	}
	return bw.Flush()
}
