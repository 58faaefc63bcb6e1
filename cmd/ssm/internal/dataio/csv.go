package dataio

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"scorematch/ad"
)

// ReadCSV reads a matrix from comma-separated text, one sample per line.
// name is used in error messages, normally the file's path.
//
// The rules:
//
//   - Fields are separated by commas; spaces and tabs around a field are
//     ignored, and fields may be quoted as in RFC 4180.
//   - Rows are numbered by line (1-based, counting every line of the file,
//     so the numbers match an editor's), columns by field (1-based).
//   - Blank lines and lines starting with '#' are skipped. A UTF-8
//     byte-order mark at the start is ignored.
//   - A number is anything strconv.ParseFloat accepts; it must be finite, so
//     "NaN", "Inf" and overflowing values such as "1e999" are errors.
//   - Header: the first row that is not skipped is a header if none of its
//     fields is a number (empty names are allowed); otherwise it is data.
//     A first row that mixes numbers and non-empty non-numbers is an error,
//     since it is neither. A header therefore cannot have a column named
//     like a number, e.g. "1" or "inf".
//   - Every row must have as many fields as the first one.
//   - There must be at least one data row.
//
// Errors say what is wrong and where, for example
//
//	data.csv: row 7 has 3 columns, want 4
//	data.csv: row 7, column 2: "abc" is not a number
func ReadCSV(r io.Reader, name string) (ad.Mat, error) {
	name = displayName(name)
	in, err := open(r, name)
	if err != nil {
		return ad.Mat{}, err
	}
	br := bufio.NewReader(in)
	if head, _ := br.Peek(len(utf8BOM)); bytes.Equal(head, utf8BOM) {
		br.Discard(len(utf8BOM))
	}
	cr := csv.NewReader(br)
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	cr.Comment = '#'
	cr.ReuseRecord = true

	var data []float64
	cols, rows, firstRow := -1, 0, 0
	hint := "" // for a header that looks like data with other separators
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return ad.Mat{}, csvError(name, err)
		}
		row, _ := cr.FieldPos(0)
		for i := range rec {
			rec[i] = strings.TrimSpace(rec[i])
		}
		if len(rec) == 1 && rec[0] == "" {
			continue // a line of spaces
		}
		if cols < 0 {
			cols, firstRow = len(rec), row
			header, err := isHeader(rec, name, row)
			if err != nil {
				return ad.Mat{}, err
			}
			if header {
				if len(rec) == 1 && strings.ContainsAny(rec[0], " \t;") {
					hint = " (fields must be separated by commas)"
				}
				continue
			}
		}
		if len(rec) != cols {
			return ad.Mat{}, fmt.Errorf("%s: row %d has %d column%s, want %d as in row %d", name, row, len(rec), plural(len(rec)), cols, firstRow)
		}
		for j, f := range rec {
			v, err := parseNumber(f)
			if err != nil {
				return ad.Mat{}, fmt.Errorf("%s: row %d, column %d: %w", name, row, j+1, err)
			}
			data = append(data, v)
		}
		rows++
	}
	switch {
	case cols < 0:
		return ad.Mat{}, fmt.Errorf("%s: empty: no header and no data rows", name)
	case rows == 0:
		return ad.Mat{}, fmt.Errorf("%s: no data rows after the header in row %d%s", name, firstRow, hint)
	}
	return ad.MatOf(rows, cols, data), nil
}

// plural returns "s" unless n is 1.
func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// isHeader applies ReadCSV's header rule to the first row, which is row
// number row of the file.
func isHeader(rec []string, name string, row int) (bool, error) {
	num, text := -1, -1 // first numeric and first non-numeric column
	for j, f := range rec {
		if _, err := strconv.ParseFloat(f, 64); err == nil || errors.Is(err, strconv.ErrRange) {
			if num < 0 {
				num = j
			}
		} else if text < 0 && f != "" {
			text = j
		}
	}
	switch {
	case num < 0:
		return true, nil
	case text < 0:
		return false, nil
	}
	return false, fmt.Errorf("%s: row %d, column %d: %q is not a number, but column %d holds the number %q; "+
		"the first row must be all names (a header) or all numbers (data)",
		name, row, text+1, rec[text], num+1, rec[num])
}

// parseNumber parses one data field.
func parseNumber(f string) (float64, error) {
	if f == "" {
		return 0, errors.New("empty field, want a number")
	}
	v, err := strconv.ParseFloat(f, 64)
	switch {
	case errors.Is(err, strconv.ErrRange):
		return 0, fmt.Errorf("%q is out of the range of float64; the data must be finite", f)
	case err != nil:
		if strings.ContainsAny(f, " \t;") {
			return 0, fmt.Errorf("%q is not a number (fields must be separated by commas)", f)
		}
		return 0, fmt.Errorf("%q is not a number", f)
	case math.IsNaN(v) || math.IsInf(v, 0):
		return 0, fmt.Errorf("%q is not finite; the data must be finite", f)
	}
	return v, nil
}

// csvError describes an error of encoding/csv in ReadCSV's terms.
func csvError(name string, err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: row %d, character %d: %v", name, pe.Line, pe.Column, pe.Err)
	}
	return ioError(name, err)
}

// WriteCSV writes m as CSV text: when header is true, first a line
// x1,x2,...,xD naming the columns, then one line per row with the values
// separated by commas and formatted by strconv.FormatFloat(v, 'g', -1, 64),
// the shortest text that ReadCSV reads back to the same float64. Lines end
// in "\n".
//
// It refuses an empty matrix and non-finite values, returning an error
// that gives the row and column, before writing anything.
func WriteCSV(w io.Writer, m ad.Mat, header bool) error {
	if err := checkWritable(m); err != nil {
		return err
	}
	bw := bufio.NewWriter(w)
	var line []byte
	if header {
		for j := range m.Cols {
			if j > 0 {
				line = append(line, ',')
			}
			line = append(line, 'x')
			line = strconv.AppendInt(line, int64(j+1), 10)
		}
		line = append(line, '\n')
		bw.Write(line)
	}
	for i := range m.Rows {
		line = line[:0]
		for j, v := range m.Row(i) {
			if j > 0 {
				line = append(line, ',')
			}
			line = strconv.AppendFloat(line, v, 'g', -1, 64)
		}
		line = append(line, '\n')
		if _, err := bw.Write(line); err != nil {
			return err
		}
	}
	return bw.Flush()
}
