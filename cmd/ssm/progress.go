package main

import (
	"fmt"
	"log/slog"
	"math"
	"strings"
	"time"

	"scorematch/ssm"
)

// progress reports training: a bar with an ETA on a terminal, or a log line
// every twentieth of the run otherwise.
type progress struct {
	e     *env
	start time.Time
	log   *slog.Logger
	every int
	last  time.Time
}

func newProgress(e *env, steps int) *progress {
	return &progress{e: e, start: time.Now(), log: slog.New(slog.NewTextHandler(e.stderr, nil)), every: max(1, steps/20)}
}

// step is a ssm.Config.Progress callback.
func (p *progress) step(s ssm.Progress) {
	elapsed := time.Since(p.start).Seconds()
	eta := elapsed / float64(s.Step) * float64(s.Steps-s.Step)
	if p.e.tty {
		if time.Since(p.last) < 100*time.Millisecond && s.Step < s.Steps {
			return
		}
		p.last = time.Now()
		const width = 30
		done := width * s.Step / max(1, s.Steps)
		bar := strings.Repeat("=", done) + strings.Repeat(" ", width-done)
		val := ""
		if !math.IsNaN(s.BestVal) {
			val = fmt.Sprintf(" best val %.4f", s.BestVal)
		}
		fmt.Fprintf(p.e.stderr, "\r[%s] %d/%d loss %.4f%s ETA %s ", bar, s.Step, s.Steps, s.Loss, val, fmtDuration(eta))
		if s.Step == s.Steps {
			fmt.Fprintln(p.e.stderr)
		}
		return
	}
	if s.Step%p.every != 0 && s.Step != s.Steps {
		return
	}
	attrs := []any{"step", s.Step, "of", s.Steps, "loss", round4(s.Loss)}
	if !math.IsNaN(s.ValLoss) {
		attrs = append(attrs, "val", round4(s.ValLoss))
	}
	attrs = append(attrs, "eta", fmtDuration(eta))
	p.log.Info("train", attrs...)
}

// done ends the bar line if training stopped early.
func (p *progress) done() {
	if p.e.tty {
		fmt.Fprintln(p.e.stderr)
	}
}

func round4(v float64) float64 { return math.Round(v*1e4) / 1e4 }
