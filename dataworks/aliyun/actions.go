package aliyun

import (
	"maps"
	"slices"

	"github.com/manualdag/manualdag/dag"
)

// The instance operations' actions; the others are beside their calls
// (create.go, search.go, and api2024.go for 2024-05-18).
const (
	actionStopInstance    = "StopInstance"
	actionRestartInstance = "RestartInstance"
	actionGetInstanceLog  = "GetInstanceLog"
)

// RAMCode is DataWorks' service code in RAM policies: an action is
// allowed as RAMCode + ":" + its name ("dataworks:CreateManualDag").
const RAMCode = "dataworks"

// actionsByVersion is every action the Client can send, per API version.
// A version is added here with its actions, and nowhere else in this file;
// TestActionsAreWhatTheClientSends keeps the table true, and the RAM
// policies in deployments/ram are checked against it.
func actionsByVersion() map[string][]string {
	return map[string][]string{
		dag.APIVersion2018: {actionCreateManualDag, actionSearch2018},
		dag.APIVersion2020: {actionCreateManualDag, actionSearch2020, actionStopInstance, actionRestartInstance, actionGetInstanceLog},
		dag.APIVersion2024: {actionCreate2024, actionCreateResult2024, actionListWorkflows, actionSearch2024, actionStop2024, actionRerun2024, actionLog2024},
	}
}

// APIVersions are the API versions the Client speaks, sorted (oldest
// first).
func APIVersions() []string {
	return slices.Sorted(maps.Keys(actionsByVersion()))
}

// Actions are the API actions the Client can send under version, sorted:
// what a least-privilege RAM policy for the worker allows (each prefixed
// with RAMCode). Nil for a version the Client does not speak.
func Actions(version string) []string {
	a := actionsByVersion()[version]
	if a == nil {
		return nil
	}
	return slices.Sorted(slices.Values(a))
}
