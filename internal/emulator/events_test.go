package emulator

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// receivedPush is one POST the test receiver got.
type receivedPush struct {
	header http.Header
	body   []byte
	event  map[string]any
	at     time.Time // real time
}

func (p receivedPush) data() map[string]any { return p.event["data"].(map[string]any) }

// testReceiver records every push and answers what answer says (200 by
// default).
type testReceiver struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	got    []receivedPush
	answer func(n int) int // n counts the requests from 1
}

func newTestReceiver(t *testing.T) *testReceiver {
	r := &testReceiver{t: t}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, err := io.ReadAll(req.Body)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		var ev map[string]any
		if err := json.Unmarshal(body, &ev); err != nil {
			t.Errorf("push body is not JSON: %v: %s", err, body)
		}
		r.mu.Lock()
		r.got = append(r.got, receivedPush{header: req.Header.Clone(), body: body, event: ev, at: time.Now()})
		n, answer := len(r.got), r.answer
		r.mu.Unlock()
		status := http.StatusOK
		if answer != nil {
			status = answer(n)
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *testReceiver) pushes() []receivedPush {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]receivedPush(nil), r.got...)
}

// ofType keeps the pushes of one event type.
func ofType(ps []receivedPush, typ string) []receivedPush {
	var out []receivedPush
	for _, p := range ps {
		if p.event["type"] == typ {
			out = append(out, p)
		}
	}
	return out
}

// newEventHarness is a harness whose emulator pushes to rcv, scanning
// only when the test says (ScanEvents) and retrying at once.
func newEventHarness(t *testing.T, rcv *testReceiver, tweak func(*EventOptions)) *harness {
	h := newHarness(t, func(o *Options) {
		o.Events = EventOptions{URL: rcv.srv.URL + "/events", ScanEvery: -1, RetryWait: time.Millisecond, RetryWaitMax: 2 * time.Millisecond}
		if tweak != nil {
			tweak(&o.Events)
		}
	})
	t.Cleanup(func() { _ = h.emu.Close() })
	return h
}

// scanAndWait scans, then waits until every push was sent.
func (h *harness) scanAndWait() EventStats {
	h.t.Helper()
	h.emu.ScanEvents()
	return h.waitPushed()
}

func (h *harness) waitPushed() EventStats {
	h.t.Helper()
	var s EventStats
	require.Eventually(h.t, func() bool {
		s, _ = h.emu.EventStats()
		return s.Pending == 0
	}, 10*time.Second, 2*time.Millisecond)
	return s
}

// jsonMap is v as generic JSON, for exact comparisons.
func jsonMap(t *testing.T, v string) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(v), &m), v)
	return m
}

// TestDagEventsRunningThenSucceeded checks every field of both
// DagStatusChanges pushes of the ok flow (one 0..70s, two 70..140s).
func TestDagEventsRunningThenSucceeded(t *testing.T) {
	rcv := newTestReceiver(t)
	h := newEventHarness(t, rcv, nil)
	id := h.create2018("ok", nil)
	h.scanAndWait()
	h.clock.Advance(200 * time.Second)
	h.scanAndWait()
	h.clock.Advance(time.Hour)
	s := h.scanAndWait()

	got := rcv.pushes()
	require.Len(t, got, 2, "running, then succeeded; nothing after the end")
	want := func(status int, at, published string) map[string]any {
		return jsonMap(t, fmt.Sprintf(`{
			"id": %q, "source": "acs.dataworks", "specversion": "1.0",
			"type": "dataworks:DagStatusChanges:DagStatusChanges", "subject": "",
			"time": %q, "datacontenttype": "application/json;charset=utf-8",
			"aliyunaccountid": "1000000000001", "aliyunpublishtime": %q,
			"aliyuneventbusname": "default", "aliyunregionid": "cn-shanghai", "aliyunpublishaddr": "127.0.0.1",
			"data": {"dagId": %d, "dagName": "ok", "dagType": 5, "flowId": 1000002, "flowName": "ok",
				"projectId": 10000, "projectEnv": "PROD", "bizDate": "2024-03-28 00:00:00",
				"createTime": "2024-03-29 10:00:00", "operator": "1000000000001",
				"tenantId": 1000000000001000, "status": %d}}`, "ID", at, published, id, status))
	}
	for i, w := range []map[string]any{
		want(DagRunning, "2024-03-29T10:00:00+08:00", "2024-03-29T10:00:00.000PRC"),
		want(DagSucceeded, "2024-03-29T10:02:20+08:00", "2024-03-29T10:03:20.000PRC"),
	} {
		ev := got[i].event
		assert.Regexp(t, `^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-8[0-9a-f]{3}-[0-9a-f]{12}$`, ev["id"])
		w["id"] = ev["id"]
		assert.Equal(t, w, ev, "push %d", i)
		assert.Equal(t, "application/json;charset=utf-8", got[i].header.Get("Content-Type"))
		assert.Empty(t, got[i].header.Get("Authorization"), "unsigned without a signer")
	}
	assert.NotEqual(t, got[0].event["id"], got[1].event["id"])
	assert.Equal(t, map[string]int{EventTypeDagStatus: 2}, s.Generated)
	assert.Equal(t, 2, s.Sent)
	assert.Equal(t, 2, s.Delivered)
	assert.Equal(t, map[string]int{"200": 2}, s.Statuses)
	assert.Equal(t, "none", s.Faults)
}

