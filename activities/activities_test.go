package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/manualdag/manualdag/dag"
	"github.com/manualdag/manualdag/dataworks"
)

// fakeDW is a scripted DataWorks.
type fakeDW struct {
	mu         sync.Mutex
	creates    int
	createErrs []error // one per call; nil or past the end = success
	panicOn    int     // call number whose create panics after "sending"
	dagID      int64
	list       []dataworks.NodeInstance
	searchErr  error
	intentErr  error // what recording the intent fails with
}

func (f *fakeDW) CreateManualDag(_ context.Context, req dataworks.CreateManualDagRequest) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	// As the real client: BeforeSend runs first, and nothing is sent when it
	// fails.
	if err := req.BeforeSend(); err != nil {
		return 0, &dataworks.Error{Action: "CreateManualDag", Phase: dataworks.PhaseNotSent, Code: dataworks.CodeBeforeSend, Err: err}
	}
	f.creates++
	if f.creates == f.panicOn {
		panic("worker died after sending")
	}
	if i := f.creates - 1; i < len(f.createErrs) && f.createErrs[i] != nil {
		return 0, f.createErrs[i]
	}
	return f.dagID, nil
}

func (f *fakeDW) SearchManualDagNodeInstance(context.Context, dataworks.SearchManualDagNodeInstanceRequest) ([]dataworks.NodeInstance, error) {
	return f.list, f.searchErr
}

func (f *fakeDW) createCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.creates
}

var validCreate = CreateManualDagInput{ProjectName: "demo_project", FlowName: "daily_sales", Bizdate: "2024-06-01"}

func replyErr(code string, status int) error {
	return &dataworks.Error{Action: "CreateManualDag", Phase: dataworks.PhaseReplied, HTTPStatus: status, Code: code, Message: "msg"}
}

var (
	errNotSent = &dataworks.Error{Action: "CreateManualDag", Phase: dataworks.PhaseNotSent, Code: dataworks.CodeTransport, Err: errors.New("dial tcp: connection refused")}
	errUnknown = &dataworks.Error{Action: "CreateManualDag", Phase: dataworks.PhaseUnknown, Code: dataworks.CodeTransport, Err: errors.New("read: i/o timeout")}
)

func newActivityEnv(t *testing.T, dw DataWorks) *testsuite.TestActivityEnvironment {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	s.SetLogger(log.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	env := s.NewTestActivityEnvironment()
	a := &Activities{DW: dw, Rand: func() float64 { return 0.5 }, RecordIntent: heartbeatIntent}
	if f, ok := dw.(*fakeDW); ok && f.intentErr != nil {
		a.RecordIntent = func(context.Context, any) error { return f.intentErr }
	}
	env.RegisterActivity(a)
	return env
}

// heartbeatIntent records the intent in the SDK's test environment, which
// has no Temporal client; its first heartbeat of an attempt is synchronous.
func heartbeatIntent(ctx context.Context, p any) error {
	activity.RecordHeartbeat(ctx, p)
	return nil
}

func appError(t *testing.T, err error) *temporal.ApplicationError {
	t.Helper()
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) {
		t.Fatalf("error %v is not an ApplicationError", err)
	}
	return appErr
}

func TestCreateSendsOnceAndReturnsDagID(t *testing.T) {
	dw := &fakeDW{dagID: 700019657457}
	env := newActivityEnv(t, dw)
	v, err := env.ExecuteActivity((&Activities{}).CreateManualDag, validCreate)
	if err != nil {
		t.Fatal(err)
	}
	var res CreateManualDagResult
	if err := v.Get(&res); err != nil {
		t.Fatal(err)
	}
	if res.DagID != 700019657457 || res.Recovered || dw.createCount() != 1 {
		t.Fatalf("got %+v after %d creates", res, dw.createCount())
	}
}

