package dataworks

import "github.com/manualdag/manualdag/dag"

// CreateManualDagRequest triggers one run of a manual business flow.
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

	ProjectEnv string // 2020-05-18 only: PROD (default) or DEV

	// BeforeSend, if set, runs after the client has waited for a free
	// connection slot, resolved the credential and got a slot under the QPS
	// cap (creates go before searches there), immediately before the
	// request goes out on a connection of its own. If it fails, nothing is sent (an *Error with Phase
	// NotSent). The create activity records its intent here, so that no
	// queueing separates the record from the request.
	BeforeSend func() error
}

// SearchManualDagNodeInstanceRequest lists the node instances of one DAG run.
type SearchManualDagNodeInstanceRequest struct {
	ProjectName string
	DagID       int64
	APIVersion  string // empty = the client's
	ProjectEnv  string // 2020-05-18 only: PROD (default) or DEV
}

// InstanceRequest names one node instance for StopInstance and
// RestartInstance (2020-05-18 only).
type InstanceRequest struct {
	InstanceID int64
	ProjectEnv string // PROD (default) or DEV
	APIVersion string // empty = the client's; must resolve to 2020-05-18
}

// InstanceLogRequest asks for the run log of one node instance
// (2020-05-18 only). Logs older than about 7 days may be gone.
type InstanceLogRequest struct {
	InstanceID int64
	ProjectEnv string // PROD (default) or DEV
	APIVersion string // empty = the client's; must resolve to 2020-05-18
}
