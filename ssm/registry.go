package ssm

import (
	"fmt"
	"math"
	"strings"

	"scorematch/nn"
)

// A Spec is one row of the objective registry: everything the package, the
// tool's help and its validation know about an objective.
type Spec struct {
	// Name is the objective's name as New and the tool spell it.
	Name string
	// Models are the kinds of model the objective trains.
	Models ModelKind
	// Reads are the Options the objective reads beyond the projection;
	// ReadsSigma and ReadsSigmas are required.
	Reads Reads
	// Fit is true when the loss measures how well the model fits the data
	// (up to a data constant), so that held-out values compare models; false
	// for the biased baselines and the cost reference.
	Fit bool
	// ApproxSM is true for the baselines that approximate exact score
	// matching's loss; the tool checks them against it during training,
	// since a biased approximation can fall while the true loss climbs.
	ApproxSM bool
	// Doc is a one-line description.
	Doc string

	build func(base objective) (Objective, error)
}

// A ModelKind is a set of model kinds, by the interface of package nn that
// the objective calls.
type ModelKind uint8

// The model kinds.
const (
	EnergyModel     ModelKind = 1 << iota // nn.Energy: E(x), score −∇ₓE
	ScoreModel                            // nn.Score: a score net h(x)
	CondScoreModel                        // nn.CondScore: a noise-conditional score net h(x, σ)
	TimeScoreModel                        // nn.TimeScore: a time-conditional score net h(x, t) of a score SDE
	NormalizedModel                       // nn.Normalized: an energy that is exactly −log p(x), such as a flow
)

// KindOf returns the kinds m implements.
func KindOf(m nn.Model) ModelKind {
	var k ModelKind
	if _, ok := m.(nn.Energy); ok {
		k |= EnergyModel
	}
	if _, ok := m.(nn.Score); ok {
		k |= ScoreModel
	}
	if _, ok := m.(nn.CondScore); ok {
		k |= CondScoreModel
	}
	if _, ok := m.(nn.TimeScore); ok {
		k |= TimeScoreModel
	}
	if _, ok := m.(nn.Normalized); ok {
		k |= NormalizedModel
	}
	return k
}

