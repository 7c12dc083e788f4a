package activities

import (
	"cmp"
	"context"
	"fmt"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/manualdag/manualdag/dag"
	"github.com/manualdag/manualdag/dataworks"
)

// CreateManualDagInput triggers one run of a manual business flow.
type CreateManualDagInput struct {
	ProjectName string `json:"projectName"`
	FlowName    string `json:"flowName"`
	// Bizdate is yyyy-MM-dd (yyyy-MM-dd 00:00:00 is accepted).
	Bizdate        string               `json:"bizdate"`
	DagParameters  dag.Params           `json:"dagParameters,omitempty"`
	NodeParameters map[int64]dag.Params `json:"nodeParameters,omitempty"`
	// APIVersion is dag.APIVersion2018, APIVersion2020 or APIVersion2024;
	// empty = the client's. Under 2024-05-18 ProjectName and FlowName are
	// the numeric ProjectId and WorkflowId.
	APIVersion string `json:"apiVersion,omitempty"`
	// ProjectEnv is PROD (default) or DEV; 2020-05-18 and 2024-05-18.
	ProjectEnv string `json:"projectEnv,omitempty"`
	// Resume is the progress of an earlier attempt of a 2024-05-18 create
	// that stopped after sending (CreateProgress.Resumable): this attempt
	// sends nothing, and settles that one's outcome by its OperationId or
	// its marker.
	Resume *CreateProgress `json:"resume,omitempty"`
}

// CreateActivityName is the name the create activity is registered under
// (its method name): LookUpRun finds it in a run's history.
const CreateActivityName = "CreateManualDag"

// CreateManualDagResult is the id of the DAG run that was started.
type CreateManualDagResult struct {
	DagID int64 `json:"dagId"`
	// Recovered is true when an earlier attempt had started the run and this
	// attempt found its id in the heartbeat details instead of sending again.
	Recovered bool `json:"recovered,omitempty"`
}

// Validate reports the first problem that makes the input impossible to
// send. It is pure: the workflow calls it before scheduling anything.
func (in CreateManualDagInput) Validate() error {
	if err := dag.CheckName("projectName", in.ProjectName); err != nil {
		return err
	}
	if err := dag.CheckName("flowName", in.FlowName); err != nil {
		return err
	}
	if in.Bizdate == "" {
		return fmt.Errorf("bizdate is empty: give yyyy-MM-dd, e.g. 2024-06-01")
	}
	if _, err := dag.ParseBizdate(in.Bizdate); err != nil {
		return err
	}
	if err := in.DagParameters.Validate(); err != nil {
		return fmt.Errorf("dagParameters: %w", err)
	}
	for id, p := range in.NodeParameters {
		if id <= 0 {
			return fmt.Errorf("nodeParameters: node id %d is not a DataWorks node id (a positive number such as 103180025)", id)
		}
		if err := p.Validate(); err != nil {
			return fmt.Errorf("nodeParameters of node %d: %w", id, err)
		}
	}
	if in.APIVersion != "" && !dag.KnownAPIVersion(in.APIVersion) {
		return fmt.Errorf("apiVersion %q is not supported: use %s, or leave it out for the worker's", in.APIVersion, dag.APIVersionChoices())
	}
	if in.APIVersion == dag.APIVersion2024 {
		if _, err := dag.ParseNumericID("projectName", in.ProjectName); err != nil {
			return err
		}
		if _, err := dag.ParseNumericID("flowName", in.FlowName); err != nil {
			return err
		}
	}
	switch in.ProjectEnv {
	case "":
	case dag.ProjectEnvProd, dag.ProjectEnvDev:
		if !dag.HasEnv(in.APIVersion) {
			return fmt.Errorf("projectEnv is a %s and %s setting; set apiVersion to one of them or leave projectEnv out", dag.APIVersion2020, dag.APIVersion2024)
		}
	default:
		return fmt.Errorf("projectEnv %q is not %s or %s", in.ProjectEnv, dag.ProjectEnvProd, dag.ProjectEnvDev)
	}
	return nil
}

// Heartbeat states of a create. An attempt records createSending, with the
// first (synchronously sent) heartbeat of the attempt, before it sends.
const (
	createSending = "sending"
	createNotSent = "not-sent"
	createStarted = "started"
)

// CreateProgress is the create activity's heartbeat detail: what the last
// attempt knew when it stopped.
type CreateProgress struct {
	State   string `json:"state"`
	DagID   int64  `json:"dagId,omitempty"`
	Attempt int32  `json:"attempt"`
	// A 2024-05-18 create also records its version, the marker its run is
	// tagged with, when it was sent (the worker's clock) and, once
	// answered, its OperationId: what a later attempt needs to find the
	// run again instead of sending.
	APIVersion  string    `json:"apiVersion,omitempty"`
	Marker      string    `json:"marker,omitempty"`
	SentAt      time.Time `json:"sentAt,omitzero"`
	OperationID string    `json:"operationId,omitempty"`
}

