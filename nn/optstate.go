package nn

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"scorematch/ad"
	"scorematch/nn/safetensors"
)

// optState is the state every optimiser keeps: a step count and, per kind
// of buffer, one buffer per parameter, plus the checkpointing logic.
type optState struct {
	opt      string   // optimiser name, for messages
	kinds    []string // buffer kinds, e.g. "exp_avg"
	required []bool   // required[k]: kind k must be in a saved state with step > 0

	step    int64
	names   []string   // bound parameter names; nil until the first Step
	buf     [][]ad.Mat // buf[k][i]: buffer of kind k for parameter i
	have    []bool     // have[k]: buffers of kind k hold state (State exports them)
	pending []Tensor   // state from SetState, bound by the next Step

	params []*ad.Param // of the begun step
	grads  []ad.Mat
}

// begin binds the state (see bind), advances the step count and keeps
// params and grads for the step's updates.
func (s *optState) begin(params []*ad.Param, grads []ad.Mat) {
	s.bind(params, grads)
	s.step++
	s.params, s.grads = params, grads
}

// bind checks grads against params and, on the first call or after a
// SetState before any step, binds the state to the parameters.
func (s *optState) bind(params []*ad.Param, grads []ad.Mat) {
	if len(params) != len(grads) {
		panic(fmt.Sprintf("nn: %s.Step: %d parameters, %d gradients", s.opt, len(params), len(grads)))
	}
	for i, p := range params {
		if !grads[i].SameShape(p.Value) {
			panic(fmt.Sprintf("nn: %s.Step: gradient %d is %d×%d, parameter %q is %d×%d",
				s.opt, i, grads[i].Rows, grads[i].Cols, p.Name, p.Value.Rows, p.Value.Cols))
		}
	}
	if s.names != nil {
		if len(params) != len(s.names) {
			panic(fmt.Sprintf("nn: %s.Step: %d parameters, the optimiser was used with %d", s.opt, len(params), len(s.names)))
		}
		for i, p := range params {
			if b := s.buf[0][i]; p.Name != s.names[i] || !b.SameShape(p.Value) {
				panic(fmt.Sprintf("nn: %s.Step: parameter %d is %q (%d×%d), the optimiser was used with %q (%d×%d)",
					s.opt, i, p.Name, p.Value.Rows, p.Value.Cols, s.names[i], b.Rows, b.Cols))
			}
		}
		return
	}
	names := make([]string, len(params))
	for i, p := range params {
		if slices.Contains(names[:i], p.Name) {
			panic(fmt.Sprintf("nn: %s.Step: two parameters are named %q", s.opt, p.Name))
		}
		names[i] = p.Name
	}
	s.names = names
	s.buf = make([][]ad.Mat, len(s.kinds))
	s.have = make([]bool, len(s.kinds))
	for k := range s.kinds {
		s.buf[k] = make([]ad.Mat, len(params))
		for i, p := range params {
			s.buf[k][i] = ad.NewMat(p.Value.Rows, p.Value.Cols)
		}
	}
	if s.pending != nil {
		st := s.pending
		s.pending = nil
		if err := s.fill(st); err != nil {
			s.names = nil
			panic(err.Error())
		}
	}
}

// state returns a copy of the state in its exported form.
func (s *optState) state() []Tensor {
	if s.names == nil && s.pending != nil {
		return cloneTensors(s.pending)
	}
	out := []Tensor{{Name: "step", Shape: []int{}, Data: []float64{float64(s.step)}}}
	if s.names == nil {
		return out
	}
	for k, kind := range s.kinds {
		if !s.have[k] {
			continue
		}
		for i, name := range s.names {
			b := s.buf[k][i]
			out = append(out, Tensor{
				Name:  kind + "." + name,
				Shape: []int{b.Rows, b.Cols},
				Data:  slices.Clone(b.Data),
			})
		}
	}
	return out
}

// setState validates st and installs it now (bound) or at the next Step.
func (s *optState) setState(st []Tensor) error {
	if err := s.validate(st); err != nil {
		return err
	}
	if s.names == nil {
		s.pending = cloneTensors(st)
		return nil
	}
	return s.fill(st)
}