func TestCreateValidatesBeforeSending(t *testing.T) {
	for _, in := range []CreateManualDagInput{
		{FlowName: "f", Bizdate: "2024-06-01"},
		{ProjectName: "p", Bizdate: "2024-06-01"},
		{ProjectName: "p", FlowName: "f", Bizdate: "2024-06-01 12:00:00"},
		{ProjectName: "p", FlowName: "f", Bizdate: "2024-06-01", DagParameters: dag.Params{"k": "a b"}},
		{ProjectName: "p", FlowName: "f", Bizdate: "2024-06-01", NodeParameters: map[int64]dag.Params{-1: {"k": "v"}}},
		{ProjectName: "p", FlowName: "f", Bizdate: "2024-06-01", ProjectEnv: "DEV"},
	} {
		dw := &fakeDW{dagID: 1}
		_, err := newActivityEnv(t, dw).ExecuteActivity((&Activities{}).CreateManualDag, in)
		appErr := appError(t, err)
		if appErr.Type() != dag.ErrInvalidInput || !appErr.NonRetryable() || dw.createCount() != 0 {
			t.Errorf("%+v: got %v (non-retryable %v), %d creates", in, err, appErr.NonRetryable(), dw.createCount())
		}
	}
}

// TestCreateErrorMapping is the create half of the error table in docs/design.md.
func TestCreateErrorMapping(t *testing.T) {
	for _, tc := range []struct {
		name      string
		err       error
		typ       string
		retryable bool
		contains  []string
	}{
		{"not sent", errNotSent, dag.ErrCreateNotSent, true, nil},
		{"throttled", replyErr("Throttling.User", 429), dag.ErrThrottled, true, nil},
		{"quota", replyErr(dataworks.CodeDailyQuotaSpent, 400), dag.ErrQuotaExhausted, true, nil},
		{"bad bizdate", replyErr(dataworks.CodeBadBizdate, 200), dag.ErrPermanent, false, []string{"600011", "demo_project/daily_sales"}},
		{"no permission", replyErr(dataworks.CodeProjectNoPermission, 500), dag.ErrPermanent, false, []string{dataworks.CodeProjectNoPermission}},
		{"no reply", errUnknown, dag.ErrTriggerOutcomeUnknown, false, []string{"demo_project/daily_sales", "2024-06-01", "Operation Center"}},
		{"5xx to a write", replyErr(dataworks.CodeServiceUnavailable, 503), dag.ErrTriggerOutcomeUnknown, false, nil},
		{"bad reply", replyErr(dataworks.CodeInvalidResponse, 200), dag.ErrTriggerOutcomeUnknown, false, nil},
		// Only codes DataWorks documents as refusals prove a create was not
		// acted on; any other business error in a 2xx may have started a run.
		{"undocumented code in a 200", replyErr("9990001", 200), dag.ErrTriggerOutcomeUnknown, false, []string{"Operation Center"}},
		{"Success:false without a code", replyErr(dataworks.CodeUnsuccessful, 200), dag.ErrTriggerOutcomeUnknown, false, nil},
		{"throttling code in a 200", replyErr("Throttling.User", 200), dag.ErrTriggerOutcomeUnknown, false, nil},
		{"5xx envelope in a 200", &dataworks.Error{Action: "CreateManualDag", Phase: dataworks.PhaseReplied, HTTPStatus: 200, EnvelopeStatus: 500, Code: "9990001"}, dag.ErrTriggerOutcomeUnknown, false, []string{"HttpStatusCode 500"}},
		{"permission in a 5xx envelope", &dataworks.Error{Action: "CreateManualDag", Phase: dataworks.PhaseReplied, HTTPStatus: 200, EnvelopeStatus: 500, Code: dataworks.CodeProjectNoPermission}, dag.ErrPermanent, false, nil},
		{"forbidden in a 200", replyErr("Forbidden.Wkbench.Unlisted", 200), dag.ErrPermanent, false, nil},
		{"4xx refusal", replyErr("Invalid.Tenant.FlowNotExist", 400), dag.ErrPermanent, false, nil},
		{"nonce reused", replyErr(dataworks.CodeNonceUsed, 400), dag.ErrCreateNotSent, true, nil},
		{"foreign error", errors.New("boom"), dag.ErrTriggerOutcomeUnknown, false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dw := &fakeDW{createErrs: []error{tc.err}}
			_, err := newActivityEnv(t, dw).ExecuteActivity((&Activities{}).CreateManualDag, validCreate)
			appErr := appError(t, err)
			if appErr.Type() != tc.typ || appErr.NonRetryable() == tc.retryable {
				t.Fatalf("got type %s non-retryable %v, want %s retryable %v: %v", appErr.Type(), appErr.NonRetryable(), tc.typ, tc.retryable, err)
			}
			if tc.retryable && !createRetryable[appErr.Type()] {
				t.Fatalf("type %s is retried but not listed in createRetryable", appErr.Type())
			}
			for _, want := range tc.contains {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("message lacks %q: %v", want, err)
				}
			}
			if dw.createCount() != 1 {
				t.Errorf("%d creates", dw.createCount())
			}
		})
	}
}

