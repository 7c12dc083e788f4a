package activities

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/manualdag/manualdag/dag"
	"github.com/manualdag/manualdag/dataworks"
)

// InstanceOps are the node-instance operations of the 2020-05-18 API, which
// StopInstances, RestartInstances and GetInstanceLogs need; *aliyun.Client
// implements them (under 2018-06-01 they fail before any I/O with
// dataworks.CodeUnsupported).
type InstanceOps interface {
	StopInstance(ctx context.Context, req dataworks.InstanceRequest) error
	RestartInstance(ctx context.Context, req dataworks.InstanceRequest) error
	GetInstanceLog(ctx context.Context, req dataworks.InstanceLogRequest) (string, error)
}

// Log tail bounds of GetInstanceLogs, and of the workflow's
// logTail.maxBytesPerNode.
const (
	DefaultLogTailBytes = 4 << 10
	MaxLogTailBytes     = 64 << 10
	// maxFailureMessage bounds each failure message in a result.
	maxFailureMessage = 300
)

// InstancesInput names node instances of one DAG run, for StopInstances and
// RestartInstances.
type InstancesInput struct {
	// DagID is the DAG run the instances belong to, for the logs only.
	DagID       int64   `json:"dagId,omitempty"`
	InstanceIDs []int64 `json:"instanceIds"`
	// APIVersion is the workflow's ("" = the client's); the calls exist only
	// in 2020-05-18.
	APIVersion string `json:"apiVersion,omitempty"`
	ProjectEnv string `json:"projectEnv,omitempty"`
}

// InstancesResult says what became of each instance.
type InstancesResult struct {
	// Done are the instances DataWorks accepted the call for. A stop is
	// asynchronous: the instance reaches FAILURE a little later. Stopping an
	// instance that had finished already is accepted too.
	Done []int64 `json:"done,omitempty"`
	// Failures are the instances DataWorks refused, with the reason.
	Failures []InstanceFailure `json:"failures,omitempty"`
	// Unsupported is set when the API version has no such call: nothing was
	// sent, Done and Failures are empty, and the text says why.
	Unsupported string `json:"unsupported,omitempty"`
}

// InstanceFailure is one instance an operation could not be done for.
type InstanceFailure struct {
	InstanceID int64 `json:"instanceId"`
	// Code is DataWorks' error code, when it gave one.
	Code    string `json:"code,omitempty"`
	Message string `json:"message"`
	// Unknown is set when the call may have taken effect (no reply, or an
	// attempt that stopped after sending it): it is not sent again, and the
	// message asks the user to check the instance.
	Unknown bool `json:"unknown,omitempty"`
}

// LogsInput asks for the tails of the run logs of node instances.
type LogsInput struct {
	// DagID is the DAG run the instances belong to, for the logs only.
	DagID       int64   `json:"dagId,omitempty"`
	InstanceIDs []int64 `json:"instanceIds"`
	// MaxBytes bounds each tail. Default DefaultLogTailBytes, at most
	// MaxLogTailBytes.
	MaxBytes   int    `json:"maxBytes,omitempty"`
	APIVersion string `json:"apiVersion,omitempty"`
	ProjectEnv string `json:"projectEnv,omitempty"`
}

// LogsResult holds the log tails, by instance id.
type LogsResult struct {
	// Tails are the last MaxBytes of each log (cut on a line or rune
	// boundary, marked with a leading "…").
	Tails       map[int64]string  `json:"tails,omitempty"`
	Failures    []InstanceFailure `json:"failures,omitempty"`
	Unsupported string            `json:"unsupported,omitempty"`
}

// opProgress is the heartbeat detail of an operation activity, so that a
// retry (after throttling, say) does not repeat what an earlier attempt did.
type opProgress struct {
	Next     int               `json:"next"`
	Done     []int64           `json:"done,omitempty"`
	Failures []InstanceFailure `json:"failures,omitempty"`
	Tails    map[int64]string  `json:"tails,omitempty"`
	// Sending is ids[Next] while its call may be in flight (restarts only).
	Sending int64 `json:"sending,omitempty"`
}

// StopInstances asks DataWorks to stop each instance. It is safe to repeat
// (a stop of a stopping or finished instance is accepted), so every failure
// but a permanent refusal is retried, resuming after the instances done.
func (a *Activities) StopInstances(ctx context.Context, in InstancesInput) (InstancesResult, error) {
	ops, err := a.ops("StopInstances", in.InstanceIDs)
	if err != nil {
		return InstancesResult{}, err
	}
	p, unsupported, err := a.eachInstance(ctx, "stop", in.InstanceIDs, true, func(ctx context.Context, id int64) (string, error) {
		return "", measure(ctx, ActionStopInstance, func() error {
			return ops.StopInstance(ctx, dataworks.InstanceRequest{InstanceID: id, APIVersion: in.APIVersion, ProjectEnv: in.ProjectEnv})
		})
	})
	if err == nil && unsupported == "" {
		dagLogger(ctx, in.DagID).Info("Stop requested in DataWorks", "accepted", p.Done, "refused", len(p.Failures))
	}
	return InstancesResult{Done: p.Done, Failures: p.Failures, Unsupported: unsupported}, err
}