// A failing flow ends 5 when nothing can run any more (transform_a's end,
// 200s, with load and report blocked); a restart of the failed node runs
// it again (4, at the restart) and it ends 6 (510s).
func TestDagEventsFailedThenRestarted(t *testing.T) {
	rcv := newTestReceiver(t)
	h := newEventHarness(t, rcv, nil)
	id := h.create2020("etl", nil)
	start := h.clock.Now()
	h.clock.Set(start.Add(300 * time.Second)) // first scan after the end: running is pushed first all the same
	h.scanAndWait()
	info, _ := h.emu.DAG(id)
	var failed int64
	for _, n := range info.Nodes {
		if n.Name == "transform_b" {
			failed = n.InstanceID
		}
	}
	require.Nil(t, h.emu.restartInstance(failed, h.clock.Now()))
	h.scanAndWait()
	h.clock.Set(start.Add(600 * time.Second))
	h.scanAndWait()

	type dagPush struct {
		Status int
		Time   string
	}
	var got []dagPush
	for _, p := range rcv.pushes() {
		assert.Equal(t, float64(id), p.data()["dagId"])
		got = append(got, dagPush{int(p.data()["status"].(float64)), p.event["time"].(string)})
	}
	assert.Equal(t, []dagPush{
		{DagRunning, "2024-03-29T10:00:00+08:00"},
		{DagFailed, "2024-03-29T10:03:20+08:00"},
		{DagRunning, "2024-03-29T10:05:00+08:00"},
		{DagSucceeded, "2024-03-29T10:08:30+08:00"},
	}, got)
	assert.Equal(t, "PROD", rcv.pushes()[0].data()["projectEnv"], "2020 CreateManualDag's ProjectEnv")
}

