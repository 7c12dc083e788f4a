package dataworks

import (
	"fmt"
	"strings"
	"unicode"
)

// Requests are validated before any I/O. A mistake is an *Error with Phase
// NotSent and Code CodeInvalidInput (Permanent): the request
// itself must change, and the Error's Message says how. The activities layer
// validates its own input too; this is the last line before the wire.

func invalid(format string, args ...any) *Error {
	return &Error{Phase: PhaseNotSent, Code: CodeInvalidInput, Message: fmt.Sprintf(format, args...)}
}

// checkName accepts a DataWorks project or flow name: non-empty, no
// surrounding white space, no control characters.
func checkName(setting, v, example string) *Error {
	switch {
	case strings.TrimSpace(v) == "":
		return invalid("%s is empty: set it to the DataWorks name, e.g. %s", setting, example)
	case strings.TrimSpace(v) != v:
		return invalid("%s %q has surrounding white space: remove it", setting, v)
	case strings.IndexFunc(v, unicode.IsControl) >= 0:
		return invalid("%s %q contains a control character", setting, v)
	case len(v) > 256:
		return invalid("%s is %d bytes long; DataWorks names are far shorter", setting, len(v))
	}
	return nil
}

// projectEnv resolves a 2020-05-18 ProjectEnv; under 2018-06-01 only the
// production environment exists.
func projectEnv(v, version string) (string, *Error) {
	env := strings.ToUpper(strings.TrimSpace(v))
	if env == "" {
		env = ProjectEnvProd
	}
	if env != ProjectEnvProd && env != ProjectEnvDev {
		return "", invalid("ProjectEnv %q is neither %s nor %s", v, ProjectEnvProd, ProjectEnvDev)
	}
	if version == APIVersion2018 && env != ProjectEnvProd {
		return "", invalid("ProjectEnv %s needs API version %s: %s always runs in production", env, APIVersion2020, APIVersion2018)
	}
	return env, nil
}

func checkID(setting string, id int64) *Error {
	if id <= 0 {
		return invalid("%s %d is not a DataWorks id: it must be positive", setting, id)
	}
	return nil
}

func (c *Client) resolveVersion(override string) (string, *Error) {
	v, err := c.version(override)
	if err != nil {
		return "", invalid("APIVersion %q is not supported: use %s or %s, or leave it empty for the client's %s", override, APIVersion2018, APIVersion2020, c.cfg.APIVersion)
	}
	return v, nil
}
