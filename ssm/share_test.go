package ssm_test

import (
	"context"
	"math/rand/v2"
	"runtime"
	"testing"

	"scorematch/ad"
	"scorematch/ad/adtest"
	"scorematch/nn"
	"scorematch/ssm"
)

// sharedHashes are the hashes of TestSharedProductBits's weights, recorded
// on amd64 with the AVX-512 kernel: the purego build, which shares no
// product, must give them too.
var sharedHashes = map[string]uint64{
	"ssm-vr": 0x9db8e9c52610bfa8,
	"sse-vr": 0x85967a80f352638f,
	"dsm":    0x61872a438af3f4e0,
}

// TestSharedProductBits trains with three chunks of 64 rows and hidden
// layers of 256, so that a worker whose chunk ends early computes parts of
// the 64×256×256 products of the chunk still running (Workspace.Help): the
// weights must have the same bits for GOMAXPROCS 1, 2 and 8, and the
// recorded ones.
func TestSharedProductBits(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	const d = 32
	data := ad.MatOf(adtest.RandMat(rand.New(rand.NewPCG(11, 12)), 192, d, 1))
	train := func(name string) uint64 {
		rng := rand.New(rand.NewPCG(13, 14))
		var m nn.Model
		var err error
		if name == "sse-vr" {
			m, err = nn.NewScoreMLP(d, []int{256, 256}, "softplus", rng)
		} else {
			m, err = nn.NewEnergyMLP(d, []int{256, 256}, "softplus", rng)
		}
		if err != nil {
			t.Fatal(err)
		}
		obj, err := ssm.New(name, m, ssm.Options{Sigma: 0.1})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ssm.Train(context.Background(), obj, data, ssm.Config{BatchSize: 192, Steps: 4, Seed: 5, Chunks: 3}); err != nil {
			t.Fatal(err)
		}
		h := adtest.NewHash()
		for _, p := range m.Params() {
			h.Add(p.Value.Data...)
		}
		return h.Sum64()
	}
	for name, want := range sharedHashes {
		for _, procs := range []int{1, 2, 8} {
			runtime.GOMAXPROCS(procs)
			if got := train(name); got != want {
				t.Errorf("%s, GOMAXPROCS %d: weights hash to %#x, want %#x", name, procs, got, want)
			}
		}
	}
}
