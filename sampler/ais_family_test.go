package sampler

import (
	"errors"
	"math"
	"runtime"
	"strings"
	"testing"

	"scorematch/ad"
)

// gaussFamily is a family of isotropic Gaussian bumps: member m is
// p̃ₘ(x) = exp(cₘ − |x − μₘ|²/(2σₘ²)), with log Z = cₘ + (D/2)log(2πσₘ²).
// Member nanScore (if ≥ 0) has a NaN score everywhere, so that every HMC
// proposal is rejected; member nanDensity (if ≥ 0) has a NaN log-density.
type gaussFamily struct {
	mu                   [][]float64
	sigma, c             []float64
	nanScore, nanDensity int
}

// newGaussFamily returns n members in D dimensions with spread-out means,
// widths and offsets, none broken.
func newGaussFamily(n, dim int) *gaussFamily {
	f := &gaussFamily{nanScore: -1, nanDensity: -1}
	for m := range n {
		mu := make([]float64, dim)
		for i := range mu {
			mu[i] = 0.3 * float64((m+2*i)%5-2)
		}
		f.mu = append(f.mu, mu)
		f.sigma = append(f.sigma, 0.4+0.15*float64(m%4))
		f.c = append(f.c, float64(m)-1.5)
	}
	return f
}

func (f *gaussFamily) Dim() int { return len(f.mu[0]) }
func (f *gaussFamily) Len() int { return len(f.mu) }

func (f *gaussFamily) logZ(m int) float64 {
	return f.c[m] + 0.5*float64(f.Dim())*math.Log(2*math.Pi*f.sigma[m]*f.sigma[m])
}

func (f *gaussFamily) NewFamilyFunc() FamilyFunc {
	return func(logp []float64, score, x ad.Mat, member []int) {
		checkLogDensity("gaussFamily", logp, score, x, f.Dim())
		for b, m := range member {
			s2 := f.sigma[m] * f.sigma[m]
			q := 0.0
			for i, v := range x.Row(b) {
				d := v - f.mu[m][i]
				q += float64(d * d)
				if len(score.Data) > 0 {
					score.Set(b, i, -d/s2)
					if m == f.nanScore {
						score.Set(b, i, math.NaN())
					}
				}
			}
			logp[b] = f.c[m] - 0.5*q/s2
			if m == f.nanDensity {
				logp[b] = math.NaN()
			}
		}
	}
}

// sameAIS reports the first difference, bit for bit, between two AIS
// results, or "".
func sameAIS(a, b AISResult) string {
	same := func(x, y float64) bool { return math.Float64bits(x) == math.Float64bits(y) }
	switch {
	case !same(a.LogZ, b.LogZ):
		return "LogZ"
	case !same(a.StdErr, b.StdErr):
		return "StdErr"
	case !same(a.WeightESS, b.WeightESS):
		return "WeightESS"
	case !same(a.AcceptRate, b.AcceptRate):
		return "AcceptRate"
	case len(a.LogWeights) != len(b.LogWeights) || len(a.Steps) != len(b.Steps):
		return "lengths"
	}
	for i := range a.LogWeights {
		if !same(a.LogWeights[i], b.LogWeights[i]) {
			return "LogWeights"
		}
	}
	for i := range a.Steps {
		if !same(a.Steps[i], b.Steps[i]) {
			return "Steps"
		}
	}
	return ""
}

// runMembers runs a on every member of f alone, member m with the seed
// a.Seed + m.
func runMembers(t *testing.T, a AIS, f LogDensityFamily) []AISResult {
	t.Helper()
	res := make([]AISResult, f.Len())
	for m := range res {
		b := a
		b.Seed += uint64(m)
		r, err := b.Run(Member(f, m))
		if err != nil {
			t.Fatal(err)
		}
		res[m] = r
	}
	return res
}

// TestAISRunFamilyMatchesRun: every member's RunFamily result — log-weights,
// step schedule, acceptance, summaries — is bit-identical to Run on that
// member alone with the seed Seed + i, for groups of one member, of a few,
// and of all, for GOMAXPROCS 1, 2 and 8, with one temperature (no
// transitions) and more, with the default chunking and an explicit Chunks
// (the pilot's and the main run's sums are then split unevenly, 70 chains
// in 3 chunks, 13 pilot chains in 3).
func TestAISRunFamilyMatchesRun(t *testing.T) {
	fam := newGaussFamily(7, 3)
	for _, base := range []AIS{
		{BaseScale: 1.5, Temps: 30, Step: 0.3, Leapfrog: 3, Chains: 70, Seed: 5},
		{BaseScale: 1, Temps: 20, Step: 0.8, Leapfrog: 2, Chains: 70, PilotChains: 13, Chunks: 3, Seed: 9},
		{BaseScale: 2, Temps: 1, Step: 0.5, Leapfrog: 1, Chains: 70, Seed: 4}, // no transitions
	} {
		want := runMembers(t, base, fam)
		per := 70 + min(70, 32)
		if base.PilotChains > 0 {
			per = 70 + base.PilotChains
		}
		for _, maxRows := range []int{1, 3 * per, 0} {
			for _, procs := range []int{1, 2, 8} {
				prev := runtime.GOMAXPROCS(procs)
				a := base
				a.MaxRows = maxRows
				got, err := a.RunFamily(fam)
				runtime.GOMAXPROCS(prev)
				if err != nil {
					t.Fatal(err)
				}
				for m := range want {
					if d := sameAIS(got[m], want[m]); d != "" {
						t.Errorf("Chunks %d, MaxRows %d, GOMAXPROCS %d, member %d: %s differs from Run's", base.Chunks, maxRows, procs, m, d)
					}
				}
			}
		}
	}
}

