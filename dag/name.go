package dag

import (
	"fmt"
	"strings"
	"unicode"
)

// MaxNameLen bounds a project or flow name; DataWorks' own limits are lower.
const MaxNameLen = 256

// CheckName accepts a DataWorks project or flow name, given as the setting
// field: non-empty, no surrounding white space, no control characters, at
// most MaxNameLen bytes.
func CheckName(field, s string) error {
	switch {
	case s == "":
		return fmt.Errorf("%s is required", field)
	case strings.TrimSpace(s) != s:
		return fmt.Errorf("%s %q has leading or trailing white space", field, s)
	case len(s) > MaxNameLen:
		return fmt.Errorf("%s is %d bytes long; at most %d are accepted", field, len(s), MaxNameLen)
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		return fmt.Errorf("%s %q contains a control character", field, s)
	}
	return nil
}
