package sampler

import "fmt"

// A ConfigError reports a setting outside its valid range: the field of a
// sampler or estimator, the value given and what is expected. Programs
// that take settings from users match it with errors.As to name their own
// flag or key.
type ConfigError struct {
	Type  string // the configured type, such as "HMC"
	Field string // its field, such as "Step"
	Value any    // the value given
	Want  string // what is expected
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("sampler: %s: %s = %v, want %s", e.Type, e.Field, e.Value, e.Want)
}

// Setting returns "Type.Field", the setting at fault.
func (e *ConfigError) Setting() string { return e.Type + "." + e.Field }

// positiveStep returns a *ConfigError unless step is finite and > 0.
func positiveStep(typ string, step float64) error {
	if step > 0 && step <= maxFinite {
		return nil
	}
	return &ConfigError{Type: typ, Field: "Step", Value: step, Want: "finite and > 0"}
}

// maxFinite is the largest finite float64.
const maxFinite = 0x1p1023 * (1 + (1 - 0x1p-52))