// TestAISRunFamilyLogZ: the members' log Z agree with the closed form
// within 3 standard errors, each standard error below 0.05.
func TestAISRunFamilyLogZ(t *testing.T) {
	fam := newGaussFamily(5, 4)
	res, err := AIS{BaseScale: 1.5, Temps: 300, Step: 0.3, Leapfrog: 4, Chains: 128, Seed: 3}.RunFamily(fam)
	if err != nil {
		t.Fatal(err)
	}
	for m, r := range res {
		truth := fam.logZ(m)
		if math.Abs(r.LogZ-truth) > 3*r.StdErr || !(r.StdErr < 0.05) {
			t.Errorf("member %d: log Z = %.4f ± %.4f, want %.4f", m, r.LogZ, r.StdErr, truth)
		}
	}
}

// TestAISRunFamilyStepUnderflow: a member whose every proposal is rejected
// drives its pilot's step to 0 (underflow), where Run skips the
// transitions; RunFamily must match Run bit for bit there too, and leave
// the other members of the group unaffected.
func TestAISRunFamilyStepUnderflow(t *testing.T) {
	fam := newGaussFamily(3, 2)
	fam.nanScore = 1
	a := AIS{BaseScale: 1, Temps: 120, Step: 1e-300, Leapfrog: 1, Chains: 8, Seed: 2}
	got, err := a.RunFamily(fam)
	if err != nil {
		t.Fatal(err)
	}
	if s := got[1].Steps; s[len(s)-1] != 0 || got[1].AcceptRate != 0 {
		t.Fatalf("member 1: last step %v, acceptance %v; want 0 and 0 (the test does not reach the underflow)", s[len(s)-1], got[1].AcceptRate)
	}
	for m, want := range runMembers(t, a, fam) {
		if d := sameAIS(got[m], want); d != "" {
			t.Errorf("member %d: %s differs from Run's", m, d)
		}
	}
}

func TestAISRunFamilyErrors(t *testing.T) {
	a := AIS{BaseScale: 1, Temps: 3, Step: 0.1, Leapfrog: 1, Chains: 4, Seed: 1}
	fam := newGaussFamily(4, 2)
	var ce *ConfigError
	for _, c := range []struct {
		name, setting string
		a             AIS
		f             LogDensityFamily
	}{
		{"negative MaxRows", "AIS.MaxRows", AIS{BaseScale: 1, Temps: 3, Step: 0.1, Leapfrog: 1, Chains: 4, MaxRows: -1}, fam},
		{"no members", "AIS.family", a, emptyFamily{}},
		{"one chain", "AIS.Chains", AIS{BaseScale: 1, Temps: 3, Step: 0.1, Leapfrog: 1, Chains: 1}, fam},
	} {
		_, err := c.a.RunFamily(c.f)
		if !errors.As(err, &ce) || ce.Setting() != c.setting {
			t.Errorf("%s: error %v, want a ConfigError for %s", c.name, err, c.setting)
		}
	}
	fam.nanDensity = 2
	for _, maxRows := range []int{1, 0} {
		a.MaxRows = maxRows
		_, err := a.RunFamily(fam)
		if err == nil || !strings.Contains(err.Error(), "member 2:") || errors.As(err, &ce) {
			t.Errorf("MaxRows %d: NaN log-density of member 2: error %v", maxRows, err)
		}
	}
	mustPanic(t, "Member out of range", func() { Member(fam, 4) })
}

type emptyFamily struct{}

func (emptyFamily) Dim() int                  { return 1 }
func (emptyFamily) Len() int                  { return 0 }
func (emptyFamily) NewFamilyFunc() FamilyFunc { return nil }

// TestMemberScore: Member's score evaluator is the family's score of that
// member.
func TestMemberScore(t *testing.T) {
	fam := newGaussFamily(3, 2)
	x := ad.MatOf(2, 2, []float64{0.5, -1, 2, 0.25})
	got := EvalScore(Member(fam, 2), x)
	for b := range 2 {
		for i := range 2 {
			want := -(x.At(b, i) - fam.mu[2][i]) / (fam.sigma[2] * fam.sigma[2])
			if got.At(b, i) != want {
				t.Errorf("score[%d][%d] = %v, want %v", b, i, got.At(b, i), want)
			}
		}
	}
	lp := EvalLogDensity(Member(fam, 2), x)
	d0, d1 := 0.5-fam.mu[2][0], -1-fam.mu[2][1]
	if want := fam.c[2] - 0.5*(d0*d0+d1*d1)/(fam.sigma[2]*fam.sigma[2]); math.Abs(lp[0]-want) > 1e-12 {
		t.Errorf("log p̃ = %v, want %v", lp[0], want)
	}
}
