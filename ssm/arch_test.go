package ssm_test

import (
	"context"
	"math"
	"testing"

	"scorematch/ad"
	"scorematch/ad/adtest"
	"scorematch/ad/repro"
	"scorematch/nn"
	"scorematch/sampler"
	"scorematch/ssm"
)

// archHashes are the hashes of TestArchHashes's results (adtest.Hash of the
// float64 bits), recorded on amd64. Every architecture must reproduce them:
// 386 (go test runs it natively), arm64 under qemu-aarch64, js/wasm under
// node; .ci/run runs the first two.
var archHashes = []struct {
	name string
	hash uint64
}{
	{"data", 0xd40b441c66843a13},
	{"ssm-vr", 0x8099a7e1d2d7e070},
	{"dsm", 0x0dbfea7db64b266f},
	{"ncsn", 0xf4b6866eb74c11ca},
	{"annealed langevin", 0xedd9e41f9d3bd1e0},
	{"mala", 0x44671c51569ca3a8},
	{"ais", 0xfd51effa2f9d0d24},
}

// TestArchHashes runs the pipeline end to end on small sizes: data drawn
// from the toy datasets (repro.Normal, rmath's sine and cosine), 20 Adam
// steps of SSM-VR with Gaussian projections (an energy net), DSM (a score
// net) and NCSN (a noise-conditional net on a geometric σ schedule, rmath's
// power), annealed Langevin dynamics on the NCSN, MALA on the energy net
// (step-size adaptation with rmath's exp and log) and an AIS estimate of
// its log Z, and compares hashes of the weights, samples and estimates
// with those recorded on amd64. A mismatch means that some result depends
// on the architecture: a product that Go fused into an addition (write
// float64(x*y) + z, or math.FMA where a fused operation is meant), or a
// function of the math package other than the correctly rounded ones
// (use package ad/rmath), or NormFloat64 (use repro.Normal).
func TestArchHashes(t *testing.T) {
	got := map[string]uint64{}
	hashMat := func(ms ...ad.Mat) uint64 {
		h := adtest.NewHash()
		for _, m := range ms {
			h.Add(m.Data...)
		}
		return h.Sum64()
	}
	hashParams := func(m nn.Model) uint64 {
		h := adtest.NewHash()
		for _, p := range m.Params() {
			h.Add(p.Value.Data...)
		}
		return h.Sum64()
	}

	banana, moons, ring := ad.NewMat(256, 2), ad.NewMat(64, 2), ad.NewMat(64, 2)
	sampler.NewBanana(2, 0.25).Sample(banana, repro.New(1, repro.Data, 0, 0))
	sampler.TwoMoons(0.1).Sample(moons, repro.New(1, repro.Data, 0, 1))
	sampler.EightGaussians().Sample(ring, repro.New(1, repro.Data, 0, 2))
	got["data"] = hashMat(banana, moons, ring)

	train := func(name string, m nn.Model, o ssm.Options) {
		t.Helper()
		obj, err := ssm.New(name, m, o)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ssm.Train(context.Background(), obj, banana, ssm.Config{BatchSize: 64, Steps: 20, Seed: 3, ValFrac: 0.25}); err != nil {
			t.Fatal(err)
		}
		got[name] = hashParams(m)
	}
	energy, err := nn.NewEnergyMLP(2, []int{16, 16}, "softplus", repro.New(1, repro.Init, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	train("ssm-vr", energy, ssm.Options{Projection: ssm.Gaussian})
	score, err := nn.NewScoreMLP(2, []int{16, 16}, "tanh", repro.New(1, repro.Init, 0, 1))
	if err != nil {
		t.Fatal(err)
	}
	train("dsm", score, ssm.Options{Sigma: 0.1})
	sigmas := sampler.GeometricSigmas(1, 0.01, 5)
	ncsn, err := nn.NewNCSN(2, []int{16, 16}, "silu", repro.New(1, repro.Init, 0, 2))
	if err != nil {
		t.Fatal(err)
	}
	train("ncsn", ncsn, ssm.Options{Sigmas: sigmas})

	x := ad.NewMat(32, 2)
	copy(x.Data, banana.Data)
	if err := (sampler.AnnealedLangevin{Sigmas: sigmas, Step: 1e-3, Steps: 5, Seed: 4}).Run(sampler.FromCondScore(ncsn), x); err != nil {
		t.Fatal(err)
	}
	got["annealed langevin"] = hashMat(x)

	density := sampler.FromEnergy(energy)
	copy(x.Data, banana.Data)
	tr, _, err := sampler.MALA{Step: 0.1, Warmup: 10, Draws: 10, Seed: 5}.Run(density, x.RowRange(0, 16))
	if err != nil {
		t.Fatal(err)
	}
	got["mala"] = adtest.NewHash().Add(tr.Data...).Sum64()

	res, err := sampler.AIS{BaseScale: 3, Temps: 10, Step: 0.1, Leapfrog: 2, Chains: 8, Seed: 6}.Run(density)
	if err != nil {
		t.Fatal(err)
	}
	if math.IsNaN(res.LogZ) || math.IsInf(res.LogZ, 0) {
		t.Fatalf("AIS: log Z = %v", res.LogZ)
	}
	got["ais"] = adtest.NewHash().Add(res.LogZ, res.StdErr, res.AcceptRate).Add(res.LogWeights...).Sum64()

	for _, w := range archHashes {
		if got[w.name] != w.hash {
			t.Errorf("%s: hash %#016x, want %#016x (recorded on amd64)", w.name, got[w.name], w.hash)
		}
	}
}
