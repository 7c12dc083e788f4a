package openevent

import (
	"context"
	"fmt"
	"sync"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/manualdag/manualdag/workflows"
)

// WorkflowLister is what TemporalFinder needs of a Temporal client;
// client.Client is one.
type WorkflowLister interface {
	ListWorkflow(ctx context.Context, request *workflowservice.ListWorkflowExecutionsRequest) (*workflowservice.ListWorkflowExecutionsResponse, error)
}

var _ WorkflowLister = client.Client(nil)

// FinderOptions tune a TemporalFinder; zero fields take their default.
type FinderOptions struct {
	// TTL is how long a found run is remembered. Default 1m: a DAG sends a
	// burst of events (one per node, then the DAG's), and a run that closed
	// meanwhile is noticed by the signal (NotFound) and forgotten.
	TTL time.Duration
	// NegativeTTL is how long "no open run" is remembered, at most
	// MaxNegativeTTL. Default 2s: enough to absorb a burst about a DAG
	// manualdag does not run, short enough that a run whose DAG id was just
	// indexed is found by the next event.
	NegativeTTL time.Duration
	// MaxEntries bounds the memory. Default 10,000.
	MaxEntries int
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// MaxNegativeTTL caps FinderOptions.NegativeTTL: a run that has just started
// may not be in visibility yet, and a longer memory would lose its events.
const MaxNegativeTTL = 5 * time.Second

// TemporalFinder finds the open RunManualDag run of a DAG through
// Temporal visibility: the DataWorksDagId search attribute, which a run
// sets once its trigger returns the DAG id (workflows.SearchAttributeDagID).
// A namespace without that attribute registered answers every look-up with
// an error (the receiver's 503; docs/operations.md registers it). Safe for
// concurrent use.
type TemporalFinder struct {
	lister    WorkflowLister
	namespace string
	o         FinderOptions

	mu    sync.Mutex
	cache map[int64]foundRun
}

type foundRun struct {
	workflowID, runID string // "" for no open run
	closed            bool   // no open run, and a closed one
	until             time.Time
}

var _ RunFinder = (*TemporalFinder)(nil)

// NewTemporalFinder looks runs up in namespace through c.
func NewTemporalFinder(c WorkflowLister, namespace string, o FinderOptions) *TemporalFinder {
	if o.TTL <= 0 {
		o.TTL = time.Minute
	}
	if o.NegativeTTL <= 0 {
		o.NegativeTTL = 2 * time.Second
	}
	o.NegativeTTL = min(o.NegativeTTL, MaxNegativeTTL)
	if o.MaxEntries <= 0 {
		o.MaxEntries = 10_000
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &TemporalFinder{lister: c, namespace: namespace, o: o, cache: map[int64]foundRun{}}
}

// Query is the visibility query for the runs of dagID, open or closed: a
// closed one says the event came after its run (202), none at all that
// the run may not be searchable yet (503, see ReceiverOptions.IndexGrace).
func Query(dagID int64) string {
	return fmt.Sprintf("WorkflowType = '%s' AND %s = %d",
		workflows.WorkflowName, workflows.SearchAttributeDagID.GetName(), dagID)
}

// FindRun returns the open run of dagID, the latest started when several
// are (none should be: one run triggers one DAG run).
func (f *TemporalFinder) FindRun(ctx context.Context, dagID int64) (string, string, error) {
	now := f.o.Now()
	f.mu.Lock()
	c, ok := f.cache[dagID]
	f.mu.Unlock()
	if ok && now.Before(c.until) {
		return c.answer()
	}
	resp, err := f.lister.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
		Namespace: f.namespace, PageSize: 10, Query: Query(dagID),
	})
	if err != nil {
		return "", "", fmt.Errorf("list the runs of DAG %d: %w", dagID, err)
	}
	found := foundRun{until: now.Add(f.o.NegativeTTL)}
	var started time.Time
	for _, e := range resp.GetExecutions() {
		if e.GetStatus() != enums.WORKFLOW_EXECUTION_STATUS_RUNNING {
			found.closed = true
			continue
		}
		if t := e.GetStartTime().AsTime(); found.workflowID == "" || t.After(started) {
			found.workflowID, found.runID, started = e.GetExecution().GetWorkflowId(), e.GetExecution().GetRunId(), t
		}
	}
	if found.workflowID != "" || found.closed {
		found.until = now.Add(f.o.TTL)
	}
	f.remember(dagID, found, now)
	return found.answer()
}

func (r foundRun) answer() (string, string, error) {
	switch {
	case r.workflowID != "":
		return r.workflowID, r.runID, nil
	case r.closed:
		return "", "", ErrRunClosed
	}
	return "", "", ErrNoRun
}

// Forget drops what is remembered of dagID (its run has closed).
func (f *TemporalFinder) Forget(dagID int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.cache, dagID)
}

// remember stores r, first dropping expired entries when full, and
// everything when still full: the cache only saves look-ups.
func (f *TemporalFinder) remember(dagID int64, r foundRun, now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.cache) >= f.o.MaxEntries {
		for id, c := range f.cache {
			if !now.Before(c.until) {
				delete(f.cache, id)
			}
		}
		if len(f.cache) >= f.o.MaxEntries {
			clear(f.cache)
		}
	}
	f.cache[dagID] = r
}