// validate checks that st is a well-formed state of this optimiser.
func (s *optState) validate(st []Tensor) error {
	errorf := func(format string, a ...any) error {
		return fmt.Errorf("nn: %s.SetState: "+format, append([]any{s.opt}, a...)...)
	}
	seen := make(map[string]bool, len(st))
	haveStep := false
	params := make([]map[string][]int, len(s.kinds)) // per kind: parameter name → shape
	for _, t := range st {
		if seen[t.Name] {
			return errorf("tensor %q appears twice", t.Name)
		}
		seen[t.Name] = true
		if n, ok := safetensors.ShapeLen(t.Shape); !ok || n != len(t.Data) {
			return errorf("tensor %q has shape %v and %d values", t.Name, t.Shape, len(t.Data))
		}
		if t.Name == "step" {
			if len(t.Data) != 1 || len(t.Shape) > 1 {
				return errorf("tensor \"step\" has shape %v, want a scalar", t.Shape)
			}
			if v := t.Data[0]; !(v >= 0 && v <= 1<<53 && v == math.Trunc(v)) {
				return errorf("step count %g is not a non-negative integer", v)
			}
			haveStep = true
			continue
		}
		kind, name, ok := strings.Cut(t.Name, ".")
		k := slices.Index(s.kinds, kind)
		if !ok || k < 0 || name == "" {
			return errorf("unexpected tensor %q (want \"step\" or <buffer>.<parameter> with buffer one of %s)",
				t.Name, strings.Join(s.kinds, ", "))
		}
		if len(t.Shape) != 2 {
			return errorf("tensor %q has shape %v, want a matrix", t.Name, t.Shape)
		}
		if params[k] == nil {
			params[k] = make(map[string][]int)
		}
		params[k][name] = t.Shape
	}
	if !haveStep {
		return errorf("no \"step\" tensor")
	}
	// Every kind present must cover the same parameters with the same shapes.
	var ref map[string][]int
	refKind := ""
	for k, m := range params {
		if m == nil {
			continue
		}
		if ref == nil {
			ref, refKind = m, s.kinds[k]
			continue
		}
		for name, shape := range m {
			if rs, ok := ref[name]; !ok || !slices.Equal(rs, shape) {
				return errorf("%s.%s has no matching %s.%s", s.kinds[k], name, refKind, name)
			}
		}
		for name := range ref {
			if _, ok := m[name]; !ok {
				return errorf("%s.%s has no matching %s.%s", refKind, name, s.kinds[k], name)
			}
		}
	}
	if step := stepOf(st); step > 0 && ref != nil {
		for k, req := range s.required {
			if req && params[k] == nil {
				return errorf("step is %d but there is no %s buffer", step, s.kinds[k])
			}
		}
	} else if step > 0 && slices.Contains(s.required, true) {
		return errorf("step is %d but there are no state buffers", step)
	}
	return nil
}

// fill installs the validated state st into the bound buffers, or returns
// an error, leaving the state unchanged, if st does not match the bound
// parameters.
func (s *optState) fill(st []Tensor) error {
	byName := make(map[string]Tensor, len(st))
	for _, t := range st {
		byName[t.Name] = t
	}
	present := make([]bool, len(s.kinds))
	used := 1 // "step"
	for k, kind := range s.kinds {
		for _, t := range st {
			if strings.HasPrefix(t.Name, kind+".") {
				present[k] = true
				break
			}
		}
		if !present[k] {
			continue
		}
		for i, name := range s.names {
			t, ok := byName[kind+"."+name]
			b := s.buf[k][i]
			if !ok {
				return fmt.Errorf("nn: %s: state has no %s.%s for parameter %q", s.opt, kind, name, name)
			}
			if t.Shape[0] != b.Rows || t.Shape[1] != b.Cols {
				return fmt.Errorf("nn: %s: state tensor %q has shape %v, parameter %q is %d×%d",
					s.opt, t.Name, t.Shape, name, b.Rows, b.Cols)
			}
			used++
		}
	}
	if used != len(st) { // some tensor is for a parameter that is not bound
		for _, t := range st {
			if _, name, _ := strings.Cut(t.Name, "."); t.Name != "step" && !slices.Contains(s.names, name) {
				return fmt.Errorf("nn: %s: state tensor %q is for parameter %q, which the optimiser does not update", s.opt, t.Name, name)
			}
		}
	}
	for k, kind := range s.kinds {
		s.have[k] = present[k]
		for i, name := range s.names {
			if present[k] {
				copy(s.buf[k][i].Data, byName[kind+"."+name].Data)
			} else {
				clear(s.buf[k][i].Data)
			}
		}
	}
	s.step = stepOf(st)
	return nil
}

// stepOf returns the step count of a validated state.
func stepOf(st []Tensor) int64 {
	for _, t := range st {
		if t.Name == "step" {
			return int64(t.Data[0])
		}
	}
	return 0
}

// cloneTensors returns a deep copy of ts.
func cloneTensors(ts []Tensor) []Tensor {
	out := make([]Tensor, len(ts))
	for i, t := range ts {
		out[i] = Tensor{Name: t.Name, Shape: slices.Clone(t.Shape), Data: slices.Clone(t.Data)}
	}
	return out
}
