package ssm

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"scorematch/nn"
)

// TestConfigErrors checks that every invalid setting of a Config or of an
// objective's Options is reported as a *ConfigError naming it.
func TestConfigErrors(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	for _, c := range []struct {
		cfg     Config
		setting string
	}{
		{Config{BatchSize: -1}, "Config.BatchSize"},
		{Config{BatchSize: 4, Chunks: 5}, "Config.Chunks"},
		{Config{Chunks: -1}, "Config.Chunks"},
		{Config{Steps: -1}, "Config.Steps"},
		{Config{Epochs: -2}, "Config.Epochs"},
		{Config{ValFrac: 1}, "Config.ValFrac"},
		{Config{ValFrac: nan}, "Config.ValFrac"},
		{Config{EvalEvery: -1}, "Config.EvalEvery"},
		{Config{Patience: -1}, "Config.Patience"},
		{Config{CheckpointEvery: -1}, "Config.CheckpointEvery"},
		{Config{ClipNorm: nan}, "Config.ClipNorm"},
		{Config{ClipNorm: inf}, "Config.ClipNorm"},
		{Config{EMA: 1}, "Config.EMA"},
		{Config{EMA: -0.1}, "Config.EMA"},
		{Config{EMA: nan}, "Config.EMA"},
		{Config{Optimizer: &nn.SGD{LR: 0.1, Momentum: nan}}, "SGD.Momentum"},
	} {
		err := c.cfg.defaults()
		if s := setting(err); s != c.setting {
			t.Errorf("%+v: error %v names %q, want %q", c.cfg, err, s, c.setting)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	e, _ := nn.NewEnergyMLP(2, []int{3}, "softplus", rng)
	for _, c := range []struct {
		name    string
		opts    Options
		setting string
	}{
		{"ssm", Options{M: -1}, "Options.M"},
		{"sm", Options{Group: -3}, "Options.Group"},
		{"dsm", Options{}, "Options.Sigma"},
		{"dsm", Options{Sigma: nan}, "Options.Sigma"},
		{"dsm", Options{Sigma: inf}, "Options.Sigma"},
	} {
		_, err := New(c.name, e, c.opts)
		if s := setting(err); s != c.setting {
			t.Errorf("New(%q, %+v): error %v names %q, want %q", c.name, c.opts, err, s, c.setting)
		}
	}
	ncsn, _ := nn.NewNCSN(2, []int{3}, "softplus", rng)
	for _, sig := range [][]float64{nil, {1, 1}, {0.5, 1}, {inf, 1}, {1, nan}, {1, 0}} {
		_, err := New("ncsn", ncsn, Options{Sigmas: sig})
		if s := setting(err); s != "Options.Sigmas" {
			t.Errorf("ncsn with σ %v: error %v names %q, want Options.Sigmas", sig, err, s)
		}
	}
}

// setting returns the setting a configuration error names, or "".
func setting(err error) string {
	var s interface{ Setting() string }
	if errors.As(err, &s) {
		return s.Setting()
	}
	return ""
}