// TestInstanceEvents follows both nodes of the ok flow through every
// status, with the DAG's events in between, and checks one push whole.
func TestInstanceEvents(t *testing.T) {
	rcv := newTestReceiver(t)
	h := newEventHarness(t, rcv, func(o *EventOptions) { o.Instances = true })
	id := h.create2018("ok", nil)
	start := h.clock.Now()
	for at := time.Duration(0); at <= 150*time.Second; at += 10 * time.Second {
		h.clock.Set(start.Add(at))
		h.scanAndWait()
	}
	got := rcv.pushes()
	var seq []string
	for _, p := range got {
		d := p.data()
		if p.event["type"] == EventTypeDagStatus {
			seq = append(seq, fmt.Sprintf("dag:%v", d["status"]))
			continue
		}
		seq = append(seq, fmt.Sprintf("%v:%v", d["nodeId"], d["status"]))
	}
	assert.Equal(t, []string{
		"dag:4",
		"21:1", "21:2", "22:1", "21:3", "21:4", "21:7", "21:6", // two is made 1ms after one
		"22:2", "22:3", "22:4", "22:7", "22:6",
		"dag:6",
	}, seq)

	var running receivedPush
	for _, p := range ofType(got, EventTypeInstanceStatus) {
		if p.data()["nodeId"] == float64(22) && p.data()["status"] == float64(StatusRunning) {
			running = p
		}
	}
	require.NotNil(t, running.event)
	t0 := start.UnixMilli()
	instanceID := int64(running.data()["taskId"].(float64))
	want := jsonMap(t, fmt.Sprintf(`{
		"taskId": %d, "nodeId": 22, "dagId": %d, "dagType": 5, "flowId": 1000002, "appId": 10000,
		"tenantId": 1000000000001000, "status": 4,
		"beginWaitTimeTime": %d, "beginWaitResTime": %d, "beginRunningTime": %d,
		"createTime": %d, "modifyTime": %d}`,
		instanceID, id, t0+70_000, t0+71_000, t0+75_000, t0+1, t0+75_000))
	assert.Equal(t, want, running.data(), "finishTime left out until the end")
	assert.Equal(t, "dataworks:InstanceStatusChanges:InstanceStatusChanges", running.event["type"])
	assert.Equal(t, "2024-03-29T10:01:15+08:00", running.event["time"])

	// A not-run instance reports no phase time yet.
	first := ofType(got, EventTypeInstanceStatus)[0]
	assert.Equal(t, float64(StatusNotRun), first.data()["status"])
	assert.NotContains(t, first.data(), "beginWaitTimeTime")
}

// Scanning often or once after the end pushes the same changes with the
// same event times: the time is the change's, not the scan's.
func TestEventTimesDoNotDependOnTheScan(t *testing.T) {
	run := func(step time.Duration) []string {
		rcv := newTestReceiver(t)
		h := newEventHarness(t, rcv, func(o *EventOptions) { o.Instances = true })
		h.create2018("etl", nil)
		start := h.clock.Now()
		for at := step; at <= 300*time.Second; at += step {
			h.clock.Set(start.Add(at))
			h.emu.ScanEvents()
		}
		h.waitPushed()
		var out []string
		for _, p := range rcv.pushes() {
			d := p.data()
			out = append(out, fmt.Sprintf("%v %v %v %v", p.event["time"], d["nodeId"], d["status"], d["finishTime"]))
		}
		return out
	}
	often := run(time.Second)
	assert.Len(t, often, 2+6+6+5+2, "DAG running and failed; extract and transform_a through 6 statuses, transform_b 5 (no CHECKING); load and report made")
	assert.Equal(t, often, run(300*time.Second))
}

// The 2024-05-18 create pushes nothing while Creating, then reports its
// Name, workflow id and environment.
func TestDagEvents2024(t *testing.T) {
	rcv := newTestReceiver(t)
	h := newEventHarness(t, rcv, nil)
	h.emu.creatingFor = 10 * time.Second
	var created createReply2024
	h.json2024("CreateWorkflowInstances", map[string]string{
		"ProjectId": "10000", "WorkflowId": "1000002", "Name": "run-ok-2024", "Type": typeManualWorkflow, "EnvType": "Dev",
		"Periods": `{"BizDates":[{"StartBizDate":"2024-03-28","EndBizDate":"2024-03-28"}]}`,
	}, &created)
	h.scanAndWait()
	assert.Empty(t, rcv.pushes(), "nothing runs while Creating")
	h.clock.Advance(10 * time.Second)
	h.scanAndWait()
	got := rcv.pushes()
	require.Len(t, got, 1)
	d := got[0].data()
	assert.Equal(t, "run-ok-2024", d["dagName"])
	assert.Equal(t, "ok", d["flowName"])
	assert.Equal(t, float64(1000002), d["flowId"])
	assert.Equal(t, "DEV", d["projectEnv"])
	assert.Equal(t, "2024-03-29 10:00:10", d["createTime"])
}

// ------------------------------------------------------------- delivery

