package activities

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"

	"github.com/manualdag/manualdag/dataworks"
)

// slowToSendDW holds a create, as a busy connection pool or the QPS cap
// would, until the attempt has heartbeated twice while it waited; then it
// sends as the real client does: BeforeSend first.
type slowToSendDW struct {
	fakeDW
	beats <-chan struct{}
}

func (d *slowToSendDW) CreateManualDag(ctx context.Context, req dataworks.CreateManualDagRequest) (int64, error) {
	for range 2 {
		select {
		case <-d.beats:
		case <-time.After(5 * time.Second):
			return 0, &dataworks.Error{Phase: dataworks.PhaseNotSent, Code: dataworks.CodeQPSCap, Err: errors.New("no heartbeat while the create waited")}
		}
	}
	if err := req.BeforeSend(); err != nil {
		return 0, &dataworks.Error{Phase: dataworks.PhaseNotSent, Code: dataworks.CodeBeforeSend, Err: err}
	}
	return 700019657457, nil
}

// TestCreateHeartbeatsWhileWaitingToSend: a create that waits to send
// heartbeats {not-sent} meanwhile, so a long wait cannot pass the heartbeat
// timeout, and the last record before the request is its {sending} intent:
// no {not-sent} can overwrite it.
func TestCreateHeartbeatsWhileWaitingToSend(t *testing.T) {
	beats := make(chan struct{}, 100)
	var mu sync.Mutex
	var records []string
	record := func(_ context.Context, details any) error {
		p := details.(CreateProgress)
		mu.Lock()
		records = append(records, p.State)
		mu.Unlock()
		if p.State == createNotSent {
			select {
			case beats <- struct{}{}:
			default:
			}
		}
		return nil
	}
	var s testsuite.WorkflowTestSuite
	s.SetLogger(log.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(&Activities{DW: &slowToSendDW{beats: beats}, RecordIntent: record, createWaitHeartbeat: time.Millisecond})
	v, err := env.ExecuteActivity((&Activities{}).CreateManualDag, validCreate)
	if err != nil {
		t.Fatal(err)
	}
	var res CreateManualDagResult
	if err := v.Get(&res); err != nil || res.DagID != 700019657457 {
		t.Fatalf("got %+v, %v", res, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(records) < 3 || records[len(records)-1] != createSending {
		t.Fatalf("records %v: want {not-sent} beats, then the {sending} intent last", records)
	}
	for _, r := range records[:len(records)-1] {
		if r != createNotSent {
			t.Fatalf("records %v: only {not-sent} may precede the intent", records)
		}
	}
}

func TestWaitHeartbeatInterval(t *testing.T) {
	a := &Activities{}
	if got := a.waitHeartbeatEvery(30 * time.Second); got != 10*time.Second {
		t.Errorf("30s heartbeat timeout: every %v, want 10s", got)
	}
	if got := a.waitHeartbeatEvery(0); got != 0 {
		t.Errorf("no heartbeat timeout: every %v, want none", got)
	}
	// Without an interval nothing runs, and stop is harmless, twice.
	stop := a.heartbeatWhileWaiting(context.Background(), 1, 0)
	stop()
	stop()
}
