package implicit

import "fmt"

// A ConfigError reports a setting outside its valid range: the type and
// field, the value given and what is expected. Programs that take settings
// from users match it with errors.As to name their own flag.
type ConfigError struct {
	Type  string // "Config", "MLP", ...
	Field string // the field, such as "K"
	Value any    // the value given
	Want  string // what is expected
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("implicit: %s.%s = %v, want %s", e.Type, e.Field, e.Value, e.Want)
}

// Setting returns "Type.Field", the setting at fault.
func (e *ConfigError) Setting() string { return e.Type + "." + e.Field }