// RestartInstances reruns each (failed) instance, at most once over all
// attempts: only failures that prove nothing was done (not sent, throttled,
// quota) are retried; a restart whose outcome is unknown (no reply, or an
// attempt that died after sending it) is not sent again but reported as an
// Unknown failure, and the workflow's next poll shows whether it took effect.
func (a *Activities) RestartInstances(ctx context.Context, in InstancesInput) (InstancesResult, error) {
	ops, err := a.ops("RestartInstances", in.InstanceIDs)
	if err != nil {
		return InstancesResult{}, err
	}
	p, unsupported, err := a.eachInstance(ctx, "restart", in.InstanceIDs, false, func(ctx context.Context, id int64) (string, error) {
		return "", measure(ctx, ActionRestartInstance, func() error {
			return ops.RestartInstance(ctx, dataworks.InstanceRequest{InstanceID: id, APIVersion: in.APIVersion, ProjectEnv: in.ProjectEnv})
		})
	})
	if err == nil && unsupported == "" {
		dagLogger(ctx, in.DagID).Info("Rerun requested in DataWorks", "accepted", p.Done, "refused", len(p.Failures))
	}
	return InstancesResult{Done: p.Done, Failures: p.Failures, Unsupported: unsupported}, err
}

// GetInstanceLogs fetches the tail of each instance's latest run log. Logs
// expire after about 7 days, so the workflow asks when it sees the failure.
func (a *Activities) GetInstanceLogs(ctx context.Context, in LogsInput) (LogsResult, error) {
	ops, err := a.ops("GetInstanceLogs", in.InstanceIDs)
	if err != nil {
		return LogsResult{}, err
	}
	maxBytes := in.MaxBytes
	if maxBytes <= 0 {
		maxBytes = DefaultLogTailBytes
	}
	maxBytes = min(maxBytes, MaxLogTailBytes)
	p, unsupported, err := a.eachInstance(ctx, "log", in.InstanceIDs, true, func(ctx context.Context, id int64) (string, error) {
		var text string
		err := measure(ctx, ActionGetInstanceLog, func() (err error) {
			text, err = ops.GetInstanceLog(ctx, dataworks.InstanceLogRequest{InstanceID: id, APIVersion: in.APIVersion, ProjectEnv: in.ProjectEnv})
			return err
		})
		return Tail(text, maxBytes), err
	})
	if err == nil && unsupported == "" {
		dagLogger(ctx, in.DagID).Debug("Failed-node logs fetched", "instances", len(p.Tails), "failures", len(p.Failures))
	}
	return LogsResult{Tails: p.Tails, Failures: p.Failures, Unsupported: unsupported}, err
}

func (a *Activities) ops(activity string, ids []int64) (InstanceOps, error) {
	for _, id := range ids {
		if id <= 0 {
			return nil, temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("invalid %s input: instance id %d is not positive", activity, id), dag.ErrInvalidInput, nil)
		}
	}
	if a.Ops != nil {
		return a.Ops, nil
	}
	if ops, ok := a.DW.(InstanceOps); ok {
		return ops, nil
	}
	return nil, temporal.NewNonRetryableApplicationError(
		fmt.Sprintf("%s: the worker's DataWorks client has no instance operations (Activities.Ops is not set)", activity), dag.ErrPermanent, nil)
}

