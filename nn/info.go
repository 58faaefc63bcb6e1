package nn

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"scorematch/ad/rmath"
)

// ModelInfo is what a model file records, beside the architecture and the
// weights, about the data the model was trained on: what a program needs
// to use the model in the data's own coordinates.
type ModelInfo struct {
	// Data names the training data: a built-in dataset or a file's name.
	Data string
	// Mean and Scale are the standardisation applied to the data before
	// training, column by column: the model sees z = (x − Mean)/Scale.
	// Both are nil when none was applied, or both have the model's
	// dimension, with every Scale > 0.
	Mean, Scale []float64
	// Sigmas is the noise schedule σ₁ > … > σ_L of a noise-conditional
	// model, or nil.
	Sigmas []float64
}

// Standardize maps rows of x from the data's coordinates to the model's
// in place: x ← (x − Mean)/Scale. It does nothing without a
// standardisation.
func (info ModelInfo) Standardize(x []float64) {
	d := len(info.Mean)
	for i := 0; d > 0 && i+d <= len(x); i += d {
		for j := range d {
			x[i+j] = (x[i+j] - info.Mean[j]) / info.Scale[j]
		}
	}
}

// Unstandardize maps rows of x from the model's coordinates back to the
// data's in place: x ← x·Scale + Mean.
func (info ModelInfo) Unstandardize(x []float64) {
	d := len(info.Mean)
	for i := 0; d > 0 && i+d <= len(x); i += d {
		for j := range d {
			x[i+j] = float64(x[i+j]*info.Scale[j]) + info.Mean[j]
		}
	}
}

// LogDet returns log |det ∂z/∂x| = −Σ log Scale, the term a log-density of
// the model's coordinates gains in the data's (0 without a
// standardisation).
func (info ModelInfo) LogDet() float64 {
	s := 0.0
	for _, v := range info.Scale {
		s -= rmath.Log(v)
	}
	return s
}

// The metadata keys of ModelInfo.
const (
	metaData   = "data"
	metaMean   = "mean"
	metaScale  = "scale"
	metaSigmas = "sigmas"
)

// metadata adds info's keys to meta.
func (info ModelInfo) metadata(meta map[string]string) {
	if info.Data != "" {
		meta[metaData] = info.Data
	}
	put := func(key string, vs []float64) {
		if len(vs) > 0 {
			s := make([]string, len(vs))
			for i, v := range vs {
				s[i] = strconv.FormatFloat(v, 'g', -1, 64) // exact: parses back to v
			}
			meta[key] = strings.Join(s, ",")
		}
	}
	put(metaMean, info.Mean)
	put(metaScale, info.Scale)
	put(metaSigmas, info.Sigmas)
}

// check reports an inconsistent info for a model of dimension dim.
func (info ModelInfo) check(dim int) error {
	if (info.Mean == nil) != (info.Scale == nil) {
		return fmt.Errorf("a standardisation needs both mean and scale")
	}
	if info.Mean != nil && (len(info.Mean) != dim || len(info.Scale) != dim) {
		return fmt.Errorf("the standardisation has %d means and %d scales for dimension %d", len(info.Mean), len(info.Scale), dim)
	}
	for j := range info.Mean {
		if math.IsNaN(info.Mean[j]) || math.IsInf(info.Mean[j], 0) || !(info.Scale[j] > 0) || math.IsInf(info.Scale[j], 0) {
			return fmt.Errorf("the standardisation of column %d (mean %v, scale %v) is not finite with a positive scale", j+1, info.Mean[j], info.Scale[j])
		}
	}
	for i, s := range info.Sigmas {
		if !(s > 0) || math.IsInf(s, 0) || i > 0 && s >= info.Sigmas[i-1] {
			return fmt.Errorf("the noise schedule %v is not finite, positive and decreasing", info.Sigmas)
		}
	}
	return nil
}

// infoOf reads a ModelInfo from a file's metadata.
func infoOf(meta map[string]string, dim int) (ModelInfo, error) {
	info := ModelInfo{Data: meta[metaData]}
	get := func(key string) ([]float64, error) {
		s, ok := meta[key]
		if !ok {
			return nil, nil
		}
		fields := strings.Split(s, ",")
		if len(fields) > max(dim, 1<<16) {
			return nil, fmt.Errorf("metadata %s has %d values", key, len(fields))
		}
		vs := make([]float64, len(fields))
		for i, f := range fields {
			v, err := strconv.ParseFloat(f, 64)
			if err != nil {
				return nil, fmt.Errorf("metadata %s: %q is not a number", key, f)
			}
			vs[i] = v
		}
		return vs, nil
	}
	var err error
	if info.Mean, err = get(metaMean); err != nil {
		return info, err
	}
	if info.Scale, err = get(metaScale); err != nil {
		return info, err
	}
	if info.Sigmas, err = get(metaSigmas); err != nil {
		return info, err
	}
	return info, info.check(dim)
}

// SaveInfo is Save that also records info in the file's metadata (keys
// "data", "mean", "scale" and "sigmas"), for LoadInfo. It returns an error
// if info does not fit the model (see ModelInfo).
func SaveInfo(path string, m Model, info ModelInfo) error {
	if err := info.check(m.Dim()); err != nil {
		return fmt.Errorf("nn: save %s: %w", path, err)
	}
	ts, meta, err := modelTensors(m)
	if err != nil {
		return fmt.Errorf("nn: save %s: %w", path, err)
	}
	info.metadata(meta)
	return WriteSafetensors(path, ts, meta)
}

// LoadInfo is Load that also returns what the file records about its
// data (a zero ModelInfo for files without it). An inconsistent record is
// a *FormatError naming the file.
func LoadInfo(path string, opts LoadOptions) (Model, ModelInfo, error) {
	if err := opts.Validate(); err != nil {
		return nil, ModelInfo{}, err
	}
	ts, meta, err := ReadSafetensors(path)
	if err != nil {
		return nil, ModelInfo{}, err
	}
	m, err := build(path, ts, meta, opts)
	if err != nil {
		return nil, ModelInfo{}, err
	}
	info, err := infoOf(meta, m.Dim())
	if err != nil {
		return nil, ModelInfo{}, &FormatError{File: path, Problem: err.Error()}
	}
	return m, info, nil
}
