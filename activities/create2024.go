package activities

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/manualdag/manualdag/dag"
	"github.com/manualdag/manualdag/dataworks"
)

// WorkflowInstances are the 2024-05-18 calls the create needs besides the
// search; *aliyun.Client implements them.
type WorkflowInstances interface {
	CreateWorkflowInstances(ctx context.Context, req dataworks.CreateManualDagRequest) (string, error)
	GetCreateWorkflowInstancesResult(ctx context.Context, req dataworks.CreateResultRequest) (dataworks.CreateResult, error)
	ListWorkflowInstances(ctx context.Context, req dataworks.ListWorkflowInstancesRequest) ([]dataworks.WorkflowInstance, error)
}

// Resolving a 2024-05-18 create. An OperationId is followed until the
// instance is Created; a create whose outcome is unknown (no reply, a reply
// that cannot be read, an attempt that died after sending) is looked up by
// its marker tag. Neither ever sends again.
const (
	// ResolveWindow is how long one create attempt follows its OperationId
	// out of Creating and, when that cannot settle it, looks its run up by
	// the marker, before it gives up as outcome unknown. The workflow's
	// createStartToClose leaves room for it.
	ResolveWindow = 3 * time.Minute
	// resolveFirstPoll doubles up to resolveMaxPoll between the looks.
	resolveFirstPoll = 2 * time.Second
	resolveMaxPoll   = 15 * time.Second
	// createdSkew is how much earlier than the recorded intent (the
	// worker's clock) DataWorks may date the run it created (its clock).
	createdSkew = 5 * time.Minute
)

// createAccepted is the heartbeat state of a 2024 create that has its
// OperationId.
const createAccepted = "accepted"

// resumable reports whether p is the progress of a 2024 create that a later
// attempt can settle without sending: it has an OperationId to read, or an
// intent with a marker to look for.
func (p CreateProgress) resumable() bool {
	return p.APIVersion == dag.APIVersion2024 && p.DagID == 0 && p.Marker != "" &&
		(p.OperationID != "" || p.State == createSending)
}

// Resumable is resumable for the workflow, which reads the progress of an
// attempt that timed out.
func (p CreateProgress) Resumable() bool { return p.resumable() }

// clientVersion is the API version of the client, when it says.
func (a *Activities) clientVersion() string {
	if v, ok := a.DW.(interface{ APIVersion() string }); ok {
		return v.APIVersion()
	}
	return ""
}

func (a *Activities) workflowInstances() (WorkflowInstances, error) {
	if a.WI != nil {
		return a.WI, nil
	}
	if wi, ok := a.DW.(WorkflowInstances); ok {
		return wi, nil
	}
	return nil, temporal.NewNonRetryableApplicationError("this worker's DataWorks client has no 2024-05-18 calls", dag.ErrInvalidInput, nil)
}

// createRun carries one 2024 create attempt.
type createRun struct {
	a       *Activities
	wi      WorkflowInstances
	in      CreateManualDagInput
	bizdate string
	attempt int32
	prog    CreateProgress
	// end bounds the attempt's resolution: ResolveWindow after it began.
	end time.Time
	// done or err, once set, is the attempt's outcome.
	done *CreateManualDagResult
	err  error
}

func (c *createRun) settled() bool { return c.done != nil || c.err != nil }

func (c *createRun) result() (CreateManualDagResult, error) {
	if c.err != nil {
		return CreateManualDagResult{}, c.err
	}
	return *c.done, nil
}

