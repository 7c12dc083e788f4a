package workflows

import (
	"fmt"
	"strconv"
	"time"

	"github.com/manualdag/manualdag/activities"
	"github.com/manualdag/manualdag/dag"
)

// settings is the validated input with every default filled in.
type settings struct {
	create           activities.CreateManualDagInput
	timeout          time.Duration
	blockedGrace     time.Duration
	failureWatch     time.Duration
	failFast         bool
	stopOnFailFast   bool
	emptyListGrace   time.Duration
	listSettle       time.Duration
	policy           BackoffPolicy
	predictive       bool          // poll.mode predictive: PredictivePolicy over policy
	prompt           time.Duration // PredictivePolicy.Prompt
	failOnDagFailure bool
	stopOnDeadline   bool
	waitForRecovery  time.Duration
}

// Validate checks the input as the workflow will, taking today as the start
// date; for starters and tests. The workflow itself validates against
// workflow time.
func (in RunManualDagInput) Validate() error {
	_, err := in.settings(time.Now())
	return err
}

// durationSetting is one duration of the input: its name in the input,
// the value given (0 = not given), its default (0 = none: the setting is
// off unless given) and its bounds.
type durationSetting struct {
	name     string
	given    dag.Duration
	def      time.Duration
	min, max time.Duration
	dst      *time.Duration
}

// durations is the table of the input's durations, defaults and bounds.
func (in RunManualDagInput) durations(s *settings) []durationSetting {
	return []durationSetting{
		{"timeout", in.Timeout, DefaultTimeout, time.Minute, MaxTimeout, &s.timeout},
		{"poll.initialInterval", in.Poll.InitialInterval, DefaultInitialInterval, MinPollInterval, MaxPollInterval, &s.policy.Initial},
		{"poll.maxInterval", in.Poll.MaxInterval, DefaultMaxInterval, MinPollInterval, MaxPollInterval, &s.policy.Max},
		{"blockedGrace", in.BlockedGrace, DefaultBlockedGrace, time.Second, MaxGrace, &s.blockedGrace},
		{"failureWatch", in.FailureWatch, DefaultFailureWatch, MinFailureWatch, MaxFailureWatch, &s.failureWatch},
		{"emptyListGrace", in.EmptyListGrace, DefaultEmptyListGrace, time.Second, MaxGrace, &s.emptyListGrace},
		{"listSettle", in.ListSettle, DefaultListSettle, time.Second, time.Hour, &s.listSettle},
		{"failurePolicy.waitForRecovery", in.FailurePolicy.WaitForRecovery, 0, time.Second, MaxWaitForRecovery, &s.waitForRecovery},
	}
}

// apply sets the setting, or says why the given value is refused.
func (d durationSetting) apply() error {
	*d.dst = orDefault(d.given, d.def)
	if *d.dst == 0 {
		return nil // off: nothing given and no default
	}
	return inRange(d.name, *d.dst, d.min, d.max)
}

// settings validates the input; now is the workflow's start time, which
// picks the default bizdate. Pure.
func (in RunManualDagInput) settings(now time.Time) (settings, error) {
	if in.decodeErr != nil {
		return settings{}, in.decodeErr
	}
	s := settings{
		failOnDagFailure: in.FailOnDagFailure == nil || *in.FailOnDagFailure,
		policy:           BackoffPolicy{Multiplier: in.Poll.Multiplier, Jitter: in.Poll.Jitter},
	}
	for _, d := range in.durations(&s) {
		if err := d.apply(); err != nil {
			return settings{}, err
		}
	}
	for _, check := range []func(*settings) error{in.pollSettings, in.endSettings} {
		if err := check(&s); err != nil {
			return settings{}, err
		}
	}
	bizdate, err := in.bizdate(now)
	if err != nil {
		return settings{}, err
	}
	if s.create, err = in.createInput(bizdate); err != nil {
		return settings{}, err
	}
	if c := in.Continued; c != nil && (c.DagID <= 0 || c.Deadline.IsZero() || c.TriggeredAt.IsZero()) {
		return settings{}, fmt.Errorf("continued is set by the workflow when it continues as new; leave it out")
	}
	return s, nil
}

// pollSettings checks poll.mode, multiplier and jitter, with defaults.
func (in RunManualDagInput) pollSettings(s *settings) error {
	switch in.Poll.Mode {
	case "", PollPredictive:
		s.predictive = true
		s.prompt = orDefault(in.Poll.InitialInterval, DefaultPromptInterval)
	case PollBackoff:
	default:
		return fmt.Errorf("poll.mode %q is not %q (default: learn from the flow's earlier runs) or %q (back off while nothing changes)", in.Poll.Mode, PollPredictive, PollBackoff)
	}
	if s.policy.Multiplier == 0 {
		s.policy.Multiplier = DefaultMultiplier
	}
	switch {
	case s.policy.Jitter == 0:
		s.policy.Jitter = DefaultJitter
	case s.policy.Jitter < 0:
		s.policy.Jitter = 0
	}
	switch {
	case s.policy.Max < s.policy.Initial:
		return fmt.Errorf("poll.maxInterval %v is shorter than poll.initialInterval %v", s.policy.Max, s.policy.Initial)
	case s.policy.Multiplier < 1 || s.policy.Multiplier > 10:
		return fmt.Errorf("poll.multiplier %v is out of range: use a number from 1 (constant interval) to 10", s.policy.Multiplier)
	case s.policy.Jitter > 0.5:
		return fmt.Errorf("poll.jitter %v is out of range: use a fraction from 0 to 0.5", s.policy.Jitter)
	}
	return nil
}

