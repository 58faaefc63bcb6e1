package main

import (
	"context"
	"fmt"
	"text/tabwriter"

	"scorematch/sampler"
)

func init() {
	register("datasets", "list the built-in datasets", runDatasets)
}

func runDatasets(ctx context.Context, e *env, args []string) error {
	fs := newFlags("datasets", "datasets", e.stdout)
	if err := parse(fs, args); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tDIM\tDENSITY\tDESCRIPTION")
	for _, d := range sampler.Datasets() {
		_, known := d.Dist.(sampler.LogDensity)
		density := "exact"
		if !known {
			density = "none"
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", d.Name, d.Dist.Dim(), density, d.Description)
	}
	return tw.Flush()
}
