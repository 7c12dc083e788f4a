package dag

import (
	"fmt"
	"strconv"
	"strings"
)

// The versions of the DataWorks API a run may use. The 2018-06-01 API can
// trigger and list a DAG run only; the 2020-05-18 API can also stop and
// rerun its nodes and read their logs, in a production or development
// project environment; the 2024-05-18 API (the new Data Studio) runs a
// manual workflow as a workflow instance, created asynchronously, and
// names projects and workflows by numeric id.
const (
	// APIVersion2018 is the default: the version our users' brief describes.
	APIVersion2018 = "2018-06-01"
	APIVersion2020 = "2020-05-18"
	APIVersion2024 = "2024-05-18"
)

// APIVersions lists the supported versions, oldest first.
var APIVersions = []string{APIVersion2018, APIVersion2020, APIVersion2024}

// KnownAPIVersion reports whether v is a supported version.
func KnownAPIVersion(v string) bool {
	return v == APIVersion2018 || v == APIVersion2020 || v == APIVersion2024
}

// APIVersionChoices names the supported versions for an error message:
// "2018-06-01, 2020-05-18 or 2024-05-18".
func APIVersionChoices() string {
	return strings.Join(APIVersions[:len(APIVersions)-1], ", ") + " or " + APIVersions[len(APIVersions)-1]
}

// HasEnv reports whether version v knows project environments (PROD and
// DEV): 2018-06-01 always runs in production.
func HasEnv(v string) bool { return v == APIVersion2020 || v == APIVersion2024 }

// HasOperations reports whether version v can stop and rerun node
// instances and read their logs.
func HasOperations(v string) bool { return v == APIVersion2020 || v == APIVersion2024 }

// Project environments of the 2020-05-18 and 2024-05-18 APIs (2024-05-18
// spells them Prod and Dev on the wire).
const (
	ProjectEnvProd = "PROD"
	ProjectEnvDev  = "DEV"
)

// ParseNumericID reads a 2024-05-18 id (ProjectId, WorkflowId) that a run
// carries in its projectName or flowName: a positive decimal number written
// as DataWorks writes it. setting names the field in the error.
func ParseNumericID(setting, s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 || strconv.FormatInt(id, 10) != s {
		what := "the workspace's numeric ProjectId (DataWorks console > Workspace > the workspace's ID, e.g. 12345)"
		if strings.HasPrefix(strings.ToLower(setting), "flow") || strings.HasPrefix(strings.ToLower(setting), "workflow") {
			what = "the manual workflow's numeric WorkflowId (Data Studio > the workflow's properties, e.g. 700123456)"
		}
		return 0, fmt.Errorf("%s %q is not a DataWorks id: under API version %s give %s", setting, s, APIVersion2024, what)
	}
	return id, nil
}
