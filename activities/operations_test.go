package activities

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"

	"github.com/manualdag/manualdag/dag"
	"github.com/manualdag/manualdag/dataworks"
)

// fakeOps scripts the instance operations: errs[id] is the answer for an
// instance (nil = success), consumed call by call when a slice.
type fakeOps struct {
	mu    sync.Mutex
	calls []int64
	errs  map[int64][]error
	logs  map[int64]string
}

func (f *fakeOps) answer(id int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, id)
	if q := f.errs[id]; len(q) > 0 {
		f.errs[id] = q[1:]
		return q[0]
	}
	return nil
}

func (f *fakeOps) StopInstance(_ context.Context, req dataworks.InstanceRequest) error {
	return f.answer(req.InstanceID)
}

func (f *fakeOps) RestartInstance(_ context.Context, req dataworks.InstanceRequest) error {
	return f.answer(req.InstanceID)
}

func (f *fakeOps) GetInstanceLog(_ context.Context, req dataworks.InstanceLogRequest) (string, error) {
	return f.logs[req.InstanceID], f.answer(req.InstanceID)
}

func opErr(code string, status int, phase dataworks.Phase) error {
	return &dataworks.Error{Action: "StopInstance", Phase: phase, HTTPStatus: status, Code: code, Message: "msg"}
}

var errUnsupported = &dataworks.Error{Phase: dataworks.PhaseNotSent, Code: dataworks.CodeUnsupported,
	Message: "the 2018-06-01 API has no StopInstance call: set APIVersion to 2020-05-18"}

// opsEnv is an activity environment whose Activities run the scripted
// operations.
func opsEnv(t *testing.T, ops InstanceOps) (*testsuite.TestActivityEnvironment, *Activities) {
	t.Helper()
	a := &Activities{DW: &fakeDW{}, Ops: ops, Rand: func() float64 { return 0.5 }, RecordIntent: heartbeatIntent}
	return activityEnv(a), a
}

func activityEnv(a *Activities) *testsuite.TestActivityEnvironment {
	var s testsuite.WorkflowTestSuite
	s.SetLogger(log.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(a)
	return env
}

func TestStopInstancesRecordsRefusalsAndGoesOn(t *testing.T) {
	ops := &fakeOps{errs: map[int64][]error{2: {opErr("Invalid.Tenant.InstanceNotExist", 400, dataworks.PhaseReplied)}}}
	env, a := opsEnv(t, ops)
	v, err := env.ExecuteActivity(a.StopInstances, InstancesInput{InstanceIDs: []int64{1, 2, 3}})
	if err != nil {
		t.Fatal(err)
	}
	var res InstancesResult
	if err := v.Get(&res); err != nil {
		t.Fatal(err)
	}
	if len(res.Done) != 2 || res.Done[0] != 1 || res.Done[1] != 3 {
		t.Errorf("done %v, want [1 3]", res.Done)
	}
	if len(res.Failures) != 1 || res.Failures[0].InstanceID != 2 || res.Failures[0].Code != "Invalid.Tenant.InstanceNotExist" {
		t.Errorf("failures %+v", res.Failures)
	}
}

// Under 2018-06-01 the client refuses before any I/O: the result says so,
// and no further instance is tried.
func TestInstanceOpsUnsupportedSendsNothing(t *testing.T) {
	ids := []int64{1, 2}
	for _, tc := range []struct{ name string }{{"stop"}, {"restart"}, {"logs"}} {
		t.Run(tc.name, func(t *testing.T) {
			ops := &fakeOps{errs: map[int64][]error{1: {errUnsupported}}}
			env, a := opsEnv(t, ops)
			var unsupported string
			var err error
			switch tc.name {
			case "stop":
				var r InstancesResult
				err = get(env, a.StopInstances, InstancesInput{InstanceIDs: ids}, &r)
				unsupported = r.Unsupported
			case "restart":
				var r InstancesResult
				err = get(env, a.RestartInstances, InstancesInput{InstanceIDs: ids}, &r)
				unsupported = r.Unsupported
			default:
				var r LogsResult
				err = get(env, a.GetInstanceLogs, LogsInput{InstanceIDs: ids}, &r)
				unsupported = r.Unsupported
			}
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(unsupported, "2018-06-01") {
				t.Errorf("unsupported %q", unsupported)
			}
			if len(ops.calls) != 1 {
				t.Errorf("calls %v: the first refusal must end the loop", ops.calls)
			}
		})
	}
}

func get(env *testsuite.TestActivityEnvironment, fn, in, out any) error {
	v, err := env.ExecuteActivity(fn, in)
	if err != nil {
		return err
	}
	return v.Get(out)
}

func TestInstanceOpsErrorMapping(t *testing.T) {
	throttled := opErr("Throttling.User", 400, dataworks.PhaseReplied)
	unknown := &dataworks.Error{Action: "RestartInstance", Phase: dataworks.PhaseUnknown, Code: dataworks.CodeTransport, Err: errors.New("i/o timeout")}
	for _, tc := range []struct {
		name      string
		restart   bool
		err       error
		wantType  string // "" = no error: recorded as a failure
		retryable bool
	}{
		{"stop throttled", false, throttled, dag.ErrThrottled, true},
		{"stop quota", false, opErr(dataworks.CodeDailyQuotaSpent, 400, dataworks.PhaseReplied), dag.ErrQuotaExhausted, true},
		{"stop no reply", false, unknown, dag.ErrTransient, true},
		{"stop 5xx", false, opErr("InternalError.System", 500, dataworks.PhaseReplied), dag.ErrTransient, true},
		{"stop permission", false, opErr(dataworks.CodeForbiddenAccess, 403, dataworks.PhaseReplied), "", false},
		{"restart throttled", true, throttled, dag.ErrThrottled, true},
		{"restart not sent", true, errNotSent, dag.ErrTransient, true},
		{"restart no reply: maybe restarted, not repeated", true, unknown, "", false},
		{"restart not final", true, opErr("Invalid.Tenant.InstanceStatusNotSupport", 400, dataworks.PhaseReplied), "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ops := &fakeOps{errs: map[int64][]error{7: {tc.err}}}
			env, a := opsEnv(t, ops)
			fn := a.StopInstances
			if tc.restart {
				fn = a.RestartInstances
			}
			v, err := env.ExecuteActivity(fn, InstancesInput{InstanceIDs: []int64{7}})
			if tc.wantType == "" {
				if err != nil {
					t.Fatalf("error %v, want the failure in the result", err)
				}
				var r InstancesResult
				if err := v.Get(&r); err != nil {
					t.Fatal(err)
				}
				if len(r.Failures) != 1 || r.Failures[0].InstanceID != 7 || len(r.Done) != 0 {
					t.Fatalf("result %+v", r)
				}
				return
			}
			appErr := appError(t, err)
			if appErr.Type() != tc.wantType || appErr.NonRetryable() == tc.retryable {
				t.Fatalf("type %s nonRetryable %v, want %s retryable %v", appErr.Type(), appErr.NonRetryable(), tc.wantType, tc.retryable)
			}
		})
	}
}