// create2024 is CreateManualDag under 2024-05-18: CreateWorkflowInstances,
// then its OperationId followed to the instance id; prev is what an earlier
// attempt left (nil: none).
func (a *Activities) create2024(ctx context.Context, in CreateManualDagInput, bizdate string, prev *CreateProgress) (CreateManualDagResult, error) {
	for _, f := range []struct{ name, v string }{{"projectName", in.ProjectName}, {"flowName", in.FlowName}} {
		if _, err := dag.ParseNumericID(f.name, f.v); err != nil {
			return CreateManualDagResult{}, temporal.NewNonRetryableApplicationError("invalid CreateManualDag input: "+err.Error(), dag.ErrInvalidInput, nil)
		}
	}
	wi, err := a.workflowInstances()
	if err != nil {
		return CreateManualDagResult{}, err
	}
	info := activity.GetInfo(ctx)
	c := &createRun{a: a, wi: wi, in: in, bizdate: bizdate, attempt: info.Attempt, end: time.Now().Add(a.resolveWindow())}
	if prev != nil {
		switch {
		case prev.DagID > 0:
			return CreateManualDagResult{DagID: prev.DagID, Recovered: true}, nil
		case prev.resumable():
			c.prog = *prev
			c.prog.Attempt = info.Attempt
			if prev.OperationID != "" {
				return c.follow(ctx, "an earlier attempt sent the create and stopped before it read its result")
			}
			return c.lookUp(ctx, "an earlier attempt sent the create and stopped before it learned the reply")
		case prev.State != createNotSent:
			return CreateManualDagResult{}, outcomeUnknown(in, bizdate, fmt.Sprintf("attempt %d sent the request and stopped before it learned the reply, and left nothing to look its run up by", prev.Attempt))
		}
	}

	c.prog = CreateProgress{State: createSending, Attempt: info.Attempt, APIVersion: dag.APIVersion2024, Marker: info.WorkflowExecution.RunID}
	stopWaiting := a.heartbeatWhileWaiting(ctx, info.Attempt, a.waitHeartbeatEvery(info.HeartbeatTimeout))
	defer stopWaiting()
	var op string
	err = measure(ctx, ActionCreateManualDag, func() (err error) {
		op, err = wi.CreateWorkflowInstances(ctx, dataworks.CreateManualDagRequest{
			ProjectName:    in.ProjectName,
			FlowName:       in.FlowName,
			Bizdate:        bizdate,
			DagParameters:  in.DagParameters,
			NodeParameters: in.NodeParameters,
			APIVersion:     dag.APIVersion2024,
			ProjectEnv:     in.ProjectEnv,
			Marker:         c.prog.Marker,
			Comment:        fmt.Sprintf("manualdag: Temporal workflow %s, run %s", info.WorkflowExecution.ID, info.WorkflowExecution.RunID),
			BeforeSend: func() error {
				stopWaiting()
				c.prog.SentAt = time.Now()
				if err := a.recordIntent(ctx, c.prog); err != nil {
					return fmt.Errorf("the intent to send could not be recorded in Temporal, so the request was not sent: %w", err)
				}
				return ctx.Err()
			},
		})
		return err
	})
	switch {
	case err == nil:
		c.prog.State, c.prog.OperationID = createAccepted, op
		// Synchronous, so that an attempt that dies while following the
		// operation leaves its id; a failure here only costs that.
		if err := a.recordIntent(ctx, c.prog); err != nil {
			activity.GetLogger(ctx).Warn("Could not record the OperationId; a crash now would be resolved by the marker instead", "operationId", op, "error", err)
		}
		return c.follow(ctx, "")
	case dataworks.NotSent(err) || dataworks.Refused(err):
		return CreateManualDagResult{}, a.mapCreateError(ctx, in, bizdate, err)
	}
	return c.lookUp(ctx, err.Error())
}

// follow reads the create's result until it leaves Creating, within
// ResolveWindow; past it, or if the result cannot be read, it looks the
// run up by its marker.
func (c *createRun) follow(ctx context.Context, why string) (CreateManualDagResult, error) {
	req := dataworks.CreateResultRequest{OperationID: c.prog.OperationID, APIVersion: dag.APIVersion2024}
	var last error
	c.poll(ctx, func() (bool, error) {
		var res dataworks.CreateResult
		err := measure(ctx, ActionCreateResult, func() (err error) {
			res, err = c.wi.GetCreateWorkflowInstancesResult(ctx, req)
			return err
		})
		switch {
		case err != nil:
			last = err
			return dataworks.KnownPermanent(err), nil
		case res.Status == dataworks.CreateStatusCreated:
			return true, c.adopt(ctx, res.WorkflowInstanceIDs, "Created")
		case res.Status == dataworks.CreateStatusFailure:
			c.prog.State = createNotSent
			activity.RecordHeartbeat(ctx, c.prog)
			return true, temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("DataWorks could not create the run of workflow %s in project %s (bizdate %s), operation %s: %s",
					c.in.FlowName, c.in.ProjectName, c.bizdate, c.prog.OperationID, res.FailureMessage), dag.ErrPermanent, nil)
		}
		last = fmt.Errorf("operation %s still Creating", c.prog.OperationID)
		return false, nil
	})
	if c.settled() {
		return c.result()
	}
	if why == "" {
		why = "its OperationId's result was never read"
	}
	return c.lookUp(ctx, fmt.Sprintf("%s (%v)", why, last))
}

