package workflows

import (
	"context"
	"errors"
	"time"

	"github.com/stretchr/testify/mock"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"

	"github.com/manualdag/manualdag/activities"
	"github.com/manualdag/manualdag/dag"
)

// A cancel while the create is between attempts (issue 12, item 3). On the
// server a cancel of an activity whose retry is scheduled but not started
// is answered at once, without the last attempt's heartbeat details; these
// tests hold the workflow to settling the create before it honours the
// cancel. The SDK's test environment cancels an activity in any state, so
// the e2e test TestCancelDuringCreateRetry proves the same on the dev server.

// mockCreateAttempts answers the create's attempts in turn: each after
// took, with its result or error; the last answer for ever.
func (s *workflowSuite) mockCreateAttempts(took time.Duration, answers ...any) {
	s.env.OnActivity(a.CreateManualDag, mock.Anything, mock.Anything).Return(
		func(context.Context, activities.CreateManualDagInput) (activities.CreateManualDagResult, error) {
			answer := answers[min(s.creates, len(answers)-1)]
			s.creates++
			if err, ok := answer.(error); ok {
				return activities.CreateManualDagResult{}, err
			}
			return answer.(activities.CreateManualDagResult), nil
		}).After(took)
}

// An attempt recorded its intent and died: a cancel right after must not
// read as "no DAG was triggered", which would let the next start send a
// second create.
func (s *workflowSuite) TestCancelAfterCreateDiedWhileSendingIsOutcomeUnknown() {
	s.mockCreateAttempts(heartbeatTimeout,
		temporal.NewTimeoutError(enumspb.TIMEOUT_TYPE_HEARTBEAT, nil, activities.CreateProgress{State: "sending", Attempt: 1}),
		// What a retry would answer on finding the intent.
		temporal.NewNonRetryableApplicationError("attempt 1 sent the request", dag.ErrTriggerOutcomeUnknown, nil))
	s.env.RegisterDelayedCallback(s.env.CancelWorkflow, heartbeatTimeout+createInitialBackoff/2)
	r, err := s.run(input())
	s.requireType(err, dag.ErrTriggerOutcomeUnknown)
	s.Equal(1, s.creates)
	s.Zero(r.DagID)
	s.NotContains(r.Message, "canceled before a DAG run was triggered")
	s.Contains(r.Message, "Operation Center")
}

// An attempt got the reply and died before it completed: a cancel right
// after reports the DAG it started (and stops it), not "no DAG".
func (s *workflowSuite) TestCancelAfterCreateDiedAfterReplyKeepsDagID() {
	s.mockCreateAttempts(createStartToClose,
		temporal.NewTimeoutError(enumspb.TIMEOUT_TYPE_START_TO_CLOSE, nil, activities.CreateProgress{State: "started", DagID: testDagID, Attempt: 1}),
		activities.CreateManualDagResult{DagID: testDagID, Recovered: true})
	s.mockSearch(running)
	s.env.RegisterDelayedCallback(s.env.CancelWorkflow, createStartToClose+createInitialBackoff/2)
	r, err := s.run(input())
	var canceled *temporal.CanceledError
	s.Require().True(errors.As(err, &canceled), "%v", err)
	s.Equal(dag.OutcomeCanceled, r.Outcome)
	s.Equal(int64(testDagID), r.DagID)
	s.Equal(1, s.creates)
}

// A cancel while the workflow waits to retry after an attempt that proved
// nothing was sent: CANCELED at once, no DAG, and no further attempt.
func (s *workflowSuite) TestCancelInCreateBackoffSendsNoMore() {
	s.mockCreateAttempts(time.Second,
		temporal.NewApplicationError("dial tcp: connection refused", dag.ErrCreateNotSent))
	s.env.RegisterDelayedCallback(s.env.CancelWorkflow, time.Second+createInitialBackoff/2)
	r, err := s.run(input())
	var canceled *temporal.CanceledError
	s.Require().True(errors.As(err, &canceled), "%v", err)
	s.Equal(dag.OutcomeCanceled, r.Outcome)
	s.Zero(r.DagID)
	s.Contains(r.Message, "canceled before a DAG run was triggered")
	s.Equal(1, s.creates)
	s.Less(s.elapsed(), createInitialBackoff, "the cancel does not wait for the back-off")
}

// An attempt that timed out before it recorded its intent, or after it
// proved nothing was sent, is retried; a throttled one after the delay it
// asked for.
func (s *workflowSuite) TestCreateRetriedAfterTimeoutBeforeSending() {
	s.mockCreateAttempts(heartbeatTimeout,
		temporal.NewTimeoutError(enumspb.TIMEOUT_TYPE_HEARTBEAT, nil),
		temporal.NewTimeoutError(enumspb.TIMEOUT_TYPE_HEARTBEAT, nil, activities.CreateProgress{State: "not-sent", Attempt: 1}),
		temporal.NewApplicationErrorWithOptions("Throttling.User", dag.ErrThrottled, temporal.ApplicationErrorOptions{NextRetryDelay: time.Minute}),
		activities.CreateManualDagResult{DagID: testDagID})
	s.mockSearch(succeeded)
	r, err := s.run(input())
	s.Require().NoError(err)
	s.Equal(int64(testDagID), r.DagID)
	s.Equal(4, s.creates)
	s.Equal(4*heartbeatTimeout+createInitialBackoff+2*createInitialBackoff+time.Minute, r.TriggeredAt.Sub(s.start))
}