func TestCreateThrottleCarriesNextRetryDelay(t *testing.T) {
	for _, tc := range []struct {
		err      error
		min, max time.Duration
	}{
		{replyErr("Throttling.Api", 429), ThrottleBaseDelay * 3 / 4, ThrottleBaseDelay * 5 / 4},
		{replyErr(dataworks.CodeDailyQuotaSpent, 400), QuotaRetryDelay, QuotaRetryDelay + QuotaRetryJitter},
	} {
		_, err := newActivityEnv(t, &fakeDW{createErrs: []error{tc.err}}).ExecuteActivity((&Activities{}).CreateManualDag, validCreate)
		if d := appError(t, err).NextRetryDelay(); d < tc.min || d > tc.max {
			t.Errorf("%v: NextRetryDelay %v not in [%v, %v]", tc.err, d, tc.min, tc.max)
		}
	}
}

// An attempt that finds the intent of an earlier one, and no DagID, must not
// send: the earlier request may have started a run.
func TestCreateAfterSendingAttemptDoesNotSendAgain(t *testing.T) {
	dw := &fakeDW{dagID: 42}
	env := newActivityEnv(t, dw)
	env.SetHeartbeatDetails(CreateProgress{State: createSending, Attempt: 1})
	_, err := env.ExecuteActivity((&Activities{}).CreateManualDag, validCreate)
	appErr := appError(t, err)
	if appErr.Type() != dag.ErrTriggerOutcomeUnknown || !appErr.NonRetryable() {
		t.Fatalf("got %v", err)
	}
	for _, want := range []string{"demo_project/daily_sales", "bizdate 2024-06-01", "Operation Center", "attempt 1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message lacks %q: %v", want, err)
		}
	}
	if dw.createCount() != 0 {
		t.Fatalf("sent again: %d creates", dw.createCount())
	}
}

func TestCreateRecoversDagIDFromHeartbeat(t *testing.T) {
	dw := &fakeDW{dagID: 42}
	env := newActivityEnv(t, dw)
	env.SetHeartbeatDetails(CreateProgress{State: createStarted, DagID: 700019657457, Attempt: 1})
	v, err := env.ExecuteActivity((&Activities{}).CreateManualDag, validCreate)
	if err != nil {
		t.Fatal(err)
	}
	var res CreateManualDagResult
	_ = v.Get(&res)
	if res.DagID != 700019657457 || !res.Recovered || dw.createCount() != 0 {
		t.Fatalf("got %+v, %d creates", res, dw.createCount())
	}
}

func TestCreateAfterNotSentSendsAgain(t *testing.T) {
	dw := &fakeDW{dagID: 42}
	env := newActivityEnv(t, dw)
	env.SetHeartbeatDetails(CreateProgress{State: createNotSent, Attempt: 1})
	if _, err := env.ExecuteActivity((&Activities{}).CreateManualDag, validCreate); err != nil {
		t.Fatal(err)
	}
	if dw.createCount() != 1 {
		t.Fatalf("%d creates", dw.createCount())
	}
}

func TestCreateUnreadableProgressIsUnknown(t *testing.T) {
	dw := &fakeDW{dagID: 42}
	env := newActivityEnv(t, dw)
	env.SetHeartbeatDetails("not a progress record")
	_, err := env.ExecuteActivity((&Activities{}).CreateManualDag, validCreate)
	if appError(t, err).Type() != dag.ErrTriggerOutcomeUnknown || dw.createCount() != 0 {
		t.Fatalf("got %v, %d creates", err, dw.createCount())
	}
}

