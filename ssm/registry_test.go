package ssm

import (
	"go/ast"
	"go/parser"
	"go/token"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"scorematch/nn"
	"scorematch/nn/sde"
)

// TestRegistryCovered checks that Names, Specs and Lookup agree and that
// every registered objective has a gradient check in objectiveCases.
func TestRegistryCovered(t *testing.T) {
	names := Names()
	if len(names) != len(registry) {
		t.Fatalf("Names has %d entries, the registry %d", len(names), len(registry))
	}
	tested := map[string]bool{}
	for _, c := range objectiveCases(t) {
		tested[c.name] = true
	}
	for i, s := range Specs() {
		if s.Name != names[i] {
			t.Errorf("Specs()[%d] is %q, Names()[%d] %q", i, s.Name, i, names[i])
		}
		if got, ok := Lookup(s.Name); !ok || got.Name != s.Name {
			t.Errorf("Lookup(%q) = %q, %v", s.Name, got.Name, ok)
		}
		if s.Doc == "" || s.Models == 0 || s.build == nil {
			t.Errorf("%s: incomplete row %+v", s.Name, s)
		}
		if !tested[s.Name] {
			t.Errorf("%s has no case in objectiveCases (no gradient check)", s.Name)
		}
		if slices.Index(names, s.Name) != i {
			t.Errorf("%s registered twice", s.Name)
		}
	}
	if _, ok := Lookup("nope"); ok {
		t.Error("Lookup found an unregistered name")
	}
}

// TestRegistryModels checks that New accepts exactly the model kinds a row
// declares, and requires the options it declares.
func TestRegistryModels(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	energy, _ := nn.NewEnergyMLP(3, []int{4}, "softplus", rng)
	score, _ := nn.NewScoreMLP(3, []int{4}, "tanh", rng)
	ncsn, err := nn.NewNCSN(3, []int{4}, "softplus", rng)
	if err != nil {
		t.Fatal(err)
	}
	sdenet := testSDENet(t, rng, sde.VP{BetaMin: 0.1, BetaMax: 20}, "softplus")
	nice := testNICEModel(t, 4, rng)
	full := Options{Sigma: 0.1, Sigmas: []float64{1, 0.1}}
	for _, s := range Specs() {
		for _, m := range []nn.Model{energy, score, ncsn, sdenet, nice} {
			_, err := New(s.Name, m, full)
			if want := KindOf(m)&s.Models != 0; (err == nil) != want {
				t.Errorf("New(%q, %T): error %v, want success %v", s.Name, m, err, want)
			}
			if err == nil {
				continue
			}
			if !strings.Contains(err.Error(), s.Models.String()) {
				t.Errorf("New(%q, %T): %q does not say it needs %s", s.Name, m, err, s.Models)
			}
		}
		var m nn.Model = energy
		switch {
		case s.Models&CondScoreModel != 0:
			m = ncsn
		case s.Models&TimeScoreModel != 0:
			m = sdenet
		case s.Models&NormalizedModel != 0:
			m = nice
		case s.Models&EnergyModel == 0:
			m = score
		}
		for _, c := range []struct {
			reads Reads
			opts  Options
		}{
			{ReadsSigma, Options{Sigmas: full.Sigmas}},
			{ReadsSigmas, Options{Sigma: full.Sigma}},
		} {
			_, err := New(s.Name, m, c.opts)
			if required := s.Reads&c.reads != 0; (err != nil) != required {
				t.Errorf("New(%q) without option %b: error %v, want an error %v", s.Name, c.reads, err, required)
			}
		}
	}
}

func TestModelKindString(t *testing.T) {
	for _, c := range []struct {
		k    ModelKind
		want string
	}{
		{EnergyModel, "an energy model"},
		{ScoreModel, "a score model"},
		{EnergyModel | ScoreModel, "an energy or score model"},
		{CondScoreModel, "a noise-conditional score model"},
		{TimeScoreModel, "a time-conditional score model"},
		{NormalizedModel, "a normalised energy model"},
		{0, "no model"},
	} {
		if got := c.k.String(); got != c.want {
			t.Errorf("%b: %q, want %q", c.k, got, c.want)
		}
	}
}

// TestNamesOnlyInRegistry checks that no source file of the package but
// registry.go spells an objective's name: behaviour is chosen by the
// registry's row and the objective's type, never by matching names.
func TestNamesOnlyInRegistry(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	names := Names()
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") || f == "registry.go" {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		file, err := parser.ParseFile(fset, f, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
				if s, err := strconv.Unquote(lit.Value); err == nil && slices.Contains(names, s) {
					t.Errorf("%s: objective name %q outside the registry", fset.Position(lit.Pos()), s)
				}
			}
			return true
		})
	}
}
