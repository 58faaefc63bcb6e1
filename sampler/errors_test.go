package sampler

import (
	"errors"
	"math"
	"testing"

	"scorematch/ad"
)

// TestConfigErrors checks that every sampler reports each invalid setting
// as a *ConfigError naming it, before doing any work.
func TestConfigErrors(t *testing.T) {
	d := NCSNMixture()
	x := func() ad.Mat { return ad.NewMat(4, d.Dim()) }
	nan, inf := math.NaN(), math.Inf(1)
	ais := AIS{BaseScale: 1, Temps: 2, Step: 0.1, Leapfrog: 1, Chains: 4}
	hmc := HMC{Step: 0.1, Leapfrog: 2, Draws: 1}
	mala := MALA{Step: 0.1, Draws: 1}
	langevin := Langevin{Step: 0.1, Steps: 1}
	annealed := AnnealedLangevin{Sigmas: []float64{1, 0.1}, Step: 0.1, Steps: 1}
	for _, c := range []struct {
		setting string
		f       func() error
	}{
		{"Langevin.Step", func() error { l := langevin; l.Step = 0; return l.Run(d, x()) }},
		{"Langevin.Step", func() error { l := langevin; l.Step = inf; return l.Run(d, x()) }},
		{"Langevin.Steps", func() error { l := langevin; l.Steps = -1; return l.Run(d, x()) }},
		{"Langevin.Chunks", func() error { l := langevin; l.Chunks = -2; return l.Run(d, x()) }},
		{"AnnealedLangevin.Sigmas", func() error { a := annealed; a.Sigmas = nil; return a.Run(d, x()) }},
		{"AnnealedLangevin.Sigmas", func() error { a := annealed; a.Sigmas = []float64{1, nan}; return a.Run(d, x()) }},
		{"AnnealedLangevin.Step", func() error { a := annealed; a.Step = nan; return a.Run(d, x()) }},
		{"MALA.Step", func() error { m := mala; m.Step = -1; _, _, err := m.Run(d, x()); return err }},
		{"MALA.Warmup", func() error { m := mala; m.Warmup = -1; _, _, err := m.Run(d, x()); return err }},
		{"MALA.Draws", func() error { m := mala; m.Draws = -1; _, _, err := m.Run(d, x()); return err }},
		{"MALA.Thin", func() error { m := mala; m.Thin = -1; _, _, err := m.Run(d, x()); return err }},
		{"MALA.TargetAccept", func() error { m := mala; m.TargetAccept = 1; _, _, err := m.Run(d, x()); return err }},
		{"HMC.Leapfrog", func() error { h := hmc; h.Leapfrog = 0; _, _, err := h.Run(d, x()); return err }},
		{"HMC.Jitter", func() error { h := hmc; h.Jitter = nan; _, _, err := h.Run(d, x()); return err }},
		{"HMC.Chunks", func() error { h := hmc; h.Chunks = -1; _, _, err := h.Run(d, x()); return err }},
		{"AIS.Temps", func() error { a := ais; a.Temps = 0; _, err := a.Run(d); return err }},
		{"AIS.Betas", func() error { a := ais; a.Betas = []float64{0, 0.7, 0.5, 1}; _, err := a.Run(d); return err }},
		{"AIS.BaseScale", func() error { a := ais; a.BaseScale = inf; _, err := a.Run(d); return err }},
		{"AIS.Step", func() error { a := ais; a.Step = 0; _, err := a.Run(d); return err }},
		{"AIS.Leapfrog", func() error { a := ais; a.Leapfrog = 0; _, err := a.Run(d); return err }},
		{"AIS.Chains", func() error { a := ais; a.Chains = 1; _, err := a.Run(d); return err }},
		{"AIS.PilotChains", func() error { a := ais; a.PilotChains = -1; _, err := a.Run(d); return err }},
		{"AIS.TargetAccept", func() error { a := ais; a.TargetAccept = nan; _, err := a.Run(d); return err }},
		{"AIS.Chunks", func() error { a := ais; a.Chunks = -1; _, err := a.Run(d); return err }},
	} {
		var ce *ConfigError
		err := c.f()
		if !errors.As(err, &ce) || ce.Setting() != c.setting {
			t.Errorf("%s: error %v, want a *ConfigError for it", c.setting, err)
		}
	}
	// The valid settings run.
	if err := langevin.Run(d, x()); err != nil {
		t.Error(err)
	}
	if _, _, err := hmc.Run(d, x()); err != nil {
		t.Error(err)
	}
	if _, err := ais.Run(d); err != nil {
		t.Error(err)
	}
}
