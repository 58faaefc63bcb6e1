package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"scorematch/ssm"
)

// errHelp is returned when -h was asked for; the usage has been printed.
var errHelp = errors.New("help requested")

// newFlags returns a flag set that reports errors instead of exiting, and
// prints its usage on -h to w.
func newFlags(name, synopsis string, w io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {} // a parse error is reported in one line by parse
	helpers[fs] = func() {
		fmt.Fprintf(w, "usage: ssm %s\n\n", synopsis)
		fs.SetOutput(w)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
		if f := footers[fs]; f != nil {
			fmt.Fprintln(w)
			f(w)
		}
	}
	return fs
}

// footers holds what a flag set's usage prints after its flags.
var footers = map[*flag.FlagSet]func(io.Writer){}

// objectiveFlag defines the -objective flag of fs with the objectives of
// the registry that train the given model kinds (0: every kind), and
// lists them with their descriptions at the end of the usage.
func objectiveFlag(fs *flag.FlagSet, value string, kinds ssm.ModelKind) *string {
	var names []string
	var rows []ssm.Spec
	for _, s := range ssm.Specs() {
		if kinds == 0 || s.Models&kinds != 0 {
			names = append(names, s.Name)
			rows = append(rows, s)
		}
	}
	footers[fs] = func(w io.Writer) {
		fmt.Fprintln(w, "objectives:")
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		for _, s := range rows {
			fmt.Fprintf(tw, "  %s\t%s\tfor %v\n", s.Name, s.Doc, s.Models)
		}
		tw.Flush()
	}
	return fs.String("objective", value, "objective: "+strings.Join(names, ", "))
}

// helpers holds each flag set's full usage, printed on -h only.
var helpers = map[*flag.FlagSet]func(){}

// parse parses args, turning flag errors into input errors that name the
// flag, and -h into errHelp.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		defer delete(helpers, fs)
		defer delete(footers, fs)
		if errors.Is(err, flag.ErrHelp) {
			helpers[fs]()
			delete(helpers, fs)
			delete(footers, fs)
			return errHelp
		}
		return badInput("%v (see 'ssm %s -h')", err, fs.Name())
	}
	delete(helpers, fs)
	delete(footers, fs)
	if fs.NArg() > 0 {
		return badInput("unexpected argument %q (see 'ssm %s -h')", fs.Arg(0), fs.Name())
	}
	return nil
}
