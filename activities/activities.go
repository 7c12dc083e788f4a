// Package activities holds manualdag's Temporal activities: the only code
// that talks to DataWorks. Each activity maps DataWorks errors onto typed
// temporal.ApplicationErrors (errors.go) so that the workflow's retry
// policies can tell a throttled read from a trigger that must never be sent
// twice.
package activities

import (
	"context"
	"time"

	"github.com/manualdag/manualdag/dataworks"
)

// DataWorks is what the activities need from a DataWorks client;
// *aliyun.Client implements it (worker/wiring.go checks that at compile time).
type DataWorks interface {
	CreateManualDag(ctx context.Context, req dataworks.CreateManualDagRequest) (int64, error)
	SearchManualDagNodeInstance(ctx context.Context, req dataworks.SearchManualDagNodeInstanceRequest) ([]dataworks.NodeInstance, error)
}

// Activities are registered once on a worker (worker.RegisterActivity(&Activities{...}));
// the workflow calls their methods through a nil *Activities.
type Activities struct {
	// DW is the DataWorks client. Required.
	DW DataWorks
	// WI makes the 2024-05-18 creates. Default: DW, when it implements
	// WorkflowInstances (*aliyun.Client does).
	WI WorkflowInstances
	// Ops runs StopInstances, RestartInstances and GetInstanceLogs. Default:
	// DW, when it implements InstanceOps (*aliyun.Client does).
	Ops InstanceOps
	// Rand returns a number in [0,1) for retry jitter. Default math/rand/v2.
	Rand func() float64
	// MaxErrorMessage bounds each node's error message in a search result,
	// in bytes. Default 200.
	MaxErrorMessage int
	// RecordIntent stores the heartbeat details of an activity whose call
	// must not be repeated (CreateManualDag, RestartInstances) before it
	// sends, and returns once they are stored. Default: a synchronous
	// heartbeat through the activity's Temporal client. Tests on the SDK's
	// test environment, which has no client, set it.
	RecordIntent func(ctx context.Context, details any) error
	// QuotaBackoff is the wait before a call refused for a spent daily quota
	// (Throttling.Api.Risk) is tried again, plus up to as much again of
	// jitter. Default QuotaRetryDelay (30m) plus up to QuotaRetryJitter
	// (30m). The worker sets it from MANUALDAG_QUOTA_BACKOFF; tests shorten it.
	QuotaBackoff time.Duration
	// PollFloor, when set, returns the least wait between two polls of one
	// DAG run that the account's daily API budget allows (see
	// worker/budget.go); each search result carries it to the workflow,
	// which stretches its waits to it.
	PollFloor func() time.Duration

	// createWaitHeartbeat replaces a third of the heartbeat timeout as the
	// interval of a create's {not-sent} heartbeats while it waits to send;
	// tests, whose environment has no heartbeat timeout, set it.
	createWaitHeartbeat time.Duration
	// createResolveWindow and createResolvePoll replace ResolveWindow and
	// the polls of a 2024 create's resolution in tests.
	createResolveWindow time.Duration
	createResolvePoll   time.Duration
}

const defaultMaxErrorMessage = 200

func (a *Activities) rand() func() float64 {
	if a.Rand != nil {
		return a.Rand
	}
	return defaultRand
}

func (a *Activities) maxErrorMessage() int {
	if a.MaxErrorMessage > 0 {
		return a.MaxErrorMessage
	}
	return defaultMaxErrorMessage
}
