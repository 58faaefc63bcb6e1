package dataio_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"scorematch/ad"
	"scorematch/cmd/ssm/internal/dataio"
)

func ExampleReadCSV() {
	in := "# two samples in 3 dimensions\nx,y,z\n1, 2.5, -3\n4e-1,0,6\n"
	m, err := dataio.ReadCSV(strings.NewReader(in), "points.csv")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(m.Rows, m.Cols, m.Data)
	// Output: 2 3 [1 2.5 -3 0.4 0 6]
}

func ExampleReadCSV_errors() {
	for _, in := range []string{
		"x,y\n1,2\n3\n",
		"x,y\n1,2\n3,abc\n",
		"x,y\n1,NaN\n",
	} {
		_, err := dataio.ReadCSV(strings.NewReader(in), "points.csv")
		fmt.Println(err)
	}
	// Output:
	// points.csv: row 3 has 1 column, want 2 as in row 1
	// points.csv: row 3, column 2: "abc" is not a number
	// points.csv: row 2, column 2: "NaN" is not finite; the data must be finite
}

func ExampleWrite() {
	dir, err := os.MkdirTemp("", "dataio-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)

	m := ad.MatOf(2, 2, []float64{0.1, 2, 3, 1e-300})
	for _, name := range []string{"samples.npy", "samples.csv"} {
		path := filepath.Join(dir, name)
		if err := dataio.Write(path, m); err != nil {
			fmt.Println(err)
			return
		}
		back, err := dataio.Read(path)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(name, back.Rows, back.Cols, back.Data)
	}
	csv, _ := os.ReadFile(filepath.Join(dir, "samples.csv"))
	fmt.Print(string(csv))
	// Output:
	// samples.npy 2 2 [0.1 2 3 1e-300]
	// samples.csv 2 2 [0.1 2 3 1e-300]
	// x1,x2
	// 0.1,2
	// 3,1e-300
}

func ExampleStandardize() {
	m := ad.MatOf(3, 2, []float64{
		1, 5,
		2, 5,
		3, 5,
	})
	mean, std := dataio.Standardize(m)
	fmt.Printf("mean %.3g std %.3g\n", mean, std)
	fmt.Printf("%.3f\n", m.Data)
	// Output:
	// mean [2 5] std [0.816 1]
	// [-1.225 0.000 0.000 0.000 1.225 0.000]
}
