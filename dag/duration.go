package dag

import (
	"encoding/json"
	"fmt"
	"time"
)

// Duration is a time.Duration written as a Go duration string ("90s", "2h").
type Duration time.Duration

// D is the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return time.Duration(d).String() }

// MarshalJSON writes the Go duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a Go duration string. Bare numbers are refused: JSON
// numbers would be nanoseconds, and "timeout": 7200 meaning 7.2µs is a trap.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration %s must be a string such as \"90s\", \"10m\" or \"2h\"", b)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration %q is not a Go duration such as \"90s\", \"10m\" or \"2h\"", s)
	}
	if v <= 0 {
		return fmt.Errorf("duration %q must be positive; leave the field out for its default", s)
	}
	*d = Duration(v)
	return nil
}
