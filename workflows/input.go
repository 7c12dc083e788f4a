package workflows

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/manualdag/manualdag/dag"
)

// RunManualDagInput is the workflow's input, shaped for a command line:
//
//	{"projectName":"demo_project","flowName":"daily_sales","bizdate":"2024-06-01",
//	 "dagParameters":{"k":"v"},"nodeParameters":{"103180025":"k=v k2=v2"},
//	 "timeout":"2h","poll":{"initialInterval":"10s","maxInterval":"5m"}}
//
// Every field but projectName and flowName is optional; the zero value means
// the default named in its comment. Unknown fields are refused (a misspelt
// option silently ignored would be a silent default), and so is anything that
// looks like a credential: credentials belong to the worker's environment,
// while workflow input is stored in Temporal's history in plain text.
type RunManualDagInput struct {
	ProjectName string `json:"projectName"`
	FlowName    string `json:"flowName"`
	// Bizdate is yyyy-MM-dd or yyyy-MM-dd 00:00:00. Default: the DataWorks
	// convention, the day before the workflow's start date in Timezone; for
	// a run a Temporal Schedule started, the day before its scheduled time
	// (TemporalScheduledStartTime, see schedule.go).
	Bizdate string `json:"bizdate,omitempty"`
	// Timezone names the IANA zone of the default bizdate. Default Asia/Shanghai.
	Timezone string `json:"timezone,omitempty"`
	// DagParameters are the flow parameters: an object {"k":"v"} or the raw
	// DataWorks string "k=v k2=v2".
	DagParameters Params `json:"dagParameters,omitempty"`
	// NodeParameters maps a node id to its parameters, object or raw string.
	NodeParameters map[string]Params `json:"nodeParameters,omitempty"`
	// APIVersion is 2018-06-01, 2020-05-18 or 2024-05-18. Default: the
	// worker's. Under 2024-05-18 ProjectName and FlowName are the numeric
	// ProjectId and WorkflowId.
	APIVersion string `json:"apiVersion,omitempty"`
	// ProjectEnv is PROD (default) or DEV; 2020-05-18 and 2024-05-18.
	ProjectEnv string `json:"projectEnv,omitempty"`
	// Timeout is the overall deadline, from the start of the workflow.
	// Default 24h, at most 30 days.
	Timeout dag.Duration `json:"timeout,omitzero"`
	// Poll tunes the poll interval.
	Poll PollOptions `json:"poll,omitzero"`
	// BlockedGrace is how long a blocked DAG (a failure, nothing active, the
	// rest not run) must have stood still before it counts as failed,
	// counted from the last change DataWorks reports (a node's begin or
	// finish time) when its clock agrees with the workflow's, else from the
	// poll that saw the change. It covers the moment after an upstream node
	// succeeds and before DataWorks moves its downstream node out of
	// NOT_RUN, so that a DAG still going on is not taken for a blocked one.
	// Keeping a failed DAG open for an operator's rerun is what
	// failurePolicy.waitForRecovery is for. Default 30s.
	BlockedGrace dag.Duration `json:"blockedGrace,omitzero"`
	// FailureWatch bounds the gap between two looks at the DAG run while it
	// is open, however sure the poll policy is that it cannot end sooner: a
	// failure nobody could predict is seen within it. Looks between two
	// of the policy's polls go in one repeat window, which returns to the
	// workflow only when a node fails, the DAG settles or the node list
	// changes, so the history does not grow with them. The worker's daily
	// API budget may stretch it (the report says so), and so do DataWorks
	// events once they lead the run (EventSafetyNet, events.go). Default
	// 1m, 10s to 1h.
	FailureWatch dag.Duration `json:"failureWatch,omitzero"`
	// FailFast ends the run FAILED at the first failed node it sees (once
	// the node list has settled), while other branches may still run:
	// "leave" lets them run on, "stop" stops the unfinished instances
	// (2020-05-18; under 2018-06-01 the report says what to stop by hand).
	// Default "": wait until the DAG can go no further.
	FailFast string `json:"failFast,omitempty"`
	// EmptyListGrace is how long after the trigger an empty node list is
	// waited for (instances appear late); past it the watch ends with no
	// verdict (error type DagNotListed). Default 5m.
	EmptyListGrace dag.Duration `json:"emptyListGrace,omitzero"`
	// ListSettle is how long after the trigger no verdict is given, because
	// DataWorks may list only part of a DAG's nodes at first: a DAG whose
	// listed nodes all succeeded may have more to come. A run whose list
	// has as many nodes as every earlier run of the flow waits at most
	// HistorySettle (60s) instead; one that lists fewer waits up to twice
	// ListSettle for the rest. Default 5m; lower it only for a flow whose
	// nodes DataWorks lists at once (or an emulator).
	ListSettle dag.Duration `json:"listSettle,omitzero"`
	// FailOnDagFailure makes the workflow fail (DagFailed, DagTimedOut) when
	// the outcome is not SUCCEEDED. Default true; false returns the report.
	FailOnDagFailure *bool `json:"failOnDagFailure,omitempty"`
	// OnDeadline is what becomes of the DAG's unfinished instances when the
	// deadline passes: "stop" (default) stops them in DataWorks, "leave"
	// lets them run on. A cancelled workflow always stops them.
	// 2020-05-18 only; under 2018-06-01 the report says what to stop by hand.
	OnDeadline string `json:"onDeadline,omitempty"`
	// FailurePolicy says how long a failed DAG stays open for a rerun.
	FailurePolicy FailurePolicy `json:"failurePolicy,omitzero"`
	// DagID follows an existing DAG run of this project, flow and bizdate
	// (found in Operation Center after a trigger whose outcome was unknown)
	// instead of triggering one: the same watch, verdict and report, and no
	// CreateManualDag is sent. Default 0: trigger a new DAG run.
	DagID int64 `json:"dagId,omitempty"`
	// AllowDuplicate triggers even when another run of this project, flow
	// and bizdate is going on, has succeeded, or may have left a DAG run
	// behind (see activities.Runs.GuardTrigger): for a person who checked
	// Operation Center and wants a second DAG run. Default false.
	AllowDuplicate bool `json:"allowDuplicate,omitempty"`

	// Continued is set by the workflow itself when it continues as new: the
	// run it carries on has been triggered already.
	Continued *WatchState `json:"continued,omitempty"`

	// decodeErr is what UnmarshalJSON found wrong; Validate reports it.
	decodeErr error
}

