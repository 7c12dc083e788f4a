package aliyun

import (
	"fmt"
	"strings"

	"github.com/manualdag/manualdag/dag"
	"github.com/manualdag/manualdag/dataworks"
)

// Requests are validated before any I/O. A mistake is a *dataworks.Error
// with Phase NotSent and Code CodeInvalidInput (Permanent): the request
// itself must change, and the Error's Message says how. The activities layer
// validates its own input too; this is the last line before the wire.

func invalid(format string, args ...any) *dataworks.Error {
	return &dataworks.Error{Phase: dataworks.PhaseNotSent, Code: dataworks.CodeInvalidInput, Message: fmt.Sprintf(format, args...)}
}

// checkName is dag.CheckName as a *dataworks.Error.
func checkName(setting, v string) *dataworks.Error {
	if err := dag.CheckName(setting, v); err != nil {
		return invalid("%v", err)
	}
	return nil
}

// projectEnv resolves a ProjectEnv (PROD or DEV; 2024-05-18 spells them
// Prod and Dev on the wire: see envType); under 2018-06-01 only the
// production environment exists.
func projectEnv(v, version string) (string, *dataworks.Error) {
	env := strings.ToUpper(strings.TrimSpace(v))
	if env == "" {
		env = dag.ProjectEnvProd
	}
	if env != dag.ProjectEnvProd && env != dag.ProjectEnvDev {
		return "", invalid("ProjectEnv %q is neither %s nor %s", v, dag.ProjectEnvProd, dag.ProjectEnvDev)
	}
	if version == dag.APIVersion2018 && env != dag.ProjectEnvProd {
		return "", invalid("ProjectEnv %s needs API version %s or %s: %s always runs in production", env, dag.APIVersion2020, dag.APIVersion2024, dag.APIVersion2018)
	}
	return env, nil
}

func checkID(setting string, id int64) *dataworks.Error {
	if id <= 0 {
		return invalid("%s %d is not a DataWorks id: it must be positive", setting, id)
	}
	return nil
}

func (c *Client) resolveVersion(override string) (string, *dataworks.Error) {
	v, err := c.version(override)
	if err != nil {
		return "", invalid("APIVersion %q is not supported: use %s, or leave it empty for the client's %s", override, dag.APIVersionChoices(), c.cfg.APIVersion)
	}
	return v, nil
}

// envType is a ProjectEnv as 2024-05-18 writes it: Prod or Dev.
func envType(env string) string {
	if env == dag.ProjectEnvDev {
		return "Dev"
	}
	return "Prod"
}

// checkNumericID reads a 2024-05-18 id carried in a name field.
func checkNumericID(setting, v string) (int64, *dataworks.Error) {
	id, err := dag.ParseNumericID(setting, v)
	if err != nil {
		return 0, invalid("%v", err)
	}
	return id, nil
}
