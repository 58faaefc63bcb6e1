package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
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
	}
	return fs
}

// helpers holds each flag set's full usage, printed on -h only.
var helpers = map[*flag.FlagSet]func(){}

// parse parses args, turning flag errors into input errors that name the
// flag, and -h into errHelp.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		defer delete(helpers, fs)
		if errors.Is(err, flag.ErrHelp) {
			helpers[fs]()
			delete(helpers, fs)
			return errHelp
		}
		return badInput("%v (see 'ssm %s -h')", err, fs.Name())
	}
	delete(helpers, fs)
	if fs.NArg() > 0 {
		return badInput("unexpected argument %q (see 'ssm %s -h')", fs.Arg(0), fs.Name())
	}
	return nil
}
