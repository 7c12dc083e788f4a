package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
)

// scheduledAt marks the run as started by a Schedule for the given time.
func (s *workflowSuite) scheduledAt(t time.Time) {
	s.Require().NoError(s.env.SetTypedSearchAttributesOnStart(temporal.NewSearchAttributes(ScheduledStartTime.ValueSet(t))))
}

var shanghai = time.FixedZone("CST", 8*3600)

// A scheduled run counts its bizdate from the scheduled time, not from when
// it started: a run due at 02:00 on 2 June (Shanghai) that starts a day
// late, caught up after an outage, still runs bizdate 2024-06-01.
func (s *workflowSuite) TestScheduledRunBizdateIsTheDayBeforeTheScheduledTime() {
	s.env.SetStartTime(time.Date(2024, 6, 3, 5, 0, 0, 0, shanghai))
	s.scheduledAt(time.Date(2024, 6, 2, 2, 0, 0, 0, shanghai))
	s.mockCreate()
	s.mockSearch(succeeded)
	in := input()
	in.Bizdate = ""
	r, err := s.run(in)
	s.Require().NoError(err)
	s.Equal("2024-06-01", r.Bizdate)
}

// The scheduled time is read in the input's timezone: 01:30 on 2 June in
// Shanghai is still 1 June in UTC.
func (s *workflowSuite) TestScheduledRunBizdateUsesTheTimezone() {
	s.env.SetStartTime(time.Date(2024, 6, 2, 1, 30, 5, 0, shanghai))
	s.scheduledAt(time.Date(2024, 6, 2, 1, 30, 0, 0, shanghai))
	s.mockCreate()
	s.mockSearch(succeeded)
	in := input()
	in.Bizdate, in.Timezone = "", "UTC"
	r, err := s.run(in)
	s.Require().NoError(err)
	s.Equal("2024-05-31", r.Bizdate)
}

// An explicit bizdate wins over the scheduled time.
func (s *workflowSuite) TestScheduledRunWithBizdateKeepsIt() {
	s.scheduledAt(time.Date(2024, 7, 10, 2, 0, 0, 0, shanghai))
	s.mockCreate()
	s.mockSearch(succeeded)
	r, err := s.run(input())
	s.Require().NoError(err)
	s.Equal("2024-06-01", r.Bizdate)
}
