package dataworks

import (
	"time"

	"github.com/manualdag/manualdag/dag"
)

// CreateManualDagRequest triggers one run of a manual business flow. Under
// 2024-05-18 it is sent as CreateWorkflowInstances (Type ManualWorkflow),
// ProjectName and FlowName holding the numeric ProjectId and WorkflowId.
type CreateManualDagRequest struct {
	ProjectName string
	FlowName    string
	// Bizdate is the business date, yyyy-MM-dd; the client sends it in the
	// "yyyy-MM-dd 00:00:00" form the service demands.
	Bizdate string
	// DagParameters are the flow parameters, sent as "k=v k=v".
	DagParameters dag.Params
	// NodeParameters are per-node parameters, keyed by node id, sent as a
	// JSON object node-id → "k=v k=v".
	NodeParameters map[int64]dag.Params

	// APIVersion overrides the client's configured version for this call
	// (empty = the client's).
	APIVersion string

	ProjectEnv string // 2020-05-18 and 2024-05-18: PROD (default) or DEV

	// Marker (2024-05-18) tags the workflow instance (tag MarkerTagKey) so
	// that it can be found again by ListWorkflowInstances when the create's
	// outcome is unknown. Required under 2024-05-18.
	Marker string
	// Comment (2024-05-18) is the create's remark, shown in Operation
	// Center; optional.
	Comment string

	// BeforeSend, if set, runs after the client has waited for a free
	// connection slot, resolved the credential and got a slot under the QPS
	// cap (creates go before searches there), immediately before the
	// request goes out on a connection of its own. If it fails, nothing is sent (an *Error with Phase
	// NotSent). The create activity records its intent here, so that no
	// queueing separates the record from the request.
	BeforeSend func() error
}

// SearchManualDagNodeInstanceRequest lists the node instances of one DAG run
// (under 2024-05-18: the task instances of one workflow instance, DagID
// being the WorkflowInstanceId).
type SearchManualDagNodeInstanceRequest struct {
	ProjectName string
	DagID       int64
	APIVersion  string // empty = the client's
	ProjectEnv  string // 2020-05-18 and 2024-05-18: PROD (default) or DEV
	// Bizdate (yyyy-MM-dd) is the run's business date; 2024-05-18's
	// ListTaskInstances requires it.
	Bizdate string
}

// MarkerTagKey is the tag a 2024-05-18 create puts on its workflow instance,
// with CreateManualDagRequest.Marker as the value.
const MarkerTagKey = "manualdag-run"

// Statuses of an asynchronous 2024-05-18 create
// (GetCreateWorkflowInstancesResult).
const (
	CreateStatusCreating = "Creating"
	CreateStatusCreated  = "Created"
	CreateStatusFailure  = "CreateFailure"
)

// CreateResultRequest asks what became of a CreateWorkflowInstances call
// (2024-05-18) by the OperationId it answered.
type CreateResultRequest struct {
	OperationID string
	APIVersion  string // empty = the client's; must resolve to 2024-05-18
}

// CreateResult is the state of an asynchronous create: Creating, Created
// (with the ids of the workflow instances) or CreateFailure (with the
// reason: no instance was created).
type CreateResult struct {
	Status              string
	WorkflowInstanceIDs []int64
	FailureMessage      string
}

// ListWorkflowInstancesRequest lists the manual workflow instances of one
// workflow and business date (2024-05-18).
type ListWorkflowInstancesRequest struct {
	ProjectName string // the numeric ProjectId
	FlowName    string // the numeric WorkflowId
	Bizdate     string // yyyy-MM-dd
	ProjectEnv  string // PROD (default) or DEV
	APIVersion  string // empty = the client's; must resolve to 2024-05-18
}

// WorkflowInstance is one workflow instance as ListWorkflowInstances reports
// it. Times are zero when the service left them out.
type WorkflowInstance struct {
	ID         int64
	WorkflowID int64
	ProjectID  int64
	Name       string
	Type       string
	Status     dag.Status
	Bizdate    time.Time
	CreateTime time.Time
	Tags       map[string]string
}

// InstanceRequest names one node instance for StopInstance and
// RestartInstance (2020-05-18; StopTaskInstances and RerunTaskInstances
// under 2024-05-18).
type InstanceRequest struct {
	InstanceID int64
	ProjectEnv string // PROD (default) or DEV
	APIVersion string // empty = the client's; must resolve to 2020-05-18 or 2024-05-18
}

// InstanceLogRequest asks for the run log of one node instance
// (2020-05-18; GetTaskInstanceLog of the latest run under 2024-05-18). Logs
// older than about 7 days may be gone.
type InstanceLogRequest struct {
	InstanceID int64
	ProjectEnv string // PROD (default) or DEV
	APIVersion string // empty = the client's; must resolve to 2020-05-18 or 2024-05-18
}