func TestEventRetriesOn5xxNotOn4xx(t *testing.T) {
	for _, tc := range []struct {
		name      string
		status    int
		tries     int
		retried   int
		delivered int
		rejected  int
		failed    int
	}{
		{"500 every time: 1 try and 3 retries, then given up", http.StatusInternalServerError, 4, 3, 0, 0, 1},
		{"503 twice, then 200", 0, 3, 2, 1, 0, 0},
		{"400: final", http.StatusBadRequest, 1, 0, 0, 1, 0},
		{"401 (bad signature): final", http.StatusUnauthorized, 1, 0, 0, 1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rcv := newTestReceiver(t)
			rcv.answer = func(n int) int {
				if tc.status == 0 {
					if n <= 2 {
						return http.StatusServiceUnavailable
					}
					return http.StatusOK
				}
				return tc.status
			}
			h := newEventHarness(t, rcv, nil)
			h.create2018("ok", nil)
			s := h.scanAndWait()
			got := rcv.pushes()
			require.Len(t, got, tc.tries)
			for _, p := range got {
				assert.Equal(t, got[0].event["id"], p.event["id"], "a retry resends the same event")
			}
			assert.Equal(t, tc.tries, s.Sent)
			assert.Equal(t, tc.retried, s.Retried)
			assert.Equal(t, tc.delivered, s.Delivered)
			assert.Equal(t, tc.rejected, s.Rejected)
			assert.Equal(t, tc.failed, s.Failed)
		})
	}
}

func TestEventRetriesWhenNoAnswer(t *testing.T) {
	rcv := newTestReceiver(t)
	h := newEventHarness(t, rcv, func(o *EventOptions) { o.Retries = 2 })
	rcv.srv.Close() // connection refused from now on
	h.create2018("ok", nil)
	s := h.scanAndWait()
	assert.Equal(t, 3, s.Sent)
	assert.Equal(t, 2, s.Retried)
	assert.Equal(t, 1, s.Failed)
	assert.Equal(t, map[string]int{"error": 3}, s.Statuses)
	assert.Contains(t, s.LastError, "after 3 tries")
}

func TestEventTimeoutIsRetried(t *testing.T) {
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release); slow.Close() })
	h := newHarness(t, func(o *Options) {
		o.Events = EventOptions{URL: slow.URL, ScanEvery: -1, Timeout: 20 * time.Millisecond, Retries: 1, RetryWait: time.Millisecond}
	})
	t.Cleanup(func() { _ = h.emu.Close() })
	h.create2018("ok", nil)
	s := h.scanAndWait()
	assert.Equal(t, 2, s.Sent)
	assert.Equal(t, 1, s.Retried)
	assert.Equal(t, 1, s.Failed)
	assert.Equal(t, 2, s.Statuses["error"])
}

// A receiver that does not answer fills the bounded queue; the rest is
// dropped and counted, and the API answers as fast as ever.
func TestEventQueueIsBounded(t *testing.T) {
	release := make(chan struct{})
	stuck := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { stuck.Close() })
	h := newHarness(t, func(o *Options) {
		o.Events = EventOptions{URL: stuck.URL, ScanEvery: -1, QueueSize: 5, Instances: true}
	})
	t.Cleanup(func() { _ = h.emu.Close() })
	h.create2018("ok", nil)
	h.clock.Advance(time.Hour)
	h.emu.ScanEvents() // 14 changes at once
	s, _ := h.emu.EventStats()
	assert.Equal(t, 14, s.Generated[EventTypeDagStatus]+s.Generated[EventTypeInstanceStatus])
	assert.Equal(t, 9, s.QueueFull)
	assert.Equal(t, 5, s.Pending)

	began := time.Now()
	h.create2018("ok", nil)
	h.emu.ScanEvents()
	assert.Less(t, time.Since(began), 2*time.Second, "a stuck receiver does not hold the API")
	s, _ = h.emu.EventStats()
	assert.Equal(t, 5, s.Pending, "still bounded")
	assert.Equal(t, 9+3, s.QueueFull, "the new run's first changes (DAG running, one made and waiting) are lost too")
	close(release)
	s = h.waitPushed()
	assert.Equal(t, 5, s.Delivered)
}