// lookUp finds the run by its marker in ListWorkflowInstances and adopts
// it; none within ResolveWindow is outcome unknown.
func (c *createRun) lookUp(ctx context.Context, why string) (CreateManualDagResult, error) {
	logger := activity.GetLogger(ctx)
	logger.Warn("The create's outcome is unknown; looking its run up by its marker", "marker", c.prog.Marker, "why", why)
	req := dataworks.ListWorkflowInstancesRequest{ProjectName: c.in.ProjectName, FlowName: c.in.FlowName, Bizdate: c.bizdate,
		ProjectEnv: c.in.ProjectEnv, APIVersion: dag.APIVersion2024}
	var last error
	c.poll(ctx, func() (bool, error) {
		var list []dataworks.WorkflowInstance
		err := measure(ctx, ActionListWorkflowInstances, func() (err error) {
			list, err = c.wi.ListWorkflowInstances(ctx, req)
			return err
		})
		if err != nil {
			last = err
			return dataworks.KnownPermanent(err), nil
		}
		var ids []int64
		for _, w := range list {
			if w.Tags[dataworks.MarkerTagKey] == c.prog.Marker && (w.CreateTime.IsZero() || c.prog.SentAt.IsZero() || !w.CreateTime.Before(c.prog.SentAt.Add(-createdSkew))) {
				ids = append(ids, w.ID)
			}
		}
		if len(ids) == 0 {
			last = fmt.Errorf("no workflow instance of bizdate %s carries the tag %s=%s", c.bizdate, dataworks.MarkerTagKey, c.prog.Marker)
			return false, nil
		}
		return true, c.adopt(ctx, ids, "found by its marker")
	})
	if c.settled() {
		return c.result()
	}
	return CreateManualDagResult{}, outcomeUnknown(c.in, c.bizdate, fmt.Sprintf("%s; its run was not found by its marker (tag %s=%s) within %v: %v",
		why, dataworks.MarkerTagKey, c.prog.Marker, c.a.resolveWindow(), last))
}

// adopt makes the one instance the create made this run's; more than one
// is outcome unknown (a human must look).
func (c *createRun) adopt(ctx context.Context, ids []int64, how string) error {
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	if len(ids) != 1 {
		strs := make([]string, len(ids))
		for i, id := range ids {
			strs[i] = fmt.Sprint(id)
		}
		return outcomeUnknown(c.in, c.bizdate, fmt.Sprintf("the create made %d workflow instances (%s)", len(ids), strings.Join(strs, ", ")))
	}
	c.prog.State, c.prog.DagID = createStarted, ids[0]
	activity.RecordHeartbeat(ctx, c.prog)
	dagLogger(ctx, ids[0]).Info("DAG run triggered in DataWorks", "project", c.in.ProjectName, "flow", c.in.FlowName,
		"bizdate", c.bizdate, "operationId", c.prog.OperationID, "how", how)
	c.done = &CreateManualDagResult{DagID: ids[0], Recovered: how != "Created"}
	return nil
}

// poll runs look every resolveFirstPoll doubling to resolveMaxPoll until it
// says stop (its error, if any, is the attempt's: kept in c.err) or
// ResolveWindow passes; it heartbeats the progress between looks.
func (c *createRun) poll(ctx context.Context, look func() (bool, error)) {
	end := c.end
	wait := c.a.resolvePoll(resolveFirstPoll)
	for {
		stop, err := look()
		if err != nil {
			c.err = err
		}
		if stop || !time.Now().Add(wait).Before(end) {
			return
		}
		activity.RecordHeartbeat(ctx, c.prog)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, c.a.resolvePoll(resolveMaxPoll))
	}
}

func (a *Activities) resolveWindow() time.Duration {
	if a.createResolveWindow > 0 {
		return a.createResolveWindow
	}
	return ResolveWindow
}

// resolvePoll is d, or the tests' shorter poll.
func (a *Activities) resolvePoll(d time.Duration) time.Duration {
	if a.createResolvePoll > 0 {
		return a.createResolvePoll
	}
	return d
}
