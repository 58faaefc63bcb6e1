package ssm

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"scorematch/ad"
	"scorematch/ad/adtest"
	"scorematch/nn"
)

// TestStepAllocs checks that a steady-state training step (objective,
// gradient, chunk reduction, Adam update) allocates nothing.
func TestStepAllocs(t *testing.T) {
	if adtest.RaceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	defer func(r int) { runtime.MemProfileRate = r }(runtime.MemProfileRate)
	runtime.MemProfileRate = 1
	for _, name := range []string{"grad", "ssm", "ssm-vr", "sm", "dsm", "sse", "sse-vr", "approx-bp", "cp"} {
		rng := rand.New(rand.NewPCG(1, 1))
		var m nn.Model
		if name == "sse" || name == "sse-vr" {
			m, _ = nn.NewScoreMLP(6, []int{16, 16}, "softplus", rng)
		} else {
			m, _ = nn.NewEnergyMLP(6, []int{16, 16}, "softplus", rng)
		}
		obj, err := New(name, m, Options{Sigma: 0.1, Group: 4})
		if err != nil {
			t.Fatal(err)
		}
		checkStepAllocs(t, name, obj, ad.MatOf(adtest.RandMat(rng, 40, 6, 1)))
	}
}

// checkStepAllocs takes 50 steady-state training steps of obj on data
// (after 3 that size every buffer: each tape owns its GEMM workspace) and
// reports any allocation in this module's code. The caller sets
// runtime.MemProfileRate to 1.
func checkStepAllocs(t *testing.T, name string, obj Objective, data ad.Mat) {
	t.Helper()
	cfg := Config{Chunks: 4, Optimizer: nn.NewAdam()}
	cfg.defaults()
	tr := newTrainer(obj, data, cfg)
	defer tr.pool.Close()
	tr.rows = make([]int, data.Rows)
	for i := range tr.rows {
		tr.rows[i] = i
	}
	s := 0
	step := func() {
		if _, err := tr.trainStep(1, uint64(s)); err != nil {
			t.Fatal(err)
		}
		s++
	}
	for range 3 {
		step()
	}
	before := ourAllocs()
	for range 50 {
		step()
	}
	for fn, n := range ourAllocs() {
		if n > before[fn] {
			t.Errorf("%s: %d allocations in 50 steps at %s", name, n-before[fn], fn)
		}
	}
}

// ourAllocs returns, for every allocation site under this module's code,
// the number of objects allocated there so far, keyed by the innermost
// scorematch function of its stack. The allocation counters of the Go
// runtime (MemStats, AllocsPerRun) are process-wide and pick up the
// runtime's own occasional allocations (starting GC workers); the memory
// profile tells them apart. It needs MemProfileRate = 1 and reads the
// profile after two collections, which publish every record.
func ourAllocs() map[string]int64 {
	runtime.GC()
	runtime.GC()
	n, _ := runtime.MemProfile(nil, true)
	recs := make([]runtime.MemProfileRecord, n+100)
	n, _ = runtime.MemProfile(recs, true)
	out := map[string]int64{}
	for _, r := range recs[:n] {
		frames := runtime.CallersFrames(r.Stack())
		for {
			f, more := frames.Next()
			if f.Function == "runtime.acquireSudog" {
				// A goroutine blocking on a channel takes a sudog from
				// the runtime's cache, which every GC empties; the forced
				// collections above make the next receive refill it.
				break
			}
			if strings.HasPrefix(f.Function, "scorematch/") && !strings.HasSuffix(f.File, "_test.go") {
				out[fmt.Sprintf("%s (%s:%d)", f.Function, filepath.Base(f.File), f.Line)] += r.AllocObjects
				break
			}
			if !more {
				break
			}
		}
	}
	return out
}