// eachInstance calls op for each id in order, resuming after what an earlier
// attempt recorded in its heartbeat. A permanent refusal is recorded for
// that instance and the loop goes on; CodeUnsupported ends it before any
// I/O. Any other error fails the attempt with a typed, retryable error
// (progress kept), except that with retryUnsure false an error after which
// the call may have taken effect is recorded as an unknown outcome instead.
//
// With retryUnsure false (a call that must not be repeated blindly) every
// record is synchronous: the intent {sending: id} before the call, the
// progress after it. An attempt that finds an intent without its progress
// reports that instance as unknown and does not call it again. The batched
// activity.RecordHeartbeat would not do: a buffered older record can reach
// the server after a newer one, or be lost in a crash, and up to 80% of the
// heartbeat timeout of calls would be repeated.
func (a *Activities) eachInstance(ctx context.Context, what string, ids []int64, retryUnsure bool,
	op func(context.Context, int64) (string, error)) (opProgress, string, error) {
	record := func(p opProgress) error {
		if retryUnsure {
			activity.RecordHeartbeat(ctx, p)
			return nil
		}
		return a.recordIntent(ctx, p)
	}
	var p opProgress
	if activity.HasHeartbeatDetails(ctx) {
		if err := activity.GetHeartbeatDetails(ctx, &p); err != nil {
			if !retryUnsure {
				// Any instance may have been called already.
				p = opProgress{Next: len(ids)}
				for _, id := range ids {
					p.Failures = append(p.Failures, unknownOutcome(id, fmt.Sprintf("the progress of an earlier attempt is unreadable (%v)", err)))
				}
				return p, "", nil
			}
			p = opProgress{}
		}
	}
	if p.Sending != 0 && p.Next < len(ids) {
		p.Failures = append(p.Failures, unknownOutcome(ids[p.Next], "an earlier attempt sent it and stopped before it learned the reply (worker crash or timeout)"))
		p.Next++
		p.Sending = 0
		// Best effort: if this is lost, the next attempt concludes the same.
		_ = record(p)
	}
	for ; p.Next < len(ids); p.Next++ {
		id := ids[p.Next]
		if !retryUnsure {
			intent := p
			intent.Sending = id
			if err := record(intent); err != nil {
				return p, "", temporal.NewApplicationError(
					fmt.Sprintf("%s instance %d not sent: the intent could not be recorded in Temporal: %v", what, id, err), dag.ErrTransient)
			}
			if err := ctx.Err(); err != nil {
				return p, "", temporal.NewApplicationError(fmt.Sprintf("%s instance %d not sent: %v", what, id, err), dag.ErrTransient)
			}
		}
		text, err := op(ctx, id)
		switch {
		case err == nil:
			if what == "log" {
				if p.Tails == nil {
					p.Tails = map[int64]string{}
				}
				p.Tails[id] = text
			} else {
				p.Done = append(p.Done, id)
			}
		case isUnsupported(err):
			return opProgress{}, err.Error(), nil
		case dataworks.Permanent(err):
			p.Failures = append(p.Failures, failure(id, err, ""))
		case !retryUnsure && !dataworks.NotSent(err):
			p.Failures = append(p.Failures, unknownOutcome(id, err.Error()))
		default:
			// Proven not sent: take the intent back so that the retry calls
			// it. Should that fail, the retry reports it as unknown.
			if err := record(p); err != nil {
				activity.GetLogger(ctx).Warn("Progress not recorded", "instanceId", id, "error", err)
			}
			m := errorMapper{attempt: activity.GetInfo(ctx).Attempt, rnd: a.rand(), quota: a.QuotaBackoff}
			return p, "", m.mapRead(fmt.Errorf("%s instance %d: %w", what, id, err))
		}
		done := p
		done.Next++
		if err := record(done); err != nil {
			// The next intent carries this progress too; if that one fails
			// as well, a retry reports this instance as unknown.
			activity.GetLogger(ctx).Warn("Progress not recorded", "instanceId", id, "error", err)
		}
	}
	return p, "", nil
}

// unknownOutcome is an instance whose call may or may not have taken effect.
// The check comes first: a long error would push it past the bound.
func unknownOutcome(id int64, why string) InstanceFailure {
	return InstanceFailure{
		InstanceID: id,
		Unknown:    true,
		Message: truncate(fmt.Sprintf("outcome unknown, not sent again: check instance %d in DataWorks Operation Center before you rerun it (%s)", id, why),
			maxFailureMessage),
	}
}

func isUnsupported(err error) bool {
	var e *dataworks.Error
	return errors.As(err, &e) && e.Code == dataworks.CodeUnsupported
}

func failure(id int64, err error, note string) InstanceFailure {
	f := InstanceFailure{InstanceID: id, Message: err.Error()}
	var e *dataworks.Error
	if errors.As(err, &e) {
		f.Code = e.Code
	}
	if note != "" {
		f.Message += "; " + note
	}
	f.Message = truncate(f.Message, maxFailureMessage)
	return f
}

// Tail returns the last n bytes of s at most, starting on a line boundary
// when one is near (else on a rune boundary), with a leading "…" when cut.
func Tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const mark = "…"
	start := len(s) - max(n-len(mark), 0)
	for start < len(s) && !utf8.RuneStart(s[start]) {
		start++
	}
	// Prefer a whole first line, unless that drops more than a quarter.
	if i := strings.IndexByte(s[start:], '\n'); i >= 0 && i < n/4 && start+i+1 < len(s) {
		start += i + 1
	}
	return mark + s[start:]
}
