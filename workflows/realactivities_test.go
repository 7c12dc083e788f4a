package workflows

import (
	"context"
	"errors"
	"go.temporal.io/sdk/workflow"
	"sync"

	"github.com/manualdag/manualdag/activities"
	"github.com/manualdag/manualdag/dataworks"
)

// fakeDW is a scripted DataWorks behind the real activities.
type fakeDW struct {
	mu         sync.Mutex
	creates    int
	createErrs []error
	panicOn    int
	list       []dataworks.NodeInstance
}

func (f *fakeDW) CreateManualDag(context.Context, dataworks.CreateManualDagRequest) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.creates++
	if f.creates == f.panicOn {
		panic("worker died after sending")
	}
	if i := f.creates - 1; i < len(f.createErrs) && f.createErrs[i] != nil {
		return 0, f.createErrs[i]
	}
	return testDagID, nil
}

func (f *fakeDW) SearchManualDagNodeInstance(context.Context, dataworks.SearchManualDagNodeInstanceRequest) ([]dataworks.NodeInstance, error) {
	return f.list, nil
}

func (s *workflowSuite) useReal(dw *fakeDW) {
	s.env.RegisterActivity(&activities.Activities{DW: dw})
}

var errNotSent = &dataworks.Error{Action: "CreateManualDag", Phase: dataworks.PhaseNotSent, Code: dataworks.CodeTransport, Err: errors.New("dial tcp: connection refused")}

// The real create activity, retried by the workflow's policy after NotSent:
// the not-sent heartbeat lets the second attempt send.
func (s *workflowSuite) TestCreateRetriedAfterNotSent() {
	s.SetupTestReal()
	dw := &fakeDW{createErrs: []error{errNotSent, errNotSent}, list: succeeded}
	s.useReal(dw)
	r, err := s.run(input())
	s.Require().NoError(err)
	s.Equal(3, dw.creates)
	s.Equal(int64(testDagID), r.DagID)
}

// A worker that dies after sending (a panic stands in for the crash) is
// retried by Temporal; the next attempt finds the intent and does not send.
func (s *workflowSuite) TestCreateCrashAfterSendingNeverSendsTwice() {
	s.SetupTestReal()
	dw := &fakeDW{panicOn: 1, list: succeeded}
	s.useReal(dw)
	r, err := s.run(input())
	s.requireType(err, TriggerOutcomeUnknown)
	s.Equal(1, dw.creates)
	s.Zero(r.DagID)
	s.Contains(err.Error(), "demo_project/daily_sales (bizdate 2024-06-01)")
}

func (s *workflowSuite) TestCreateUnknownOutcomeNoSecondCreate() {
	s.SetupTestReal()
	dw := &fakeDW{createErrs: []error{&dataworks.Error{Action: "CreateManualDag", Phase: dataworks.PhaseUnknown, Code: dataworks.CodeTransport, Err: errors.New("i/o timeout")}}}
	s.useReal(dw)
	_, err := s.run(input())
	s.requireType(err, TriggerOutcomeUnknown)
	s.Equal(1, dw.creates)
	s.Contains(err.Error(), "Operation Center")
}

func (s *workflowSuite) TestCreateNotSentUntilAttemptsRunOutIsNotTriggered() {
	s.SetupTestReal()
	dw := &fakeDW{createErrs: []error{errNotSent, errNotSent, errNotSent, errNotSent, errNotSent, errNotSent, errNotSent, errNotSent, errNotSent, errNotSent, errNotSent}}
	s.useReal(dw)
	_, err := s.run(input())
	s.requireType(err, NotTriggered)
	s.Equal(createMaxAttempts, dw.creates)
	s.Contains(err.Error(), "no run was started")
}

// SetupTestReal is SetupTest without the nil-receiver registration, so that
// real activities can be registered.
func (s *workflowSuite) SetupTestReal() {
	s.env = s.NewTestWorkflowEnvironment()
	s.env.SetStartTime(s.start)
	s.env.RegisterWorkflowWithOptions(RunManualDag, workflow.RegisterOptions{Name: WorkflowName})
}
