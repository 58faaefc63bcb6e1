// Command ssm trains, samples and evaluates score-matching models.
//
// Run with no arguments, it trains an MLP energy net by sliced score
// matching (SSM-VR) on a built-in 2-D dataset with a known density, samples
// it by annealed Langevin dynamics, and writes plots, the model and a report
// to ./ssm-out/. Subcommands:
//
//	ssm train      fit a model to data (built-in, CSV, .npy or IDX images)
//	ssm sample     draw samples from a model or a dataset's exact score
//	ssm eval       held-out objective values, exact SM loss, log-likelihood
//	               (for a score SDE's model: the probability-flow NLL)
//	ssm vae        train a VAE with an implicit encoder; its test NLL by AIS
//	ssm wae        train a Wasserstein auto-encoder; test NLL, codes' MMD²
//	ssm loss       one objective on given x, v, ε as JSON (PyTorch cross-check)
//	ssm bench      time per training step of every objective against D
//	ssm gradcheck  finite-difference check of a model's objective gradients
//	ssm datasets   list the built-in datasets
//	ssm version    version and the active matrix-multiply kernel
//
// Each subcommand takes -h. Exit status: 0 on success, 2 for bad input (a
// flag, a file, a shape), 1 for a failure while running, 130 when
// interrupted by SIGINT or SIGTERM (training writes its checkpoint first).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

// A command is one subcommand.
type command struct {
	summary string
	run     func(ctx context.Context, env *env, args []string) error
}

// env is what a command may touch: its output streams and working directory.
type env struct {
	stdout, stderr io.Writer
	dir            string // working directory for relative default outputs
	tty            bool   // stderr is a terminal: draw a progress bar
}

var commands = map[string]command{}

func register(name, summary string, run func(ctx context.Context, env *env, args []string) error) {
	commands[name] = command{summary, run}
}

// inputError marks a failure caused by the user's input: exit status 2.
type inputError struct{ err error }

func (e inputError) Error() string { return e.err.Error() }
func (e inputError) Unwrap() error { return e.err }

// badInput wraps a formatted error as an input error.
func badInput(format string, args ...any) error {
	return inputError{fmt.Errorf(format, args...)}
}

// asInput marks err (if not nil) as an input error.
func asInput(err error) error {
	if err == nil {
		return nil
	}
	return inputError{err}
}

// errInterrupted reports a run stopped by SIGINT after saving its state.
var errInterrupted = errors.New("interrupted")

func main() {
	// SIGTERM (a scheduler's stop, kill) ends a run as SIGINT does: the
	// training writes its checkpoint and the command exits with 130.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	dir, _ := os.Getwd()
	os.Exit(run(ctx, &env{stdout: os.Stdout, stderr: os.Stderr, dir: dir, tty: isTerminal(os.Stderr)}, os.Args[1:]))
}

// run executes the command line args and returns the exit status.
func run(ctx context.Context, e *env, args []string) int {
	name := "demo"
	if len(args) > 0 {
		name, args = args[0], args[1:]
	}
	switch name {
	case "-h", "-help", "--help", "help":
		usage(e.stdout)
		return 0
	}
	if len(name) > 0 && name[0] == '-' { // flags of the default run
		name, args = "demo", append([]string{name}, args...)
	}
	c, ok := commands[name]
	if !ok {
		fmt.Fprintf(e.stderr, "ssm: unknown command %q; run 'ssm help' for the list\n", name)
		return 2
	}
	err := c.run(ctx, e, args)
	var in inputError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errHelp):
		return 0
	case errors.Is(err, errInterrupted) || errors.Is(err, context.Canceled):
		fmt.Fprintf(e.stderr, "ssm %s: interrupted\n", name)
		return 130
	case errors.As(err, &in):
		fmt.Fprintf(e.stderr, "ssm %s: %v\n", name, err)
		return 2
	default:
		fmt.Fprintf(e.stderr, "ssm %s: %v\n", name, err)
		return 1
	}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: ssm [command] [flags]   (no command: the built-in demo)")
	fmt.Fprintln(w, "\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'ssm <command> -h' for a command's flags.")
}
