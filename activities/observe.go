package activities

import (
	"context"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/log"

	"github.com/manualdag/manualdag/dataworks"
)

// Metrics of the DataWorks calls, reported through the activity's metrics
// handler (so with the SDK's namespace, task_queue, workflow_type and
// activity_type tags). docs/operations.md lists them as Prometheus exports
// them (manualdag_dataworks_calls_total,
// manualdag_dataworks_call_latency_seconds).
const (
	// MetricDataWorksCalls counts calls by action and code: "OK", or the
	// dataworks.Error code (a DataWorks code such as Throttling.User, or one
	// of the client's own: Transport, InvalidResponse, Canceled, …).
	MetricDataWorksCalls = "manualdag_dataworks_calls"
	// MetricDataWorksCallLatency times calls by action, from the activity's
	// call to the decoded reply (waiting for a pooled client included).
	MetricDataWorksCallLatency = "manualdag_dataworks_call_latency"
)

// Actions as the metrics name them: the logical operation, whatever the API
// version calls it (the search is GetManualDagInstances under 2020-05-18).
const (
	ActionCreateManualDag = "CreateManualDag"
	ActionSearch          = "SearchManualDagNodeInstance"
	ActionStopInstance    = "StopInstance"
	ActionRestartInstance = "RestartInstance"
	ActionGetInstanceLog  = "GetInstanceLog"
	// The 2024-05-18 create's follow-up reads.
	ActionCreateResult          = "GetCreateWorkflowInstancesResult"
	ActionListWorkflowInstances = "ListWorkflowInstances"
)

// codeOK is the code of a call that succeeded.
const codeOK = "OK"

// measure runs one DataWorks call and records it. A call the client refused
// before any I/O because of its input or the API version is not counted:
// nothing was attempted.
func measure(ctx context.Context, action string, call func() error) error {
	start := time.Now()
	err := call()
	code := codeOK
	if err != nil {
		code = "Error"
		if e, ok := dataworks.AsError(err); ok && e.Code != "" {
			code = e.Code
		}
		if code == dataworks.CodeInvalidInput || code == dataworks.CodeUnsupported {
			return err
		}
	}
	if activity.IsActivity(ctx) {
		h := activity.GetMetricsHandler(ctx)
		h.WithTags(map[string]string{"action": action, "code": code}).Counter(MetricDataWorksCalls).Inc(1)
		h.WithTags(map[string]string{"action": action}).Timer(MetricDataWorksCallLatency).Record(time.Since(start))
	}
	return err
}

// dagLogger is the activity's logger (workflow id, run id, activity type, …)
// with the DAG id, when known.
func dagLogger(ctx context.Context, dagID int64) log.Logger {
	l := activity.GetLogger(ctx)
	if dagID != 0 {
		l = log.With(l, "dagId", dagID)
	}
	return l
}