// CreateManualDag starts one run of the flow and returns its DagID. It sends
// CreateManualDag at most once over all attempts of the activity:
//
//   - immediately before sending, the attempt records {state: sending} as
//     a heartbeat with a synchronous call that reports its error; if the
//     record fails or the context is done, it does not send (and the
//     failure is a retryable "not sent");
//   - an attempt that finds {sending} left by an earlier one does not send:
//     that attempt died or timed out with the outcome unknown, so this one
//     fails with the final ErrTriggerOutcomeUnknown;
//   - an attempt that finds a DagID returns it;
//   - only a failure that proves nothing reached DataWorks (ErrCreateNotSent,
//     ErrThrottled, ErrQuotaExhausted) is retryable, and it is preceded by a
//     {not-sent} heartbeat, which the SDK flushes when the attempt fails;
//   - a reply that refuses the create (dataworks.Refused: a 4xx, or a code
//     DataWorks documents as a refusal) is final ErrPermanent, or retried
//     when curable; any other business error, even inside an HTTP 200, may
//     have started a run and is ErrTriggerOutcomeUnknown.
func (a *Activities) CreateManualDag(ctx context.Context, in CreateManualDagInput) (CreateManualDagResult, error) {
	if err := in.Validate(); err != nil {
		return CreateManualDagResult{}, temporal.NewNonRetryableApplicationError("invalid CreateManualDag input: "+err.Error(), dag.ErrInvalidInput, nil)
	}
	bizdate, _ := dag.ParseBizdate(in.Bizdate)
	info := activity.GetInfo(ctx)
	logger := activity.GetLogger(ctx)

	if version := cmp.Or(in.APIVersion, a.clientVersion()); version == dag.APIVersion2024 {
		prev := in.Resume
		if prev == nil && activity.HasHeartbeatDetails(ctx) {
			prev = &CreateProgress{}
			if err := activity.GetHeartbeatDetails(ctx, prev); err != nil {
				return CreateManualDagResult{}, outcomeUnknown(in, bizdate, fmt.Sprintf("the progress of an earlier attempt is unreadable (%v)", err))
			}
		}
		return a.create2024(ctx, in, bizdate, prev)
	}
	if in.Resume != nil {
		return CreateManualDagResult{}, outcomeUnknown(in, bizdate, fmt.Sprintf("attempt %d sent the request and stopped before it learned the reply", in.Resume.Attempt))
	}
	if activity.HasHeartbeatDetails(ctx) {
		var prev CreateProgress
		if err := activity.GetHeartbeatDetails(ctx, &prev); err != nil {
			// Unreadable progress could hide a sent request.
			return CreateManualDagResult{}, outcomeUnknown(in, bizdate, fmt.Sprintf("the progress of an earlier attempt is unreadable (%v)", err))
		}
		switch {
		case prev.DagID > 0:
			logger.Info("DAG run started by an earlier attempt", "dagId", prev.DagID, "attempt", prev.Attempt)
			return CreateManualDagResult{DagID: prev.DagID, Recovered: true}, nil
		case prev.State == createNotSent:
			// Proven harmless: send again.
		default:
			return CreateManualDagResult{}, outcomeUnknown(in, bizdate, fmt.Sprintf("attempt %d sent the request and stopped before it learned the reply (worker crash or timeout)", prev.Attempt))
		}
	}

	// The intent is recorded by BeforeSend: after the client has a free
	// connection slot, the credential and a QPS slot, immediately before
	// the request goes out, so that no queueing separates the record from
	// the send. Until then the attempt heartbeats {not-sent}, which is true
	// and keeps a long wait from passing the heartbeat timeout.
	stopWaiting := a.heartbeatWhileWaiting(ctx, info.Attempt, a.waitHeartbeatEvery(info.HeartbeatTimeout))
	defer stopWaiting()
	var dagID int64
	err := measure(ctx, ActionCreateManualDag, func() (err error) {
		dagID, err = a.DW.CreateManualDag(ctx, dataworks.CreateManualDagRequest{
			ProjectName:    in.ProjectName,
			FlowName:       in.FlowName,
			Bizdate:        bizdate,
			DagParameters:  in.DagParameters,
			NodeParameters: in.NodeParameters,
			APIVersion:     in.APIVersion,
			ProjectEnv:     in.ProjectEnv,
			BeforeSend: func() error {
				stopWaiting()
				if err := a.recordIntent(ctx, CreateProgress{State: createSending, Attempt: info.Attempt}); err != nil {
					return fmt.Errorf("the intent to send could not be recorded in Temporal, so the request was not sent: %w", err)
				}
				// A cancelled attempt does not send.
				return ctx.Err()
			},
		})
		return err
	})
	if err == nil && dagID <= 0 {
		err = fmt.Errorf("DataWorks CreateManualDag replied success without a DAG id (%d)", dagID)
	}
	if err == nil {
		// Buffered, and flushed if this attempt fails later; lost only if the
		// worker dies now, which the next attempt reads as outcome unknown.
		activity.RecordHeartbeat(ctx, CreateProgress{State: createStarted, DagID: dagID, Attempt: info.Attempt})
		dagLogger(ctx, dagID).Info("DAG run triggered in DataWorks", "project", in.ProjectName, "flow", in.FlowName, "bizdate", bizdate)
		return CreateManualDagResult{DagID: dagID}, nil
	}
	return CreateManualDagResult{}, a.mapCreateError(ctx, in, bizdate, err)
}