// ---------------------------------------------------------------- faults

// manyPushes makes n ok runs, scans once after they ended and returns
// what arrived: 14 changes a run with instances.
func manyPushes(t *testing.T, n int, tweak func(*EventOptions)) (*testReceiver, EventStats) {
	rcv := newTestReceiver(t)
	h := newEventHarness(t, rcv, func(o *EventOptions) {
		o.Instances = true
		tweak(o)
	})
	for range n {
		h.create2018("ok", nil)
	}
	h.clock.Advance(time.Hour)
	return rcv, h.scanAndWait()
}

func TestEventFaultDrop(t *testing.T) {
	rcv, s := manyPushes(t, 30, func(o *EventOptions) { o.Faults.DropRate = 0.3 })
	total := s.Generated[EventTypeDagStatus] + s.Generated[EventTypeInstanceStatus]
	require.Equal(t, 30*14, total)
	assert.InDelta(t, 0.3*float64(total), s.Dropped, 30, "about 30%% dropped")
	assert.Len(t, rcv.pushes(), total-s.Dropped, "the others arrive")
	assert.Equal(t, total-s.Dropped, s.Delivered)
}

func TestEventFaultDuplicate(t *testing.T) {
	rcv, s := manyPushes(t, 2, func(o *EventOptions) { o.Faults.DuplicateRate = 1 })
	byID := map[string][]receivedPush{}
	for _, p := range rcv.pushes() {
		byID[p.event["id"].(string)] = append(byID[p.event["id"].(string)], p)
	}
	assert.Len(t, byID, 28)
	for id, ps := range byID {
		require.Len(t, ps, 2, "event %s arrives twice", id)
		assert.Equal(t, ps[0].body, ps[1].body, "the copy is the same event")
	}
	assert.Equal(t, 28, s.Duplicated)
	assert.Equal(t, 56, s.Delivered)
}

// Reordered events arrive after events made after them; without the fault
// they arrive in the order they were made.
func TestEventFaultReorder(t *testing.T) {
	order := func(rate float64) (inversions int, s EventStats) {
		rcv, s := manyPushes(t, 2, func(o *EventOptions) {
			o.Faults.ReorderRate, o.Faults.ReorderBy = rate, 100*time.Millisecond
		})
		got := rcv.pushes()
		require.Len(t, got, 28)
		for i := 1; i < len(got); i++ {
			if got[i].event["id"].(string) < got[i-1].event["id"].(string) { // ids grow in the order events are made
				inversions++
			}
		}
		return inversions, s
	}
	none, s := order(0)
	assert.Zero(t, none)
	assert.Zero(t, s.Reordered)
	some, s := order(0.3)
	assert.Positive(t, some)
	assert.Positive(t, s.Reordered)
}

func TestEventFaultDelay(t *testing.T) {
	rcv := newTestReceiver(t)
	h := newEventHarness(t, rcv, func(o *EventOptions) { o.Faults.Delay = 150 * time.Millisecond })
	h.create2018("ok", nil)
	began := time.Now()
	h.scanAndWait()
	require.Len(t, rcv.pushes(), 1)
	assert.GreaterOrEqual(t, rcv.pushes()[0].at.Sub(began), 150*time.Millisecond)
}

// testSigner signs like EventBridge v2 in miniature: an HMAC over its
// clock's timestamp and the body.
type testSigner struct {
	now func() time.Time
	key []byte
}

func (s testSigner) mac(ts string, body []byte) string {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(ts + "\n"))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

func (s testSigner) Sign(req *http.Request, body []byte) error {
	ts := s.now().UTC().Format(time.RFC3339)
	req.Header.Set("X-Test-Timestamp", ts)
	req.Header.Set("X-Test-Signature", s.mac(ts, body))
	return nil
}

func makeTestSigner(key []byte) MakeEventSigner {
	return func(now func() time.Time) (EventSigner, error) { return testSigner{now: now, key: key}, nil }
}