// endSettings checks what decides how the run begins and ends: dagId,
// allowDuplicate, onDeadline and failFast.
func (in RunManualDagInput) endSettings(s *settings) error {
	switch {
	case in.DagID < 0:
		return fmt.Errorf("dagId %d is not a DataWorks DAG id: give the positive id Operation Center shows, or leave dagId out to trigger a new DAG run", in.DagID)
	case in.DagID > 0 && in.AllowDuplicate:
		return fmt.Errorf("dagId follows an existing DAG run and triggers nothing, so allowDuplicate means nothing beside it: leave one of them out")
	}
	switch in.OnDeadline {
	case "", OnDeadlineStop:
		s.stopOnDeadline = true
	case OnDeadlineLeave:
	default:
		return fmt.Errorf("onDeadline %q is not %q (default: stop the unfinished instances in DataWorks) or %q (let them run on)", in.OnDeadline, OnDeadlineStop, OnDeadlineLeave)
	}
	switch in.FailFast {
	case "":
	case OnDeadlineStop, OnDeadlineLeave:
		s.failFast, s.stopOnFailFast = true, in.FailFast == OnDeadlineStop
	default:
		return fmt.Errorf("failFast %q is not %q (end FAILED at the first failed node and stop the unfinished instances) or %q (end FAILED and let them run on); leave it out to wait until the DAG can go no further", in.FailFast, OnDeadlineStop, OnDeadlineLeave)
	}
	if s.failFast && s.waitForRecovery > 0 {
		return fmt.Errorf("failFast ends the run at the first failure, failurePolicy.waitForRecovery keeps a failed DAG open for a rerun: leave one of them out")
	}
	return nil
}

// bizdate is the input's bizdate, or the default one for now in timezone.
func (in RunManualDagInput) bizdate(now time.Time) (string, error) {
	bizdate := in.Bizdate
	if bizdate == "" {
		tz := in.Timezone
		if tz == "" {
			tz = DefaultTimezone
		}
		// time.LoadLocation reads the zone database, which is the same on
		// every replay of a given worker build; validated before use.
		loc, err := time.LoadLocation(tz)
		if err != nil {
			return "", fmt.Errorf("timezone %q is not an IANA time zone such as Asia/Shanghai or UTC", tz)
		}
		bizdate = dag.DefaultBizdate(now, loc)
	} else if in.Timezone != "" {
		return "", fmt.Errorf("timezone only picks the default bizdate; leave it out when bizdate is given")
	}
	return dag.ParseBizdate(bizdate)
}

// createInput is the create activity's input, validated as it will be.
func (in RunManualDagInput) createInput(bizdate string) (activities.CreateManualDagInput, error) {
	c := activities.CreateManualDagInput{
		ProjectName:   in.ProjectName,
		FlowName:      in.FlowName,
		Bizdate:       bizdate,
		DagParameters: dag.Params(in.DagParameters),
		APIVersion:    in.APIVersion,
		ProjectEnv:    in.ProjectEnv,
	}
	for key, p := range in.NodeParameters {
		id, err := dag.ParseNodeID(key)
		if err != nil {
			return c, fmt.Errorf("nodeParameters: %w", err)
		}
		if c.NodeParameters == nil {
			c.NodeParameters = map[int64]dag.Params{}
		}
		// ParseNodeID accepts one spelling per id, so this is a guard: two
		// keys of one node would send whichever the map loop saw last.
		if _, dup := c.NodeParameters[id]; dup {
			return c, fmt.Errorf("nodeParameters: node %d is given under two keys: merge them into one, %q", id, strconv.FormatInt(id, 10))
		}
		c.NodeParameters[id] = dag.Params(p)
	}
	return c, c.Validate()
}

// pollPolicy is the policy of these settings: poll.mode backoff is
// BackoffPolicy alone, the default PredictivePolicy over prompt polling.
func (s settings) pollPolicy() PollPolicy {
	if !s.predictive {
		return s.policy
	}
	// Without a prediction, poll every Prompt: an end at any moment is seen
	// within the goal. A repeat window costs the history nothing per poll,
	// only the API (bounded by the task queue's rate and the daily budget).
	prompt := min(s.prompt, s.policy.Max)
	return PredictivePolicy{
		Prompt:   prompt,
		MaxWait:  s.policy.Max,
		Miss:     DefaultMiss,
		Jitter:   s.policy.Jitter,
		Fallback: BackoffPolicy{Initial: prompt, Max: prompt, Multiplier: 1, Jitter: s.policy.Jitter},
	}
}

// PollPolicy returns the policy a run started now with this input polls
// with, for benchmarks and tools that replay DAG timelines through it.
func (in RunManualDagInput) PollPolicy(now time.Time) (PollPolicy, error) {
	s, err := in.settings(now)
	if err != nil {
		return nil, err
	}
	return s.pollPolicy(), nil
}

func orDefault(d dag.Duration, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d.D()
}

func inRange(field string, d, lo, hi time.Duration) error {
	if d < lo || d > hi {
		return fmt.Errorf("%s %v is out of range: use %v to %v", field, d, lo, hi)
	}
	return nil
}