// PollOptions tune the poll policy.
type PollOptions struct {
	// Mode is "predictive" (default: PredictivePolicy, which learns when
	// the flow's nodes finish from its earlier runs and uses BackoffPolicy
	// until it has some) or "backoff" (BackoffPolicy only, the policy of
	// runs started before predictive polling existed).
	Mode string `json:"mode,omitempty"`
	// InitialInterval is the wait after a poll that saw a change (mode
	// backoff, default 10s), and the predictive mode's wait where the end
	// is likely (default 18s, within the 20 s delay goal). At least 1s.
	InitialInterval dag.Duration `json:"initialInterval,omitzero"`
	// MaxInterval caps the wait the policy chooses: the predictive mode
	// refreshes its prediction at least this often. The failure watch
	// (failureWatch) looks in between when it is longer. Default 5m, at
	// most 6h.
	MaxInterval dag.Duration `json:"maxInterval,omitzero"`
	// Multiplier grows the wait after each poll that saw no change. Default
	// 1.5, between 1 and 10.
	Multiplier float64 `json:"multiplier,omitempty"`
	// Jitter spreads each wait by up to ±Jitter of itself. Default 0.1, at
	// most 0.5; negative means none.
	Jitter float64 `json:"jitter,omitempty"`
}

// FailurePolicy tunes when a failed DAG counts as failed.
type FailurePolicy struct {
	// WaitForRecovery keeps a FAILED DAG open this long after its last
	// change, polling, so that an operator can rerun the failed nodes (from
	// the DataWorks console or with the rerunFailed update) before the
	// workflow reports the failure. For a blocked DAG it counts from the same
	// moment as BlockedGrace, so the DAG fails after the longer of the two.
	// Default 0 (report the failure at once), at most 7 days.
	WaitForRecovery dag.Duration `json:"waitForRecovery,omitzero"`
}

// Limits and defaults of the input.
const (
	DefaultTimeout         = 24 * time.Hour
	MaxTimeout             = 30 * 24 * time.Hour
	DefaultInitialInterval = 10 * time.Second
	MinPollInterval        = time.Second
	DefaultMaxInterval     = 5 * time.Minute
	MaxPollInterval        = 6 * time.Hour
	DefaultMultiplier      = 1.5
	DefaultJitter          = 0.1
	// DefaultPromptInterval is the predictive mode's wait where the end is
	// likely: within the 20 s goal with jitter (which only shortens it) and
	// a search's own time to spare. DefaultMiss is the chance it leaves to
	// the failure watch.
	DefaultPromptInterval = 18 * time.Second
	DefaultMiss           = 0.05
	// DelayGoal is the end-detection delay the predictive mode aims to
	// keep in all but DefaultMiss of runs (issue 14).
	DelayGoal             = 20 * time.Second
	DefaultBlockedGrace   = 30 * time.Second
	DefaultFailureWatch   = time.Minute
	MinFailureWatch       = 10 * time.Second
	MaxFailureWatch       = time.Hour
	DefaultEmptyListGrace = 5 * time.Minute
	DefaultListSettle     = 5 * time.Minute
	HistorySettle         = time.Minute
	MaxGrace              = 24 * time.Hour
	DefaultTimezone       = "Asia/Shanghai"
	MaxWaitForRecovery    = 7 * 24 * time.Hour
)

