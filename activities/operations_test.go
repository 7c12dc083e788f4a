package activities

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"

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
func opsEnv(t *testing.T, ops *fakeOps) (*testsuite.TestActivityEnvironment, *Activities) {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	s.SetLogger(log.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	env := s.NewTestActivityEnvironment()
	a := &Activities{DW: &fakeDW{}, Ops: ops, Rand: func() float64 { return 0.5 }}
	env.RegisterActivity(a)
	return env, a
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
		{"stop throttled", false, throttled, ErrThrottled, true},
		{"stop quota", false, opErr(dataworks.CodeDailyQuotaSpent, 400, dataworks.PhaseReplied), ErrQuotaExhausted, true},
		{"stop no reply", false, unknown, ErrTransient, true},
		{"stop 5xx", false, opErr("InternalError.System", 500, dataworks.PhaseReplied), ErrTransient, true},
		{"stop permission", false, opErr(dataworks.CodeForbiddenAccess, 403, dataworks.PhaseReplied), "", false},
		{"restart throttled", true, throttled, ErrThrottled, true},
		{"restart not sent", true, errNotSent, ErrTransient, true},
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

// A retry resumes after the instances an earlier attempt recorded.
func TestInstanceOpsResumeFromHeartbeat(t *testing.T) {
	ops := &fakeOps{}
	env, a := opsEnv(t, ops)
	env.SetHeartbeatDetails(opProgress{Next: 2, Done: []int64{1, 2}})
	v, err := env.ExecuteActivity(a.RestartInstances, InstancesInput{InstanceIDs: []int64{1, 2, 3}})
	if err != nil {
		t.Fatal(err)
	}
	var r InstancesResult
	if err := v.Get(&r); err != nil {
		t.Fatal(err)
	}
	if len(ops.calls) != 1 || ops.calls[0] != 3 {
		t.Errorf("calls %v, want only instance 3", ops.calls)
	}
	if len(r.Done) != 3 {
		t.Errorf("done %v, want all three", r.Done)
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