func TestEventsSigned(t *testing.T) {
	key := []byte("test-key")
	rcv := newTestReceiver(t)
	h := newEventHarness(t, rcv, func(o *EventOptions) { o.Signer = makeTestSigner(key) })
	h.create2018("ok", nil)
	h.scanAndWait()
	p := rcv.pushes()[0]
	ts := p.header.Get("X-Test-Timestamp")
	assert.Equal(t, "2024-03-29T02:00:00Z", ts, "signed on the emulator's clock")
	assert.Equal(t, testSigner{key: key}.mac(ts, p.body), p.header.Get("X-Test-Signature"))
}

// Under badsig the body that arrives is not the one signed: its status is
// forged, and the signature does not match it.
func TestEventFaultBadSignature(t *testing.T) {
	key := []byte("test-key")
	rcv := newTestReceiver(t)
	h := newEventHarness(t, rcv, func(o *EventOptions) {
		o.Signer = makeTestSigner(key)
		o.Faults.BadSignatureRate = 1
	})
	h.create2018("ok", nil)
	s := h.scanAndWait()
	p := rcv.pushes()[0]
	ts := p.header.Get("X-Test-Timestamp")
	assert.NotEqual(t, testSigner{key: key}.mac(ts, p.body), p.header.Get("X-Test-Signature"), "the signature no longer matches")
	assert.Equal(t, float64(DagSucceeded), p.data()["status"], "a forged verdict: the run has just started")
	assert.Equal(t, 1, s.Tampered)

	// With a token, the token is altered as well.
	rcv = newTestReceiver(t)
	h = newEventHarness(t, rcv, func(o *EventOptions) {
		o.Signer = StaticSigner(TokenSigner{Token: "s3cret"})
		o.Faults.BadSignatureRate = 1
	})
	h.create2018("ok", nil)
	h.scanAndWait()
	auth := rcv.pushes()[0].header.Get("Authorization")
	assert.NotEqual(t, "Bearer s3cret", auth)
	assert.Regexp(t, `^Bearer s3cre.$`, auth)
}

func TestTokenSigner(t *testing.T) {
	rcv := newTestReceiver(t)
	h := newEventHarness(t, rcv, func(o *EventOptions) { o.Signer = StaticSigner(TokenSigner{Token: "s3cret"}) })
	h.create2018("ok", nil)
	h.scanAndWait()
	assert.Equal(t, "Bearer s3cret", rcv.pushes()[0].header.Get("Authorization"))
	assert.NotContains(t, fmt.Sprintf("%v %+v %#v", TokenSigner{"s3cret"}, TokenSigner{"s3cret"}, TokenSigner{"s3cret"}), "s3cret")
	assert.ErrorContains(t, TokenSigner{}.Sign(httptest.NewRequest(http.MethodPost, "/", nil), nil), "MANUALDAG_EMULATOR_EVENTS_TOKEN")
}

// A stale push is published and signed two minutes in the past.
func TestEventFaultStale(t *testing.T) {
	key := []byte("test-key")
	rcv := newTestReceiver(t)
	h := newEventHarness(t, rcv, func(o *EventOptions) {
		o.Signer = makeTestSigner(key)
		o.Faults.StaleRate = 1
	})
	h.create2018("ok", nil)
	s := h.scanAndWait()
	p := rcv.pushes()[0]
	assert.Equal(t, "2024-03-29T01:58:00Z", p.header.Get("X-Test-Timestamp"), "signed with a clock 2 minutes behind")
	assert.Equal(t, testSigner{key: key}.mac(p.header.Get("X-Test-Timestamp"), p.body), p.header.Get("X-Test-Signature"), "validly signed, only old")
	assert.Equal(t, "2024-03-29T09:58:00.000PRC", p.event["aliyunpublishtime"])
	assert.Equal(t, "2024-03-29T09:58:00+08:00", p.event["time"])
	assert.Equal(t, 1, s.Stale)
}

