package sde

import "fmt"

// A ConfigError reports a parameter of an SDE outside its valid range: the
// SDE's type, the field, the value given and what is expected. Programs
// that take settings from users match it with errors.As to name their own
// flag.
type ConfigError struct {
	Type  string // the SDE's type, such as "VE"
	Field string // its field, such as "SigmaMin"
	Value any    // the value given
	Want  string // what is expected
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("sde: %s: %s = %v, want %s", e.Type, e.Field, e.Value, e.Want)
}

// Setting returns "Type.Field", the setting at fault.
func (e *ConfigError) Setting() string { return e.Type + "." + e.Field }
