package ssm

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"scorematch/ad/adtest"
	"scorematch/ad/rmath"
	"scorematch/nn"
)

// TestScheduleLR checks Schedule.LR against rates worked out by hand.
func TestScheduleLR(t *testing.T) {
	for _, c := range []struct {
		name  string
		sc    Schedule
		base  float64
		steps int
		want  []float64
	}{
		{"zero", Schedule{}, 0.5, 3, []float64{0.5, 0.5, 0.5}},
		{"constant warm-up", Schedule{Warmup: 4}, 2, 6, []float64{0.5, 1, 1.5, 2, 2, 2}},
		{"linear", Schedule{Decay: LinearLR, FinalLR: 0.2}, 1, 5, []float64{1, 0.8, 0.6, 0.4, 0.2}},
		{"linear warm-up", Schedule{Decay: LinearLR, Warmup: 2}, 1, 7, []float64{0.5, 1, 1, 0.75, 0.5, 0.25, 0}},
		{"cosine", Schedule{Decay: CosineLR, FinalLR: 1}, 3, 5, []float64{3, 2 + math.Sqrt2/2, 2, 2 - math.Sqrt2/2, 1}},
		{"cosine warm-up", Schedule{Decay: CosineLR, Warmup: 1}, 4, 4, []float64{4, 4, 2, 0}},
		{"one step", Schedule{Decay: CosineLR, FinalLR: 0.1}, 1, 1, []float64{0.1}},
		{"warm-up to the end", Schedule{Decay: LinearLR, Warmup: 2, FinalLR: 0.1}, 1, 3, []float64{0.5, 1, 0.1}},
		{"warm-up past the end", Schedule{Decay: LinearLR, Warmup: 4}, 1, 2, []float64{0.25, 0.5}},
	} {
		for s, want := range c.want {
			if got := c.sc.LR(c.base, s, c.steps); math.Abs(got-want) > 1e-15*c.base {
				t.Errorf("%s: step %d of %d: rate %v, want %v", c.name, s, c.steps, got, want)
			}
		}
	}
}

// scheduledRate is the Schedule formula written out again, for the rates
// Train must use: the warm-up, then p from 0 to 1 over the rest.
func scheduledRate(sc Schedule, base float64, s, steps int) float64 {
	if s < sc.Warmup {
		return base * float64(s+1) / float64(sc.Warmup)
	}
	p := 1.0
	if steps-1 > sc.Warmup {
		p = float64(s-sc.Warmup) / float64(steps-1-sc.Warmup)
	}
	switch sc.Decay {
	case CosineLR:
		return sc.FinalLR + float64((base-sc.FinalLR)*(0.5*(1+rmath.Cos(math.Pi*p))))
	case LinearLR:
		return sc.FinalLR + float64((base-sc.FinalLR)*(1-p))
	}
	return base
}

