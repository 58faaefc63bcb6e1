package main

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"

	"scorematch/ad"
)

func init() {
	register("version", "print the version and the active matrix-multiply kernel", runVersion)
}

func runVersion(ctx context.Context, e *env, args []string) error {
	fs := newFlags("version", "version", e.stdout)
	if err := parse(fs, args); err != nil {
		return err
	}
	v := "(devel)"
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		v = bi.Main.Version
	}
	fmt.Fprintf(e.stdout, "ssm %s %s %s/%s, kernels %s, GOMAXPROCS %d\n", v, runtime.Version(), runtime.GOOS, runtime.GOARCH, ad.Kernel(), runtime.GOMAXPROCS(0))
	return nil
}