func TestEventFaultDisputedCodes(t *testing.T) {
	codes := func(spec string) (dagTypes, notRun map[float64]int) {
		f, err := ParseEventFaults(spec)
		require.NoError(t, err)
		rcv, _ := manyPushes(t, 3, func(o *EventOptions) { o.Faults = f })
		dagTypes, notRun = map[float64]int{}, map[float64]int{}
		for _, p := range rcv.pushes() {
			d := p.data()
			dagTypes[d["dagType"].(float64)]++
			if p.event["type"] == EventTypeInstanceStatus && d["beginWaitTimeTime"] == nil {
				notRun[d["status"].(float64)]++
			}
		}
		return dagTypes, notRun
	}
	types, notRun := codes("")
	assert.Equal(t, map[float64]int{5: 42}, types)
	assert.Equal(t, map[float64]int{1: 6}, notRun)
	types, notRun = codes("dagtype=4,notrun=0")
	assert.Equal(t, map[float64]int{4: 42}, types)
	assert.Equal(t, map[float64]int{0: 6}, notRun)
	types, notRun = codes("dagtype=random,notrun=random")
	assert.Len(t, types, 2, "both 4 and 5: %v", types)
	assert.Len(t, notRun, 2, "both 0 and 1: %v", notRun)
}

func TestEventFaultsFollowTheSeed(t *testing.T) {
	run := func(seed int64) []string {
		rcv := newTestReceiver(t)
		h := newHarness(t, func(o *Options) {
			o.Seed = seed
			o.Events = EventOptions{URL: rcv.srv.URL, ScanEvery: -1, Instances: true,
				Faults: EventFaults{DropRate: 0.3, DuplicateRate: 0.2, DagType: ChoiceRandom}}
		})
		t.Cleanup(func() { _ = h.emu.Close() })
		for range 3 {
			h.create2018("ok", nil)
		}
		h.clock.Advance(time.Hour)
		h.scanAndWait()
		var out []string
		for _, p := range rcv.pushes() {
			d := p.data()
			out = append(out, fmt.Sprintf("%v %v %v %v", d["dagId"], d["nodeId"], d["status"], d["dagType"]))
		}
		return out
	}
	a := run(7)
	assert.Equal(t, a, run(7), "same seed, same faults")
	assert.NotEqual(t, a, run(8))
}

// ------------------------------------------------------------- config

func TestParseEventFaults(t *testing.T) {
	f, err := ParseEventFaults("drop=0.3, dup=0.1,reorder=0.2,delay=2s,badsig=0.05,stale=0.05,dagtype=5,notrun=0")
	require.NoError(t, err)
	assert.Equal(t, EventFaults{DropRate: 0.3, DuplicateRate: 0.1, ReorderRate: 0.2, Delay: 2 * time.Second,
		BadSignatureRate: 0.05, StaleRate: 0.05, DagType: "5", NotRun: "0"}, f)
	assert.Equal(t, "drop=0.3,dup=0.1,reorder=0.2,delay=2s,badsig=0.05,stale=0.05,dagtype=5,notrun=0", f.String())

	f, err = ParseEventFaults("delay=1s..3s,reorderby=500ms,staleby=5m,dagtype=random")
	require.NoError(t, err)
	assert.Equal(t, EventFaults{Delay: time.Second, DelayMax: 3 * time.Second, ReorderBy: 500 * time.Millisecond,
		StaleBy: 5 * time.Minute, DagType: ChoiceRandom}, f)
	again, err := ParseEventFaults(f.String())
	require.NoError(t, err)
	assert.Equal(t, f, again, "String round-trips")

	for _, spec := range []string{"", "none", " "} {
		f, err := ParseEventFaults(spec)
		require.NoError(t, err)
		assert.Equal(t, EventFaults{}, f)
		assert.Equal(t, "none", f.String())
	}

	for _, tc := range []struct{ spec, msg string }{
		{"drop=1.5", "drop=1.5: a rate is a number from 0 to 1"},
		{"drop=-0.1", "a rate is a number from 0 to 1"},
		{"dup=lots", "dup=lots: a rate"},
		{"drop", `"drop" is not key=value`},
		{"loss=0.3", "loss=0.3: unknown key; use drop, dup, reorder, reorderby, delay, badsig, stale, staleby, dagtype, notrun"},
		{"delay=soon", "a Go duration"},
		{"delay=3s..1s", "the range must go from low to high"},
		{"dagtype=3", "dagtype=3: use 4, 5 or random"},
		{"notrun=2", "notrun=2: use 1, 0 or random"},
		{"drop=0.1,drop=0.2", "drop is given twice"},
	} {
		_, err := ParseEventFaults(tc.spec)
		assert.ErrorContains(t, err, tc.msg, tc.spec)
	}
}