// String names the kinds in a set: "an energy or score model".
func (k ModelKind) String() string {
	var names []string
	for i, n := range []string{"energy", "score", "noise-conditional score", "time-conditional score", "normalised energy"} {
		if k&(1<<i) != 0 {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return "no model"
	}
	article := "a"
	if k&EnergyModel != 0 {
		article = "an"
	}
	return article + " " + strings.Join(names, " or ") + " model"
}

// Reads is a set of Options fields an objective reads.
type Reads uint8

// The Options an objective may read.
const (
	ReadsM      Reads = 1 << iota // M projections (or random copies) per sample
	ReadsSigma                    // the DSM noise level Sigma (required)
	ReadsSigmas                   // the noise schedule Sigmas (required)
	ReadsGroup                    // Group, the directions per pass of exact SM
)

// registry is the table of objectives, in the order Names lists them.
// Adding an objective is one file with its type and one row here.
var registry = []Spec{
	{"ssm", EnergyModel, ReadsM, true, false, "sliced score matching: ½(vᵀs)² + vᵀ(∇s)v", newSSM},
	{"ssm-vr", EnergyModel, ReadsM, true, false, "sliced score matching, variance-reduced: ½‖s‖² + vᵀ(∇s)v", newSSMVR},
	{"sm", EnergyModel | ScoreModel, ReadsGroup, true, false, "exact score matching: ½‖s‖² + tr(∇s), D directions", newExact},
	{"dsm", EnergyModel | ScoreModel, ReadsSigma, true, false, "denoising score matching at noise level σ", newDenoising},
	{"sse", ScoreModel, ReadsM, true, false, "sliced score estimation of a score net: ½(vᵀh)² + vᵀ(∇h)v", newSSE},
	{"sse-vr", ScoreModel, ReadsM, true, false, "sliced score estimation, variance-reduced: ½‖h‖² + vᵀ(∇h)v", newSSEVR},
	{"ncsn", CondScoreModel, ReadsSigmas, true, false, "annealed denoising score matching over a σ schedule", newNCSN},
	{"ncsn-sse-vr", CondScoreModel, ReadsM | ReadsSigmas, true, false, "annealed SSE-VR over a σ schedule", newNCSNSSEVR},
	{"sde-dsm", TimeScoreModel, 0, true, false, "continuous-time denoising score matching of a score SDE: ½‖s(t)h(x_t,t) + z‖², t ~ U(1e-5, 1)", newSDEDSM},
	{"sde-sse-vr", TimeScoreModel, ReadsM, true, false, "SSE-VR of a score SDE at x_t, t ~ U(1e-5, 1): s(t)²(½‖h‖² + vᵀ(∇h)v)", newSDESSEVR},
	{"approx-bp", EnergyModel, 0, false, true, "exact SM with the Hessian diagonal by approximate backprop (any energy; biased, and for an MLP unbounded below beyond one hidden layer)", newApproxBP},
	{"cp", EnergyModel, ReadsM, false, true, "exact SM with the Hessian diagonal by curvature propagation (any energy; unbiased, high variance)", newCurvatureProp},
	{"mle", NormalizedModel, 0, true, false, "maximum likelihood: the mean energy −log p(x) of a normalised model (a flow)", newMeanEnergy},
	{"grad", EnergyModel, 0, false, false, "the mean energy: a plain gradient step, for cost comparisons", newMeanEnergy},
}

// Specs returns the registry: every objective New accepts, in order.
func Specs() []Spec { return append([]Spec(nil), registry...) }

// Names lists the objectives New accepts.
func Names() []string {
	names := make([]string, len(registry))
	for i, s := range registry {
		names[i] = s.Name
	}
	return names
}

// Lookup returns the registry row of the objective called name.
func Lookup(name string) (Spec, bool) {
	for _, s := range registry {
		if s.Name == name {
			return s, true
		}
	}
	return Spec{}, false
}

// New returns the objective called name (see Names and Specs) for model m.
// Options the objective does not read are ignored.
func New(name string, m nn.Model, o Options) (Objective, error) {
	spec, ok := Lookup(name)
	if !ok {
		return nil, fmt.Errorf("ssm: unknown objective %q (want one of %s)", name, strings.Join(Names(), ", "))
	}
	if o.M == 0 {
		o.M = 1
	}
	if o.Group == 0 {
		o.Group = 16
	}
	bad := func(field string, v any, want string) error {
		return &ConfigError{Type: "Options", Field: field, Value: v, Want: want + " for " + name}
	}
	switch {
	case o.M < 0:
		return nil, bad("M", o.M, "≥ 1")
	case o.Group < 0:
		return nil, bad("Group", o.Group, "≥ 1")
	case spec.Reads&ReadsSigma != 0 && !(o.Sigma > 0 && o.Sigma <= math.MaxFloat64):
		return nil, bad("Sigma", o.Sigma, "a finite noise level > 0")
	case spec.Reads&ReadsSigmas != 0 && len(o.Sigmas) == 0:
		return nil, bad("Sigmas", o.Sigmas, "a noise schedule")
	}
	if spec.Reads&ReadsSigmas != 0 {
		for i, s := range o.Sigmas {
			if !(s > 0 && s <= math.MaxFloat64) || i > 0 && s >= o.Sigmas[i-1] {
				return nil, bad("Sigmas", o.Sigmas, "finite, positive and decreasing")
			}
		}
	}
	if KindOf(m)&spec.Models == 0 {
		return nil, fmt.Errorf("ssm: %s needs %v, not %v", name, spec.Models, KindOf(m))
	}
	return spec.build(objective{name: name, model: m, opts: o})
}