// TestSearchErrorMapping is the search half of the error table.
func TestSearchErrorMapping(t *testing.T) {
	search := func(code string, status int) error {
		return &dataworks.Error{Action: "SearchManualDagNodeInstance", Phase: dataworks.PhaseReplied, HTTPStatus: status, Code: code}
	}
	for _, tc := range []struct {
		err       error
		typ       string
		retryable bool
		minDelay  time.Duration
	}{
		{search("Throttling.User", 429), dag.ErrThrottled, true, ThrottleBaseDelay / 2},
		{search(dataworks.CodeDailyQuotaSpent, 400), dag.ErrQuotaExhausted, true, QuotaRetryDelay},
		{search(dataworks.CodeServiceUnavailable, 503), dag.ErrTransient, true, 0},
		{errUnknown, dag.ErrTransient, true, 0},
		{errNotSent, dag.ErrTransient, true, 0},
		{search(dataworks.CodeForbiddenAccess, 403), dag.ErrPermanent, false, 0},
		{search(dataworks.CodeInvalidDagID, 200), dag.ErrDagNotFound, false, 0},
	} {
		dw := &fakeDW{searchErr: tc.err}
		_, err := newActivityEnv(t, dw).ExecuteActivity((&Activities{}).SearchManualDagNodeInstance, SearchInput{ProjectName: "p", DagID: 1})
		appErr := appError(t, err)
		if appErr.Type() != tc.typ || appErr.NonRetryable() == tc.retryable || appErr.NextRetryDelay() < tc.minDelay {
			t.Errorf("%v: got %s non-retryable %v delay %v", tc.err, appErr.Type(), appErr.NonRetryable(), appErr.NextRetryDelay())
		}
	}
}

func TestThrottleDelayBacksOffWithJitter(t *testing.T) {
	mid := func() float64 { return 0.5 }
	prev := time.Duration(0)
	for attempt := int32(1); attempt <= 8; attempt++ {
		d := ThrottleDelay(attempt, mid)
		if d < prev || d > ThrottleMaxDelay {
			t.Fatalf("attempt %d: %v after %v", attempt, d, prev)
		}
		prev = d
	}
	if ThrottleDelay(1, mid) != ThrottleBaseDelay || ThrottleDelay(30, mid) != ThrottleMaxDelay {
		t.Fatal("base or cap wrong")
	}
	lo, hi := ThrottleDelay(3, func() float64 { return 0 }), ThrottleDelay(3, func() float64 { return 0.999 })
	if lo >= hi || lo < 15*time.Second || hi > 25*time.Second {
		t.Fatalf("jitter range [%v, %v] for 20s", lo, hi)
	}
}

func node(id int64, name string, st dag.Status, begin, finish int64) dataworks.NodeInstance {
	ni := dataworks.NodeInstance{InstanceID: id, DagID: 700019657457, NodeName: name, Status: st}
	if begin > 0 {
		ni.BeginRunningTime = time.Unix(begin, 0)
	}
	if finish > 0 {
		ni.FinishTime = time.Unix(finish, 0)
	}
	return ni
}

func bigDag(n int) []dataworks.NodeInstance {
	statuses := []dag.Status{dag.StatusSuccess, dag.StatusRunning, dag.StatusNotRun, dag.StatusFailure, dag.StatusWaitResource}
	var list []dataworks.NodeInstance
	start := time.Date(2024, 6, 2, 0, 30, 0, 0, time.UTC).Unix()
	for i := range n {
		st := statuses[i%len(statuses)]
		ni := node(705772600901+int64(i)*7, fmt.Sprintf("ods_sales_order_detail_%03d", i), st, 0, 0)
		if st != dag.StatusNotRun {
			ni.BeginRunningTime = time.Unix(start+int64(i)*37, 0)
		}
		if st.Terminal() {
			ni.FinishTime = time.Unix(start+int64(i)*37+600, 0)
		}
		if st == dag.StatusFailure {
			ni.ErrorMessage = "ODPS-0130071:[1,8] Semantic analysis exception - column sale_amt cannot be resolved"
		}
		list = append(list, ni)
	}
	return list
}

// TestSearchResultSize measures what one poll of a 200-node DAG adds to the
// workflow history.
func TestSearchResultSize(t *testing.T) {
	list := bigDag(200)
	size := func(r SearchResult) int {
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		return len(b)
	}
	full := Compact(list, defaultMaxErrorMessage, Known{})
	statesOnly := Compact(list, defaultMaxErrorMessage, Known{Layout: full.LayoutDigest, Errors: full.ErrorsDigest})
	unchanged := Compact(list, defaultMaxErrorMessage, Known{Digest: full.Digest, Layout: full.LayoutDigest, Errors: full.ErrorsDigest})
	t.Logf("200 nodes: new layout %d bytes, states only %d bytes, unchanged %d bytes", size(full), size(statesOnly), size(unchanged))
	if size(full) > 16<<10 || size(statesOnly) > 4<<10 || size(unchanged) > 200 {
		t.Fatalf("too big: %d / %d / %d bytes", size(full), size(statesOnly), size(unchanged))
	}
}