// progressServer stands for the Temporal server's copy of an activity's
// heartbeat details. Only RecordIntent writes to it: a worker that dies
// loses whatever activity.RecordHeartbeat still buffers (up to 80% of the
// heartbeat timeout of records), so these tests count none of them.
type progressServer struct {
	mu   sync.Mutex
	last *opProgress
}

func (s *progressServer) record(_ context.Context, details any) error {
	p, ok := details.(opProgress)
	if !ok {
		return fmt.Errorf("recorded %T, want opProgress", details)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.last = &p
	return nil
}

func (s *progressServer) get() *opProgress {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

// crashingOps restarts instances; the worker "dies" (a panic: the attempt
// ends with no reply) right after it has sent the restart of crashAfter.
// unrecorded lists restarts sent without their intent on the server.
type crashingOps struct {
	fakeOps
	server     *progressServer
	crashAfter int64
	crashed    bool
	unrecorded []int64
}

func (c *crashingOps) RestartInstance(_ context.Context, req dataworks.InstanceRequest) error {
	if p := c.server.get(); p == nil || p.Sending != req.InstanceID {
		c.unrecorded = append(c.unrecorded, req.InstanceID)
	}
	err := c.answer(req.InstanceID)
	if req.InstanceID == c.crashAfter && !c.crashed {
		c.crashed = true
		panic("worker died after sending the restart")
	}
	return err
}

// An attempt after a worker died right after sending the restart of
// instance k does not restart the instances before k again (their progress
// is on record) and does not resend k (its intent is on record without its
// completion): k is reported as unknown, the rest are restarted once.
func TestRestartInstancesAfterCrashRestartsNothingTwice(t *testing.T) {
	ids := []int64{11, 12, 13, 14, 15}
	for k := range ids {
		t.Run(fmt.Sprintf("crash after instance %d", ids[k]), func(t *testing.T) {
			server := &progressServer{}
			ops := &crashingOps{server: server, crashAfter: ids[k]}
			a := &Activities{DW: &fakeDW{}, Ops: ops, Rand: func() float64 { return 0.5 }, RecordIntent: server.record}
			in := InstancesInput{InstanceIDs: ids}

			env1 := activityEnv(a)
			if _, err := env1.ExecuteActivity(a.RestartInstances, in); err == nil || !strings.Contains(err.Error(), "worker died") {
				t.Fatalf("first attempt: %v, want the crash", err)
			}
			if !slices.Equal(ops.calls, ids[:k+1]) {
				t.Fatalf("first attempt sent %v, want %v", ops.calls, ids[:k+1])
			}
			// The retry, on another worker, starts from what the server kept.
			ops.calls = nil
			env2 := activityEnv(a)
			if p := server.get(); p != nil {
				env2.SetHeartbeatDetails(*p)
			}
			var r InstancesResult
			if err := get(env2, a.RestartInstances, in, &r); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(ops.calls, ids[k+1:]) {
				t.Errorf("the retry sent %v, want only the instances after %d: %v", ops.calls, ids[k], ids[k+1:])
			}
			if want := slices.Delete(slices.Clone(ids), k, k+1); !slices.Equal(r.Done, want) {
				t.Errorf("done %v, want %v", r.Done, want)
			}
			if len(r.Failures) != 1 || r.Failures[0].InstanceID != ids[k] || !r.Failures[0].Unknown ||
				!strings.Contains(r.Failures[0].Message, fmt.Sprintf("check instance %d", ids[k])) {
				t.Errorf("failures %+v, want instance %d as unknown, with what to check", r.Failures, ids[k])
			}
			if len(ops.unrecorded) > 0 {
				t.Errorf("restarts %v were sent before their intent was recorded", ops.unrecorded)
			}
		})
	}
}

// A restart refused as not sent is retried: its intent is taken back, so
// the retry sends it rather than reporting it as unknown.
func TestRestartInstancesRetriesNotSent(t *testing.T) {
	server := &progressServer{}
	ops := &fakeOps{errs: map[int64][]error{12: {errNotSent}}}
	a := &Activities{DW: &fakeDW{}, Ops: ops, Rand: func() float64 { return 0.5 }, RecordIntent: server.record}
	in := InstancesInput{InstanceIDs: []int64{11, 12, 13}}
	env1 := activityEnv(a)
	if _, err := env1.ExecuteActivity(a.RestartInstances, in); err == nil {
		t.Fatal("first attempt succeeded, want the retryable not-sent error")
	}
	env2 := activityEnv(a)
	p := server.get()
	if p == nil {
		t.Fatal("no progress on record")
	}
	env2.SetHeartbeatDetails(*p)
	var r InstancesResult
	if err := get(env2, a.RestartInstances, in, &r); err != nil {
		t.Fatal(err)
	}
	if want := []int64{11, 12, 12, 13}; !slices.Equal(ops.calls, want) {
		t.Errorf("calls %v, want %v", ops.calls, want)
	}
	if want := []int64{11, 12, 13}; !slices.Equal(r.Done, want) || len(r.Failures) != 0 {
		t.Errorf("result %+v, want all done", r)
	}
}

// No restart is sent when its intent cannot be recorded.
func TestRestartInstancesSendsNothingUnrecorded(t *testing.T) {
	ops := &fakeOps{}
	a := &Activities{DW: &fakeDW{}, Ops: ops, Rand: func() float64 { return 0.5 },
		RecordIntent: func(context.Context, any) error { return errors.New("deadline exceeded") }}
	env := activityEnv(a)
	_, err := env.ExecuteActivity(a.RestartInstances, InstancesInput{InstanceIDs: []int64{11}})
	if appErr := appError(t, err); appErr.NonRetryable() || len(ops.calls) != 0 {
		t.Errorf("error %v, calls %v: want a retryable error and nothing sent", err, ops.calls)
	}
}

func TestGetInstanceLogsTailsAreBounded(t *testing.T) {
	long := strings.Repeat("2024-06-02 09:00:00 INFO running ODPS_SQL task, step ✓\n", 200) + "2024-06-02 09:01:00 ERROR ODPS-0130071: column sale_amt cannot be resolved\n"
	ops := &fakeOps{logs: map[int64]string{1: long, 2: "short log\n"}}
	env, a := opsEnv(t, ops)
	v, err := env.ExecuteActivity(a.GetInstanceLogs, LogsInput{InstanceIDs: []int64{1, 2}, MaxBytes: 512})
	if err != nil {
		t.Fatal(err)
	}
	var r LogsResult
	if err := v.Get(&r); err != nil {
		t.Fatal(err)
	}
	tail := r.Tails[1]
	if len(tail) > 512 || !strings.HasPrefix(tail, "…") || !strings.HasSuffix(tail, "cannot be resolved\n") || !utf8.ValidString(tail) {
		t.Errorf("tail (%d bytes) %q", len(tail), tail)
	}
	if r.Tails[2] != "short log\n" {
		t.Errorf("short log %q", r.Tails[2])
	}
}

func TestTail(t *testing.T) {
	for _, tc := range []struct {
		s    string
		n    int
		want string
	}{
		{"abc", 10, "abc"},
		{"line one\nline two\n", 12, "…line two\n"},
		{"ééééé", 7, "…éé"},
	} {
		if got := Tail(tc.s, tc.n); got != tc.want || len(got) > tc.n {
			t.Errorf("Tail(%q, %d) = %q, want %q", tc.s, tc.n, got, tc.want)
		}
	}
}