// Poll modes.
const (
	PollPredictive = "predictive"
	PollBackoff    = "backoff"
)

// What the workflow does with unfinished instances at the deadline, and
// with failFast at the first failure.
const (
	OnDeadlineStop  = "stop"
	OnDeadlineLeave = "leave"
)

// ParseInput decodes JSON strictly, for starters and tests: the error is
// the one the workflow would report.
func ParseInput(b []byte) (RunManualDagInput, error) {
	var in RunManualDagInput
	if err := json.Unmarshal(b, &in); err != nil {
		return in, err
	}
	return in, in.decodeErr
}

// UnmarshalJSON decodes strictly but never fails: a workflow whose input
// cannot be decoded fails with an untyped SDK error, so the problem is kept
// for Validate to report as InvalidInput before anything is scheduled.
func (in *RunManualDagInput) UnmarshalJSON(b []byte) error {
	type plain RunManualDagInput
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		*in = RunManualDagInput{decodeErr: fmt.Errorf("input is not a JSON object: %v", err)}
		return nil
	}
	if err := credentialFields(fields); err != nil {
		*in = RunManualDagInput{decodeErr: err}
		return nil
	}
	var p plain
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		*in = RunManualDagInput{decodeErr: decodeError(err)}
		return nil
	}
	*in = RunManualDagInput(p)
	return nil
}

func decodeError(err error) error {
	msg := strings.TrimPrefix(err.Error(), "json: ")
	if strings.HasPrefix(msg, "unknown field") {
		return fmt.Errorf("input has an %s; the fields are projectName, flowName, bizdate, timezone, dagParameters, nodeParameters, apiVersion, projectEnv, timeout, poll, blockedGrace, failureWatch, failFast, emptyListGrace, listSettle, failOnDagFailure, onDeadline, failurePolicy, dagId, allowDuplicate", msg)
	}
	return fmt.Errorf("input: %s", msg)
}

// credentialWords are parts of field names that suggest a secret.
var credentialWords = []string{"accesskey", "secret", "password", "token", "credential", "akid"}

func credentialFields(fields map[string]json.RawMessage) error {
	var found []string
	for name := range fields {
		n := strings.NewReplacer("_", "", "-", "").Replace(strings.ToLower(name))
		for _, w := range credentialWords {
			if strings.Contains(n, w) {
				found = append(found, name)
				break
			}
		}
	}
	if len(found) == 0 {
		return nil
	}
	sort.Strings(found)
	return fmt.Errorf("input field %s looks like a credential: credentials belong to the worker's environment "+
		"(ALIBABA_CLOUD_ACCESS_KEY_ID / ALIBABA_CLOUD_ACCESS_KEY_SECRET or another source of the worker's credential chain), "+
		"never to workflow input, which Temporal keeps in its history in plain text; remove the field and rotate the key if it was real",
		strings.Join(found, ", "))
}

// Params are DataWorks parameters, written as an object {"k":"v"} or as the
// raw DataWorks string "k=v k2=v2". Numbers and booleans in the object form
// are taken as written.
type Params dag.Params

// UnmarshalJSON accepts both forms.
func (p *Params) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0 || string(b) == "null":
		*p = nil
		return nil
	case b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		v, err := dag.ParseParams(s)
		if err != nil {
			return err
		}
		*p = Params(v)
		return nil
	case b[0] != '{':
		return errors.New(`parameters must be an object {"k":"v"} or a string "k=v k2=v2"`)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	out := Params{}
	for k, v := range raw {
		var s string
		switch {
		case json.Unmarshal(v, &s) == nil:
		case len(v) > 0 && (v[0] == '-' || (v[0] >= '0' && v[0] <= '9') || string(v) == "true" || string(v) == "false"):
			s = string(v)
		default:
			return fmt.Errorf("parameter %q has the value %s; values are strings, numbers or booleans", k, v)
		}
		out[k] = s
	}
	*p = out
	return nil
}
