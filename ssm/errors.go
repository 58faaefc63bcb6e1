package ssm

import (
	"errors"
	"fmt"
)

// A ConfigError reports a setting outside its valid range: the field of a
// Config or Options, the value given and what is expected. Programs that
// take settings from users match it with errors.As to name their own flag
// or key.
type ConfigError struct {
	Type  string // "Config" or "Options"
	Field string // the field, such as "BatchSize"
	Value any    // the value given
	Want  string // what is expected
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("ssm: %s.%s = %v, want %s", e.Type, e.Field, e.Value, e.Want)
}

// Setting returns "Type.Field", the setting at fault.
func (e *ConfigError) Setting() string { return e.Type + "." + e.Field }

// ErrNonFinite is wrapped by the error Train returns when a loss or a
// gradient becomes NaN or infinite.
var ErrNonFinite = errors.New("non-finite loss or gradient")