func TestSearchResultRoundTrip(t *testing.T) {
	list := []dataworks.NodeInstance{
		node(30, "c", dag.Status("CODE_42"), 0, 0),
		node(10, "a", dag.StatusSuccess, 1717200000, 1717200600),
		node(20, "b", dag.StatusFailure, 1717200600, 1717200700),
	}
	list[2].ErrorMessage = strings.Repeat("é", 300)
	r1 := Compact(list, 50, Known{})
	var wire SearchResult
	b, _ := json.Marshal(r1)
	if err := json.Unmarshal(b, &wire); err != nil {
		t.Fatal(err)
	}
	nodes, err := wire.Nodes(nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []dag.Node{
		{ID: 10, Name: "a", Status: dag.StatusSuccess, Begin: 1717200000, Finish: 1717200600},
		{ID: 20, Name: "b", Status: dag.StatusFailure, Begin: 1717200600, Finish: 1717200700, ErrorMessage: nodesErr(t, nodes)},
		{ID: 30, Name: "c", Status: "CODE_42"},
	}
	if fmt.Sprint(nodes) != fmt.Sprint(want) {
		t.Fatalf("got %+v\nwant %+v", nodes, want)
	}
	if m := nodes[1].ErrorMessage; len(m) > 50 || !strings.HasSuffix(m, "…") {
		t.Fatalf("error message not truncated to 50 bytes: %q", m)
	}

	// States change, layout known: ids and names are left out and restored.
	list[0].Status = dag.StatusRunning
	r2 := Compact(list, 50, Known{Digest: r1.Digest, Layout: r1.LayoutDigest, Errors: r1.ErrorsDigest})
	if r2.IDs != nil || r2.Unchanged || !r2.ErrorsOmitted {
		t.Fatalf("layout not left out: %+v", r2)
	}
	nodes2, err := r2.Nodes(nodes)
	if err != nil || nodes2[2].Name != "c" || nodes2[2].Status != dag.StatusRunning || nodes2[1].ErrorMessage != nodes[1].ErrorMessage {
		t.Fatalf("got %+v, %v", nodes2, err)
	}
	// Nothing changes: a tiny result, the same snapshot.
	r3 := Compact(list, 50, Known{Digest: r2.Digest, Layout: r2.LayoutDigest, Errors: r2.ErrorsDigest})
	nodes3, err := r3.Nodes(nodes2)
	if !r3.Unchanged || err != nil || fmt.Sprint(nodes3) != fmt.Sprint(nodes2) {
		t.Fatalf("got %+v, %v", r3, err)
	}
	// A mismatched snapshot is an error, not a wrong answer.
	if _, err := r2.Nodes(nil); err == nil {
		t.Fatal("decoded a layout-less result without the layout")
	}
}

func nodesErr(t *testing.T, nodes []dag.Node) string {
	t.Helper()
	if len(nodes) < 2 {
		t.Fatal("too few nodes")
	}
	return nodes[1].ErrorMessage
}

// The intent must be on record before the request goes out: when Temporal
// does not confirm it (a deadline exceeded, an expired API key), nothing is
// sent and the attempt may be retried.
func TestCreateIntentNotRecordedIsNotSent(t *testing.T) {
	dw := &fakeDW{dagID: 1, intentErr: errors.New("context deadline exceeded")}
	_, err := newActivityEnv(t, dw).ExecuteActivity((&Activities{}).CreateManualDag, validCreate)
	appErr := appError(t, err)
	if appErr.Type() != dag.ErrCreateNotSent || appErr.NonRetryable() {
		t.Fatalf("got %s (non-retryable %v), want a retryable %s", appErr.Type(), appErr.NonRetryable(), dag.ErrCreateNotSent)
	}
	if n := dw.createCount(); n != 0 {
		t.Fatalf("sent %d creates with no intent on record", n)
	}
}