func (a *Activities) mapCreateError(ctx context.Context, in CreateManualDagInput, bizdate string, err error) error {
	attempt := activity.GetInfo(ctx).Attempt
	m := errorMapper{attempt: attempt, rnd: a.rand(), quota: a.QuotaBackoff}
	switch {
	case dataworks.NotSent(err):
		activity.RecordHeartbeat(ctx, CreateProgress{State: createNotSent, Attempt: attempt})
		switch {
		case dataworks.QuotaExhausted(err):
			return temporal.NewApplicationErrorWithOptions(err.Error(), dag.ErrQuotaExhausted, temporal.ApplicationErrorOptions{NextRetryDelay: m.quotaDelay()})
		case dataworks.Throttled(err):
			return temporal.NewApplicationErrorWithOptions(err.Error(), dag.ErrThrottled, temporal.ApplicationErrorOptions{NextRetryDelay: ThrottleDelay(attempt, m.rnd)})
		}
		return temporal.NewApplicationError(err.Error(), dag.ErrCreateNotSent)
	case dataworks.Refused(err) && dataworks.Permanent(err):
		// DataWorks refused and processed nothing: no run was started.
		activity.RecordHeartbeat(ctx, CreateProgress{State: createNotSent, Attempt: attempt})
		return temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("DataWorks refused to trigger %s/%s (bizdate %s), %s: %v", in.ProjectName, in.FlowName, bizdate, describe(err), err),
			dag.ErrPermanent, nil)
	case dataworks.Refused(err):
		// Refused before acting, and curable (a reused signature nonce).
		activity.RecordHeartbeat(ctx, CreateProgress{State: createNotSent, Attempt: attempt})
		return temporal.NewApplicationError(err.Error(), dag.ErrCreateNotSent)
	}
	// Anything else may have started a run: no reply, a 5xx, a reply we
	// cannot read, and a business error inside a 2xx with a code DataWorks
	// does not document as a refusal (or a 2020 envelope saying 5xx).
	return outcomeUnknown(in, bizdate, err.Error())
}

// outcomeUnknown is the final error of a create that may have started a run.
func outcomeUnknown(in CreateManualDagInput, bizdate, why string) error {
	return temporal.NewNonRetryableApplicationError(OutcomeUnknownMessage(in.ProjectName, in.FlowName, bizdate, why), dag.ErrTriggerOutcomeUnknown, nil)
}

// OutcomeUnknownMessage says what happened and what the user must check.
func OutcomeUnknownMessage(project, flow, bizdate, why string) string {
	return fmt.Sprintf("the trigger of DataWorks flow %s/%s (bizdate %s) may or may not have started a DAG run: %s. "+
		"manualdag does not send it again, because a second request would start a second run. "+
		"Check DataWorks Operation Center > Manual Instances (手动实例) for flow %s, bizdate %s: "+
		"if a run exists, follow it there; start this workflow again only if none does",
		project, flow, bizdate, why, flow, bizdate)
}

// waitHeartbeatEvery is how often a create heartbeats while it waits to
// send: a third of the heartbeat timeout, so that one lost beat is not
// fatal; never without a timeout.
func (a *Activities) waitHeartbeatEvery(timeout time.Duration) time.Duration {
	if a.createWaitHeartbeat > 0 {
		return a.createWaitHeartbeat
	}
	return timeout / 3
}

// heartbeatWhileWaiting records {not-sent} every interval until stop is
// called or ctx ends. The records are synchronous, like the intent, and
// stop returns only once none is in flight: a {not-sent} that reached the
// server after the {sending} intent would let the next attempt send a
// second create.
func (a *Activities) heartbeatWhileWaiting(ctx context.Context, attempt int32, every time.Duration) (stop func()) {
	if every <= 0 {
		return func() {}
	}
	done, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-tick.C:
				// A failed beat is not fatal: the intent record that
				// follows reports its own error.
				_ = a.recordIntent(ctx, CreateProgress{State: createNotSent, Attempt: attempt})
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(done); <-exited }) }
}

// recordIntent stores p as the activity's heartbeat details on the server
// and returns only once the server has them. activity.RecordHeartbeat is not
// enough: it drops its error, and some failures (a deadline exceeded, an
// expired API key) neither reach the caller nor cancel the context, so a
// request could be sent with no intent on record.
func (a *Activities) recordIntent(ctx context.Context, p any) error {
	if a.RecordIntent != nil {
		return a.RecordIntent(ctx, p)
	}
	return activity.GetClient(ctx).RecordActivityHeartbeat(ctx, activity.GetInfo(ctx).TaskToken, p)
}