func TestEventOptionsValidation(t *testing.T) {
	def, err := ParseDefinition([]byte(testDefinition))
	require.NoError(t, err)
	for _, tc := range []struct {
		events EventOptions
		msg    string
	}{
		{EventOptions{URL: "localhost:8080/events"}, "give an absolute http:// or https:// URL"},
		{EventOptions{URL: "ftp://host/x"}, "give an absolute http:// or https:// URL"},
		{EventOptions{URL: "http://h/", Faults: EventFaults{DropRate: 2}}, "drop=2 is not a rate"},
		{EventOptions{URL: "http://h/", QueueSize: -1}, "must not be negative"},
		{EventOptions{URL: "http://h/", RetryWait: time.Second, RetryWaitMax: time.Millisecond}, "RetryWaitMax"},
		{EventOptions{URL: "http://h/", Signer: func(func() time.Time) (EventSigner, error) { return nil, fmt.Errorf("no key") }}, "signer: no key"},
	} {
		_, err := New(Options{Definition: def, Credentials: map[string]Key{"a": {Secret: "b"}}, Events: tc.events})
		assert.ErrorContains(t, err, tc.msg)
	}
}

func TestEventInspection(t *testing.T) {
	rcv := newTestReceiver(t)
	h := newEventHarness(t, rcv, func(o *EventOptions) { o.URL += "?token=secret" })
	h.create2018("ok", nil)
	h.scanAndWait()

	var stats Stats
	require.Equal(t, http.StatusOK, h.getJSON("/_emulator/stats", &stats))
	require.NotNil(t, stats.Events)
	assert.Equal(t, 1, stats.Events.Delivered)
	assert.Equal(t, rcv.srv.URL+"/events", stats.Events.URL, "no query: it may hold a token")

	var es EventStats
	require.Equal(t, http.StatusOK, h.send(http.MethodPut, "/_emulator/events/faults", "drop=1,dagtype=4", &es))
	assert.Equal(t, "drop=1,dagtype=4", es.Faults)
	h.clock.Advance(time.Hour)
	es = h.scanAndWait()
	assert.Equal(t, 1, es.Dropped, "the new faults apply to the next events")
	require.Equal(t, http.StatusOK, h.getJSON("/_emulator/events", &es))
	assert.Equal(t, 1, es.Delivered)

	var e map[string]string
	assert.Equal(t, http.StatusBadRequest, h.send(http.MethodPut, "/_emulator/events/faults", "drop=2", &e))
	assert.Contains(t, e["error"], "a rate is a number from 0 to 1")

	off := newHarness(t, nil)
	assert.Equal(t, http.StatusNotFound, off.getJSON("/_emulator/events", &e))
	assert.Contains(t, e["error"], "-events-url")
	var offStats Stats
	require.Equal(t, http.StatusOK, off.getJSON("/_emulator/stats", &offStats))
	assert.Nil(t, offStats.Events)
	off.emu.ScanEvents() // a no-op
	assert.NoError(t, off.emu.Close())
}

// The emulator scans by itself: a run's first change is pushed within a
// few scan intervals of real time.
func TestEventBackgroundScan(t *testing.T) {
	rcv := newTestReceiver(t)
	h := newEventHarness(t, rcv, func(o *EventOptions) { o.ScanEvery = 10 * time.Millisecond })
	h.create2018("ok", nil)
	require.Eventually(t, func() bool { return len(rcv.pushes()) == 1 }, 5*time.Second, 5*time.Millisecond)
	require.NoError(t, h.emu.Close())
	require.NoError(t, h.emu.Close(), "twice is fine")
}
