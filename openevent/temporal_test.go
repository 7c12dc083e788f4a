package openevent

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/api/enums/v1"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

type fakeLister struct {
	mu      sync.Mutex
	runs    map[int64][]*workflowpb.WorkflowExecutionInfo
	err     error
	queries []string
}

func (l *fakeLister) ListWorkflow(_ context.Context, req *workflowservice.ListWorkflowExecutionsRequest) (*workflowservice.ListWorkflowExecutionsResponse, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.queries = append(l.queries, req.GetNamespace()+": "+req.GetQuery())
	if l.err != nil {
		return nil, l.err
	}
	for id, runs := range l.runs {
		if req.GetQuery() == Query(id) {
			return &workflowservice.ListWorkflowExecutionsResponse{Executions: runs}, nil
		}
	}
	return &workflowservice.ListWorkflowExecutionsResponse{}, nil
}

func (l *fakeLister) calls() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.queries)
}

func execution(workflowID, runID string, started time.Time) *workflowpb.WorkflowExecutionInfo {
	return &workflowpb.WorkflowExecutionInfo{
		Execution: &commonpb.WorkflowExecution{WorkflowId: workflowID, RunId: runID},
		StartTime: timestamppb.New(started),
		Status:    enums.WORKFLOW_EXECUTION_STATUS_RUNNING,
	}
}

// A DAG whose runs have all closed is told apart from one with no run at
// all (ErrRunClosed, which is also ErrNoRun), and remembered as long as a
// found run: its late events need no retry.
func TestTemporalFinderClosedRun(t *testing.T) {
	now := testNow
	closed := execution("done", "r1", testNow.Add(-time.Hour))
	closed.Status = enums.WORKFLOW_EXECUTION_STATUS_COMPLETED
	continued := execution("done", "r0", testNow.Add(-2*time.Hour))
	continued.Status = enums.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW
	l := &fakeLister{runs: map[int64][]*workflowpb.WorkflowExecutionInfo{testDagID: {continued, closed}}}
	f := NewTemporalFinder(l, "dw", FinderOptions{Now: func() time.Time { return now }})
	if _, _, err := f.FindRun(context.Background(), testDagID); !errors.Is(err, ErrRunClosed) || !errors.Is(err, ErrNoRun) {
		t.Fatalf("FindRun = %v, want ErrRunClosed", err)
	}
	now = now.Add(30 * time.Second)
	if _, _, err := f.FindRun(context.Background(), testDagID); !errors.Is(err, ErrRunClosed) || l.calls() != 1 {
		t.Fatalf("within the TTL: %v after %d look-ups, want ErrRunClosed from memory", err, l.calls())
	}
	l.runs[testDagID] = append(l.runs[testDagID], execution("done", "r2", testNow))
	f.Forget(testDagID)
	if wf, run, err := f.FindRun(context.Background(), testDagID); err != nil || wf != "done" || run != "r2" {
		t.Fatalf("an open run beside closed ones: %q %q %v", wf, run, err)
	}
}

func TestQuery(t *testing.T) {
	want := "WorkflowType = 'RunManualDag' AND DataWorksDagId = 1000123"
	if got := Query(1000123); got != want {
		t.Errorf("Query = %q, want %q", got, want)
	}
}

func TestTemporalFinderFindsAndRemembers(t *testing.T) {
	now := testNow
	l := &fakeLister{runs: map[int64][]*workflowpb.WorkflowExecutionInfo{
		testDagID: {execution("old", "r1", testNow.Add(-time.Hour)), execution("new", "r2", testNow.Add(-time.Minute))},
	}}
	f := NewTemporalFinder(l, "dw", FinderOptions{Now: func() time.Time { return now }})
	ctx := context.Background()
	wf, run, err := f.FindRun(ctx, testDagID)
	if err != nil || wf != "new" || run != "r2" {
		t.Fatalf("FindRun = %q %q %v, want the latest started", wf, run, err)
	}
	if l.queries[0] != "dw: "+Query(testDagID) {
		t.Errorf("query %q", l.queries[0])
	}
	now = now.Add(59 * time.Second)
	if wf, _, _ := f.FindRun(ctx, testDagID); wf != "new" || l.calls() != 1 {
		t.Errorf("within the TTL: %q after %d look-ups, want 1", wf, l.calls())
	}
	now = now.Add(2 * time.Second)
	if _, _, _ = f.FindRun(ctx, testDagID); l.calls() != 2 {
		t.Errorf("past the TTL: %d look-ups, want 2", l.calls())
	}
	f.Forget(testDagID)
	if _, _, _ = f.FindRun(ctx, testDagID); l.calls() != 3 {
		t.Errorf("after Forget: %d look-ups, want 3", l.calls())
	}
}

// "No open run" is remembered for seconds only: a run whose DAG id was just
// indexed is found by the next event.
func TestTemporalFinderNegativeCacheIsShort(t *testing.T) {
	now := testNow
	l := &fakeLister{runs: map[int64][]*workflowpb.WorkflowExecutionInfo{}}
	f := NewTemporalFinder(l, "dw", FinderOptions{Now: func() time.Time { return now }, NegativeTTL: time.Hour})
	ctx := context.Background()
	if _, _, err := f.FindRun(ctx, 7); !errors.Is(err, ErrNoRun) {
		t.Fatalf("FindRun = %v, want ErrNoRun", err)
	}
	if _, _, err := f.FindRun(ctx, 7); !errors.Is(err, ErrNoRun) || l.calls() != 1 {
		t.Fatalf("at once: %v after %d look-ups, want ErrNoRun from memory", err, l.calls())
	}
	l.mu.Lock()
	l.runs[7] = []*workflowpb.WorkflowExecutionInfo{execution("fresh", "r", testNow)}
	l.mu.Unlock()
	now = now.Add(MaxNegativeTTL) // an hour asked for, capped
	if wf, _, err := f.FindRun(ctx, 7); err != nil || wf != "fresh" {
		t.Fatalf("after %s: %q %v, want the run indexed meanwhile", MaxNegativeTTL, wf, err)
	}
}

func TestTemporalFinderErrorsAreNotRemembered(t *testing.T) {
	l := &fakeLister{err: errors.New("deadline exceeded")}
	f := NewTemporalFinder(l, "dw", FinderOptions{Now: func() time.Time { return testNow }})
	for i := 0; i < 2; i++ {
		if _, _, err := f.FindRun(context.Background(), 7); err == nil || errors.Is(err, ErrNoRun) {
			t.Fatalf("FindRun = %v, want the lister's error", err)
		}
	}
	if l.calls() != 2 {
		t.Errorf("%d look-ups, want 2", l.calls())
	}
}

func TestTemporalFinderIsBounded(t *testing.T) {
	l := &fakeLister{runs: map[int64][]*workflowpb.WorkflowExecutionInfo{}}
	f := NewTemporalFinder(l, "dw", FinderOptions{Now: func() time.Time { return testNow }, MaxEntries: 3})
	for id := int64(1); id <= 10; id++ {
		_, _, _ = f.FindRun(context.Background(), id)
	}
	f.mu.Lock()
	n := len(f.cache)
	f.mu.Unlock()
	if n > 3 {
		t.Errorf("%d entries, want at most 3", n)
	}
}
