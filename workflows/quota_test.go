package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/manualdag/manualdag/dag"
)

// A spent daily quota pauses polling on a workflow timer, and the live
// report says why and until when; the watch resumes when the quota returns.
func (s *workflowSuite) TestDailyQuotaPauseIsInTheLiveStatus() {
	s.mockCreate()
	quota := temporal.NewApplicationErrorWithOptions("DataWorks SearchManualDagNodeInstance: Throttling.Api.Risk", dag.ErrQuotaExhausted,
		temporal.ApplicationErrorOptions{NextRetryDelay: 40 * time.Minute})
	s.mockSearch(running, quota, quota, succeeded)
	var during, after dag.DagReport
	s.env.RegisterDelayedCallback(func() {
		v, err := s.env.QueryWorkflow(QueryStatus)
		s.Require().NoError(err)
		s.Require().NoError(v.Get(&during))
	}, 30*time.Minute)
	s.env.RegisterDelayedCallback(func() {
		v, err := s.env.QueryWorkflow(QueryStatus)
		s.Require().NoError(err)
		s.Require().NoError(v.Get(&after))
	}, 70*time.Minute)
	r, err := s.run(input())
	s.Require().NoError(err)
	s.Equal(dag.OutcomeSucceeded, r.Outcome)
	s.Equal(4, s.script.calls, "one refused call per pause, no retry storm")
	s.Equal(2, r.Polls, "refused calls are not polls")
	s.GreaterOrEqual(s.elapsed(), 80*time.Minute)

	s.Equal(dag.OutcomeRunning, during.Outcome)
	s.Contains(during.Message, "Throttling.Api.Risk")
	s.Contains(during.Message, "polling paused until")
	s.Contains(after.Message, "polling paused until", "still spent at the second call")
	s.NotContains(r.Message, "paused", "the final report does not mention a quota that returned")
}

// The deadline ends a quota pause: TIMED_OUT at the deadline, not after
// the pause.
func (s *workflowSuite) TestDailyQuotaPauseEndsAtTheDeadline() {
	s.mockCreate()
	quota := temporal.NewApplicationErrorWithOptions("quota", dag.ErrQuotaExhausted,
		temporal.ApplicationErrorOptions{NextRetryDelay: 50 * time.Minute})
	s.mockSearch(running, quota)
	in := input()
	in.Timeout = dag.Duration(30 * time.Minute)
	r, err := s.run(in)
	s.requireType(err, dag.ErrDagTimedOut)
	s.Equal(30*time.Minute, s.elapsed())
	s.Equal(1, r.Polls)
}