// TestScheduleTrain: for each of nn's optimisers, Train's Progress reports
// the formula's rate at every step, bit for bit, and the weights are those
// of a run without a schedule whose optimiser's LR is set to the same
// rates by hand before each step; the optimiser's LR is the base rate
// again after Train, and a schedule changes the weights.
func TestScheduleTrain(t *testing.T) {
	const steps = 17
	sc := Schedule{Decay: CosineLR, Warmup: 3, FinalLR: 1e-4}
	for _, c := range []struct {
		name string
		opt  func(lr float64) nn.Optimizer
		base float64
	}{
		{"SGD", func(lr float64) nn.Optimizer { o := nn.NewSGD(lr); o.Momentum = 0.9; return o }, 0.05},
		{"Adam", func(lr float64) nn.Optimizer { o := nn.NewAdam(); o.LR = lr; return o }, 0.01},
		{"RMSProp", func(lr float64) nn.Optimizer { o := nn.NewRMSProp(); o.LR = lr; return o }, 0.005},
		{"linear Adam", func(lr float64) nn.Optimizer { o := nn.NewAdam(); o.LR = lr; return o }, 0.01},
	} {
		t.Run(c.name, func(t *testing.T) {
			sc := sc
			if c.name == "linear Adam" {
				sc.Decay = LinearLR
			}
			opt := c.opt(c.base)
			var rates []float64
			cfg := Config{BatchSize: 64, Steps: steps, Seed: 3, Optimizer: opt, Schedule: sc,
				Progress: func(p Progress) { rates = append(rates, p.LR) }}
			got, _, err := trainMLP(t, cfg)
			if err != nil {
				t.Fatal(err)
			}
			want := make([]float64, steps)
			for s := range want {
				want[s] = scheduledRate(sc, c.base, s, steps)
			}
			if !adtest.SameBits(rates, want) {
				t.Errorf("rates %v, want %v", rates, want)
			}
			if lr := *learningRate(opt); lr != c.base {
				t.Errorf("after Train the optimiser's LR is %v, want the base %v", lr, c.base)
			}

			byHand := c.opt(want[0])
			hand := learningRate(byHand)
			cfg = Config{BatchSize: 64, Steps: steps, Seed: 3, Optimizer: byHand,
				Progress: func(p Progress) {
					if p.Step < steps {
						*hand = want[p.Step]
					}
				}}
			ref, _, err := trainMLP(t, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if !adtest.SameBits(got, ref) {
				t.Error("the scheduled run's weights differ from those of the rates set by hand")
			}
			plain, _, err := trainMLP(t, Config{BatchSize: 64, Steps: steps, Seed: 3, Optimizer: c.opt(c.base)})
			if err != nil {
				t.Fatal(err)
			}
			if adtest.SameBits(got, plain) {
				t.Error("the schedule changed nothing: the comparison is vacuous")
			}
		})
	}
}

// TestScheduleResume: a run with a warm-up, a cosine decay, a moving
// average and validation, interrupted at step 13 of 30 and resumed from
// its checkpoint, ends with the weights and history of the uninterrupted
// run. A resume that plans other steps, or another schedule, is refused
// naming Config.Schedule; a checkpoint without the setting (older files)
// resumes with the zero Schedule only.
func TestScheduleResume(t *testing.T) {
	opt := func() nn.Optimizer { o := nn.NewAdam(); o.LR = 0.01; return o }
	cfg := Config{BatchSize: 50, Steps: 30, Seed: 5, ValFrac: 0.2, EvalEvery: 5, Patience: 100, EMA: 0.8,
		Optimizer: opt(), Schedule: Schedule{Decay: CosineLR, Warmup: 4, FinalLR: 1e-3}}
	want, wantRes, err := trainMLP(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ck := cfg
	ck.Optimizer = opt()
	ck.Checkpoint = filepath.Join(t.TempDir(), "ck.safetensors")
	ck.Resume = true
	ctx, cancel := context.WithCancel(context.Background())
	ck.Progress = func(p Progress) {
		if p.Step == 13 {
			cancel()
		}
	}
	rng := rand.New(rand.NewPCG(8, 8)) // trainMLP's model and data
	m, _ := nn.NewEnergyMLP(3, []int{16, 16}, "softplus", rng)
	x, _ := gaussianData(rng, 300, 3)
	obj, _ := New("ssm-vr", m, Options{})
	if res, err := Train(ctx, obj, x, ck); !errors.Is(err, context.Canceled) || res.Steps != 13 {
		t.Fatalf("interrupted run: err %v after %d steps", err, res.Steps)
	}
	_, meta, err := nn.ReadSafetensors(ck.Checkpoint)
	if err != nil {
		t.Fatal(err)
	}
	if s, o := meta["Config.Schedule"], meta["Config.Optimizer"]; s != "cosine warmup=4 final=0.001 steps=30" ||
		o != "*nn.Adam{LR: 0.01, Beta1: 0.9, Beta2: 0.999, Eps: 1e-08, WeightDecay: 0}" {
		t.Errorf("the checkpoint records the schedule %q and the optimiser %q", s, o)
	}
	ck.Progress = nil
	for _, c := range []struct {
		name   string
		change func(*Config)
	}{
		{"more steps", func(c *Config) { c.Steps = 40 }},
		{"another final rate", func(c *Config) { c.Schedule.FinalLR = 2e-3 }},
		{"another warm-up", func(c *Config) { c.Schedule.Warmup = 5 }},
		{"linear", func(c *Config) { c.Schedule.Decay = LinearLR }},
		{"none", func(c *Config) { c.Schedule = Schedule{} }},
	} {
		other := ck
		other.Optimizer = opt()
		c.change(&other)
		var re *ResumeError
		if _, _, err := trainMLP(t, other); !errors.As(err, &re) || len(re.Diffs) != 1 || re.Diffs[0].Setting != "Config.Schedule" {
			t.Errorf("%s: resume: %v, want a *ResumeError naming only Config.Schedule", c.name, err)
		}
	}
	ck.Optimizer = opt()
	got, gotRes, err := trainMLP(t, ck)
	if err != nil {
		t.Fatal(err)
	}
	if !adtest.SameBits(got, want) || !adtest.SameBits(gotRes.Loss, wantRes.Loss) ||
		!adtest.SameBits(gotRes.ValLoss, wantRes.ValLoss) || gotRes.BestStep != wantRes.BestStep {
		t.Error("the resumed run differs from the uninterrupted one")
	}

	// An older checkpoint, without the setting, holds a run without a schedule.
	old := Config{BatchSize: 50, Steps: 10, Seed: 5, Optimizer: opt(), Checkpoint: filepath.Join(t.TempDir(), "old.safetensors"), Resume: true}
	if _, _, err := trainMLP(t, old); err != nil {
		t.Fatal(err)
	}
	ts, meta, err := nn.ReadSafetensors(old.Checkpoint)
	if err != nil {
		t.Fatal(err)
	}
	delete(meta, "Config.Schedule")
	if err := nn.WriteSafetensors(old.Checkpoint, ts, meta); err != nil {
		t.Fatal(err)
	}
	old.Steps, old.Optimizer = 12, opt()
	if _, res, err := trainMLP(t, old); err != nil || res.Steps != 12 {
		t.Errorf("resuming an older checkpoint without a schedule: %v", err)
	}
	old.Steps, old.Optimizer, old.Schedule = 14, opt(), Schedule{Decay: LinearLR}
	var re *ResumeError
	if _, _, err := trainMLP(t, old); !errors.As(err, &re) || re.Diffs[0].Setting != "Config.Schedule" || re.Diffs[0].Saved != "constant" {
		t.Errorf("resuming an older checkpoint with a schedule: %v, want a *ResumeError naming Config.Schedule", err)
	}
}

// fixedRate is an optimiser Train cannot set the rate of.
type fixedRate struct{ nn.Optimizer }

// TestScheduleErrors checks the *ConfigError of each invalid schedule.
func TestScheduleErrors(t *testing.T) {
	nan := math.NaN()
	adam := nn.NewAdam() // LR 1e-3
	for _, c := range []struct {
		sc   Schedule
		opt  nn.Optimizer
		want string
	}{
		{Schedule{Decay: 3}, adam, "Config.Schedule.Decay"},
		{Schedule{Decay: -1}, adam, "Config.Schedule.Decay"},
		{Schedule{Warmup: -1}, adam, "Config.Schedule.Warmup"},
		{Schedule{FinalLR: 1e-4}, adam, "Config.Schedule.FinalLR"},
		{Schedule{Decay: CosineLR, FinalLR: -1e-4}, adam, "Config.Schedule.FinalLR"},
		{Schedule{Decay: LinearLR, FinalLR: 2e-3}, adam, "Config.Schedule.FinalLR"},
		{Schedule{Decay: CosineLR, FinalLR: nan}, adam, "Config.Schedule.FinalLR"},
		{Schedule{Decay: CosineLR, FinalLR: math.Inf(1)}, adam, "Config.Schedule.FinalLR"},
		{Schedule{Warmup: 5}, fixedRate{nn.NewAdam()}, "Config.Schedule"},
	} {
		err := Config{Optimizer: c.opt, Schedule: c.sc}.Validate()
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Setting() != c.want {
			t.Errorf("%+v: error %v, want a *ConfigError for %s", c.sc, err, c.want)
		}
	}
	for _, sc := range []Schedule{{}, {Warmup: 10}, {Decay: CosineLR}, {Decay: LinearLR, FinalLR: 1e-3}} {
		if err := (Config{Optimizer: adam, Schedule: sc}).Validate(); err != nil {
			t.Errorf("%+v: %v", sc, err)
		}
	}
	if err := (Config{Optimizer: fixedRate{nn.NewAdam()}}).Validate(); err != nil {
		t.Errorf("the zero Schedule with another optimiser: %v", err)
	}
	if got, err := ParseDecay("cosine"); err != nil || got != CosineLR || got.String() != "cosine" {
		t.Errorf("ParseDecay(cosine) = %v, %v", got, err)
	}
	if _, err := ParseDecay("step"); err == nil {
		t.Error("ParseDecay(step) succeeded")
	}
}

// The rates of a 10-step run with a 2-step warm-up and a cosine decay
// from 0.01 to 0.001.
func ExampleSchedule() {
	sc := Schedule{Decay: CosineLR, Warmup: 2, FinalLR: 1e-3}
	for s := range 10 {
		fmt.Printf("%.5f\n", sc.LR(1e-2, s, 10))
	}
	// Output:
	// 0.00500
	// 0.01000
	// 0.01000
	// 0.00955
	// 0.00831
	// 0.00650
	// 0.00450
	// 0.00269
	// 0.00145
	// 0.00100
}
