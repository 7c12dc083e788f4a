package openevent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/uber-go/tally/v4"
	"go.temporal.io/api/serviceerror"
	sdktally "go.temporal.io/sdk/contrib/tally"

	"github.com/manualdag/manualdag/dag"
)

type fakeFinder struct {
	mu        sync.Mutex
	runs      map[int64]string
	closed    map[int64]bool
	err       error
	calls     int
	forgotten []int64
}

func (f *fakeFinder) FindRun(_ context.Context, dagID int64) (string, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.err != nil {
		return "", "", f.err
	}
	if id, ok := f.runs[dagID]; ok {
		return id, "run-" + id, nil
	}
	if f.closed[dagID] {
		return "", "", ErrRunClosed
	}
	return "", "", ErrNoRun
}

func (f *fakeFinder) Forget(dagID int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.forgotten = append(f.forgotten, dagID)
}

type sentSignal struct {
	workflowID, runID, name string
	event                   dag.Event
}

type fakeSignaler struct {
	mu   sync.Mutex
	errs []error // returned in turn, then nil
	sent []sentSignal
}

func (s *fakeSignaler) SignalWorkflow(_ context.Context, workflowID, runID, name string, arg any) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.errs) > 0 {
		err := s.errs[0]
		s.errs = s.errs[1:]
		return err
	}
	s.sent = append(s.sent, sentSignal{workflowID, runID, name, arg.(dag.Event)})
	return nil
}

func (s *fakeSignaler) signals() []sentSignal {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]sentSignal(nil), s.sent...)
}

type receiverFixture struct {
	r      *Receiver
	finder *fakeFinder
	sig    *fakeSignaler
	scope  tally.TestScope
	signer *Signer
	now    time.Time
}

const testDagID = 1000123

func newFixture(t *testing.T, mod func(*ReceiverOptions)) *receiverFixture {
	t.Helper()
	trusted, _ := keys(t)
	f := &receiverFixture{
		finder: &fakeFinder{runs: map[int64]string{testDagID: "dw-run-1"}},
		sig:    &fakeSignaler{},
		scope:  tally.NewTestScope("", nil),
		now:    testNow,
	}
	f.signer = &Signer{Key: trusted, CertURL: certURL, Version: V2, Now: func() time.Time { return f.now }}
	o := ReceiverOptions{
		Verifier: pinnedVerifier(t, ModeAny, testNow, func(o *VerifierOptions) { o.Now = func() time.Time { return f.now } }),
		Finder:   f.finder, Signaler: f.sig, Metrics: sdktally.NewMetricsHandler(f.scope),
	}
	if mod != nil {
		mod(&o)
	}
	r, err := NewReceiver(o)
	if err != nil {
		t.Fatal(err)
	}
	f.r = r
	return f
}

// post sends body, signed now, and returns the status and the answer.
func (f *receiverFixture) post(t *testing.T, body string) (int, string) {
	t.Helper()
	return f.do(t, signedRequest(t, f.signer, targetURL, []byte(body)))
}

func (f *receiverFixture) do(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	f.r.ServeHTTP(rec, req)
	return rec.Code, strings.TrimSpace(rec.Body.String())
}

// counts are MetricEvents by outcome, and the dedupe gauge.
func (f *receiverFixture) counts() (map[string]int64, float64) {
	snap := f.scope.Snapshot()
	out := map[string]int64{}
	for _, c := range snap.Counters() {
		if c.Name() == MetricEvents {
			out[c.Tags()["outcome"]] += c.Value()
		}
	}
	var gauge float64
	for _, g := range snap.Gauges() {
		if g.Name() == MetricDedupeIDs {
			gauge = g.Value()
		}
	}
	return out, gauge
}

func eventBody(id, typ string, dagID int64, status int) string {
	return fmt.Sprintf(`{"id":%q,"source":"acs.dataworks","specversion":"1.0","type":%q,"time":"2024-06-01T08:00:00Z","data":{"dagId":%d,"nodeId":9,"dagType":5,"status":%d}}`,
		id, typ, dagID, status)
}

func TestReceiverSignalsTheRun(t *testing.T) {
	f := newFixture(t, nil)
	code, msg := f.post(t, eventBody("e1", TypeDagStatusChanges, testDagID, 6))
	if code != http.StatusOK || msg != "signaled" {
		t.Fatalf("answer %d %q", code, msg)
	}
	code, msg = f.post(t, eventBody("e2", TypeInstanceStatusChanges, testDagID, 4))
	if code != http.StatusOK || msg != "signaled" {
		t.Fatalf("instance event: answer %d %q", code, msg)
	}
	at := time.Date(2024, 6, 1, 8, 0, 0, 0, time.UTC)
	want := []sentSignal{
		{"dw-run-1", "", dag.SignalEvent, dag.Event{ID: "e1", Kind: dag.EventDag, DagID: testDagID, Status: dag.StatusSuccess, Final: true, Time: at}},
		{"dw-run-1", "", dag.SignalEvent, dag.Event{ID: "e2", Kind: dag.EventInstance, DagID: testDagID, NodeID: 9, Status: dag.StatusRunning, Time: at}},
	}
	if got := f.sig.signals(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("signals\n got %+v\nwant %+v", got, want)
	}
	counts, gauge := f.counts()
	if counts[OutcomeSignaled] != 2 || gauge != 2 || f.r.Seen() != 2 {
		t.Errorf("counts %v, dedupe gauge %v, Seen %d", counts, gauge, f.r.Seen())
	}
}

func TestReceiverDropsDuplicates(t *testing.T) {
	f := newFixture(t, nil)
	body := eventBody("e1", TypeDagStatusChanges, testDagID, 4)
	for i, want := range []string{"signaled", "duplicate", "duplicate"} {
		f.now = testNow.Add(time.Duration(i) * time.Minute) // EventBridge's retries are signed anew
		if code, msg := f.post(t, body); code != http.StatusOK || msg != want {
			t.Errorf("delivery %d: %d %q, want 200 %q", i, code, msg, want)
		}
	}
	if n := len(f.sig.signals()); n != 1 {
		t.Errorf("%d signals, want 1", n)
	}
	if counts, _ := f.counts(); counts[OutcomeDuplicate] != 2 {
		t.Errorf("counts %v", counts)
	}
}

// An id is seen only once its signal went through: EventBridge's retry
// after a 503 is delivered.
func TestReceiverDedupesOnlyAfterSuccess(t *testing.T) {
	f := newFixture(t, nil)
	f.sig.errs = []error{serviceerror.NewUnavailable("frontend down")}
	body := eventBody("e1", TypeDagStatusChanges, testDagID, 6)
	rec := httptest.NewRecorder()
	f.r.ServeHTTP(rec, signedRequest(t, f.signer, targetURL, []byte(body)))
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("signal down: %d %q, Retry-After %q", rec.Code, rec.Body.String(), rec.Header().Get("Retry-After"))
	}
	if f.r.Seen() != 0 {
		t.Fatal("an undelivered event was marked seen")
	}
	if code, msg := f.post(t, body); code != http.StatusOK || msg != "signaled" {
		t.Fatalf("retry: %d %q", code, msg)
	}

	f.finder.err = errors.New("visibility timeout")
	if code, _ := f.post(t, eventBody("e2", TypeDagStatusChanges, testDagID, 6)); code != http.StatusServiceUnavailable {
		t.Fatalf("finder down: %d", code)
	}
	f.finder.err = nil
	if code, msg := f.post(t, eventBody("e2", TypeDagStatusChanges, testDagID, 6)); code != http.StatusOK || msg != "signaled" {
		t.Fatalf("retry: %d %q", code, msg)
	}
	if counts, _ := f.counts(); counts[OutcomeUnavailable] != 2 || counts[OutcomeSignaled] != 2 {
		t.Errorf("counts %v", counts)
	}
}

func TestReceiverUnknownAndClosedRuns(t *testing.T) {
	f := newFixture(t, nil)
	code, msg := f.post(t, eventBody("e1", TypeDagStatusChanges, 555, 4))
	if code != http.StatusAccepted || msg != "no open run for DAG 555" {
		t.Errorf("unknown DAG: %d %q", code, msg)
	}
	f.sig.errs = []error{serviceerror.NewNotFound("workflow execution already completed")}
	code, msg = f.post(t, eventBody("e2", TypeDagStatusChanges, testDagID, 6))
	if code != http.StatusAccepted || !strings.Contains(msg, "just closed") {
		t.Errorf("closed run: %d %q", code, msg)
	}
	if fmt.Sprint(f.finder.forgotten) != fmt.Sprint([]int64{testDagID}) {
		t.Errorf("forgotten %v, want the closed run's DAG", f.finder.forgotten)
	}
	if counts, _ := f.counts(); counts[OutcomeUnknownRun] != 2 || f.r.Seen() != 0 {
		t.Errorf("counts %v, Seen %d", counts, f.r.Seen())
	}
}

// A recent event about a DAG no open run watches yet is answered 503, so
// that EventBridge retries it once the run's DAG id is searchable (its
// first event races the run's record of the id); the retry is signalled.
// Past IndexGrace, or without a time, it is 202 as before.
func TestReceiverRetriesAnEventBeforeItsRunIsSearchable(t *testing.T) {
	now := testNow.Add(30 * time.Second)
	f := newFixture(t, func(o *ReceiverOptions) { o.Now = func() time.Time { return now } })
	f.now = now
	delete(f.finder.runs, testDagID)
	body := eventBody("e1", TypeDagStatusChanges, testDagID, 4) // time: testNow, 30s ago
	code, msg := f.post(t, body)
	if code != http.StatusServiceUnavailable || !strings.Contains(msg, "no open run for DAG 1000123 yet") || f.r.Seen() != 0 {
		t.Fatalf("before the run is searchable: %d %q, Seen %d", code, msg, f.r.Seen())
	}
	f.finder.runs[testDagID] = "dw-run-1"
	if code, msg := f.post(t, body); code != http.StatusOK || msg != "signaled" {
		t.Fatalf("the retry: %d %q", code, msg)
	}
	// A recent event about a DAG whose run has closed needs no retry.
	f.finder.closed = map[int64]bool{556: true}
	if code, msg := f.post(t, eventBody("e3", TypeDagStatusChanges, 556, 6)); code != http.StatusAccepted || msg != "the run for DAG 556 has closed" {
		t.Errorf("closed run: %d %q", code, msg)
	}
	// Dated in the future beyond the grace: no retry either.
	now = testNow.Add(-DefaultIndexGrace - time.Second)
	f.now = now
	if code, msg := f.post(t, eventBody("e4", TypeDagStatusChanges, 555, 6)); code != http.StatusAccepted || msg != "no open run for DAG 555" {
		t.Errorf("from the future: %d %q", code, msg)
	}
	now = testNow.Add(DefaultIndexGrace + time.Second)
	f.now = now
	if code, msg := f.post(t, eventBody("e2", TypeDagStatusChanges, 555, 6)); code != http.StatusAccepted || msg != "no open run for DAG 555" {
		t.Errorf("past the grace: %d %q", code, msg)
	}
	if counts, _ := f.counts(); counts[OutcomeNotYet] != 1 || counts[OutcomeSignaled] != 1 || counts[OutcomeUnknownRun] != 3 {
		t.Errorf("counts %v", counts)
	}
}

func TestReceiverRefusals(t *testing.T) {
	valid := eventBody("e1", TypeDagStatusChanges, testDagID, 6)
	for _, tc := range []struct {
		name    string
		req     func(t *testing.T, f *receiverFixture) *http.Request
		code    int
		outcome string
		says    string
	}{
		{"GET", func(t *testing.T, f *receiverFixture) *http.Request {
			return httptest.NewRequest(http.MethodGet, "/", nil)
		}, http.StatusMethodNotAllowed, OutcomeMalformed, "POST"},
		{"form", func(t *testing.T, f *receiverFixture) *http.Request {
			r := signedRequest(t, f.signer, targetURL, []byte(valid))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return r
		}, http.StatusUnsupportedMediaType, OutcomeMalformed, "content type"},
		{"oversize, declared", func(t *testing.T, f *receiverFixture) *http.Request {
			return signedRequest(t, f.signer, targetURL, bytes.Repeat([]byte("x"), DefaultMaxBodyBytes+1))
		}, http.StatusRequestEntityTooLarge, OutcomeTooLarge, "too large"},
		{"oversize, chunked", func(t *testing.T, f *receiverFixture) *http.Request {
			r := signedRequest(t, f.signer, targetURL, nil)
			r.Body, r.ContentLength = io.NopCloser(io.MultiReader(strings.NewReader("{"), strings.NewReader(strings.Repeat(" ", DefaultMaxBodyBytes)))), -1
			return r
		}, http.StatusRequestEntityTooLarge, OutcomeTooLarge, "too large"},
		{"unsigned", func(t *testing.T, f *receiverFixture) *http.Request {
			return httptest.NewRequest(http.MethodPost, "/dataworks", strings.NewReader(valid))
		}, http.StatusUnauthorized, OutcomeUnauthorized, "unauthorized"},
		{"tampered", func(t *testing.T, f *receiverFixture) *http.Request {
			r := signedRequest(t, f.signer, targetURL, []byte(valid))
			r.Body = io.NopCloser(strings.NewReader(strings.Replace(valid, `"status":6`, `"status":5`, 1)))
			return r
		}, http.StatusUnauthorized, OutcomeUnauthorized, "does not match"},
		{"stale", func(t *testing.T, f *receiverFixture) *http.Request {
			r := signedRequest(t, f.signer, targetURL, []byte(valid))
			f.now = testNow.Add(61 * time.Second)
			return r
		}, http.StatusUnauthorized, OutcomeStale, "stale: older than 60s"},
		{"not a CloudEvent", func(t *testing.T, f *receiverFixture) *http.Request {
			return signedRequest(t, f.signer, targetURL, []byte(`{"hello":"world"}`))
		}, http.StatusBadRequest, OutcomeMalformed, "malformed"},
		{"no dagId", func(t *testing.T, f *receiverFixture) *http.Request {
			return signedRequest(t, f.signer, targetURL, []byte(`{"id":"1","type":"`+TypeDagStatusChanges+`","data":{}}`))
		}, http.StatusBadRequest, OutcomeMalformed, "dagId"},
		{"another event type", func(t *testing.T, f *receiverFixture) *http.Request {
			return signedRequest(t, f.signer, targetURL, []byte(eventBody("e9", "dataworks:FileChange:CommitFile", testDagID, 6)))
		}, http.StatusOK, OutcomeIgnored, "ignored: not an event manualdag uses"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, nil)
			rec := httptest.NewRecorder()
			f.r.ServeHTTP(rec, tc.req(t, f))
			if rec.Code != tc.code || !strings.Contains(rec.Body.String(), tc.says) {
				t.Errorf("answer %d %q, want %d saying %q", rec.Code, rec.Body.String(), tc.code, tc.says)
			}
			if tc.code == http.StatusMethodNotAllowed && rec.Header().Get("Allow") != http.MethodPost {
				t.Errorf("Allow %q", rec.Header().Get("Allow"))
			}
			if counts, _ := f.counts(); counts[tc.outcome] != 1 {
				t.Errorf("counts %v, want one %s", counts, tc.outcome)
			}
			if n := len(f.sig.signals()); n != 0 {
				t.Errorf("%d signals", n)
			}
		})
	}
}

// The content type check is lenient: what EventBridge and CloudEvents
// senders use passes.
func TestReceiverContentTypes(t *testing.T) {
	for ct, ok := range map[string]bool{
		"": true, "application/json": true, "application/json;charset=utf-8": true, "application/cloudevents+json; charset=UTF-8": true,
		"text/plain": true, "multipart/form-data; boundary=x": false, "application/octet-stream": false, "application/x-www-form-urlencoded": false, ";;": false,
	} {
		if got := jsonContentType(ct); got != ok {
			t.Errorf("jsonContentType(%q) = %v", ct, got)
		}
	}
}

// Answers never quote a token, whatever was sent.
func TestReceiverNeverEchoesSecrets(t *testing.T) {
	f := newFixture(t, func(o *ReceiverOptions) {
		o.Verifier = pinnedVerifier(t, ModeToken, testNow, func(v *VerifierOptions) { v.PublicKey, v.Token = nil, testToken })
	})
	sent := "Bearer " + strings.Repeat("y", 40)
	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(eventBody("e1", TypeDagStatusChanges, testDagID, 6)))
	req.Header.Set("Authorization", sent)
	code, msg := f.do(t, req)
	if code != http.StatusUnauthorized || strings.Contains(msg, "yyyy") || strings.Contains(msg, testToken[:8]) {
		t.Errorf("answer %d %q", code, msg)
	}
	req = httptest.NewRequest(http.MethodPost, "/", strings.NewReader(eventBody("e1", TypeDagStatusChanges, testDagID, 6)))
	req.Header.Set(HeaderManualdagToken, testToken)
	if code, msg := f.do(t, req); code != http.StatusOK || msg != "signaled" {
		t.Errorf("with the token: %d %q", code, msg)
	}
}

func TestReceiverKeyUnavailable(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "busy", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	f := newFixture(t, func(o *ReceiverOptions) {
		v, err := NewVerifier(VerifierOptions{KeyHosts: KeyHosts("cn-shanghai"), HTTPClient: clientTo(srv, strings.TrimPrefix(srv.URL, "https://")), Now: fixedClock(testNow)})
		if err != nil {
			t.Fatal(err)
		}
		o.Verifier = v
	})
	if code, msg := f.post(t, eventBody("e1", TypeDagStatusChanges, testDagID, 6)); code != http.StatusServiceUnavailable || !strings.Contains(msg, "public key") {
		t.Errorf("answer %d %q", code, msg)
	}
}

// Many requests at once, with duplicates among them: every id is signalled
// (a duplicate arriving at the same moment may be too), and remembered once.
func TestReceiverConcurrent(t *testing.T) {
	f := newFixture(t, nil)
	const ids, copies = 20, 3
	reqs := make(chan *http.Request, ids*copies)
	for i := 0; i < ids; i++ {
		for c := 0; c < copies; c++ {
			reqs <- signedRequest(t, f.signer, targetURL, []byte(eventBody(fmt.Sprintf("e%d", i), TypeDagStatusChanges, testDagID, 4)))
		}
	}
	close(reqs)
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for req := range reqs {
				rec := httptest.NewRecorder()
				f.r.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					t.Errorf("answer %d %q", rec.Code, rec.Body.String())
				}
			}
		}()
	}
	wg.Wait()
	seen := map[string]bool{}
	for _, s := range f.sig.signals() {
		seen[s.event.ID] = true
	}
	counts, _ := f.counts()
	if len(seen) != ids || f.r.Seen() != ids || counts[OutcomeSignaled]+counts[OutcomeDuplicate] != ids*copies {
		t.Errorf("%d ids signalled, %d seen, counts %v; want %d, %d, %d requests", len(seen), f.r.Seen(), counts, ids, ids, ids*copies)
	}
}

// The de-duplication forgets the least recently seen id past its size.
func TestReceiverDedupeIsBounded(t *testing.T) {
	f := newFixture(t, func(o *ReceiverOptions) { o.DedupeSize = 2 })
	for _, id := range []string{"a", "b", "c"} {
		if code, msg := f.post(t, eventBody(id, TypeDagStatusChanges, testDagID, 4)); msg != "signaled" {
			t.Fatalf("%s: %d %q", id, code, msg)
		}
	}
	if f.r.Seen() != 2 {
		t.Fatalf("Seen %d, want 2", f.r.Seen())
	}
	if _, msg := f.post(t, eventBody("c", TypeDagStatusChanges, testDagID, 4)); msg != "duplicate" {
		t.Errorf("c: %q", msg)
	}
	if _, msg := f.post(t, eventBody("a", TypeDagStatusChanges, testDagID, 4)); msg != "signaled" {
		t.Errorf("a, forgotten: %q", msg)
	}
}

func TestSeenIDsLRU(t *testing.T) {
	s := newSeenIDs(2)
	a, b, c := keyOf("a"), keyOf("b"), keyOf("c")
	s.add(a)
	s.add(b)
	s.has(a) // a is now the most recent: b goes first
	if n := s.add(c); n != 2 {
		t.Fatalf("len %d", n)
	}
	if !s.has(a) || s.has(b) || !s.has(c) {
		t.Errorf("a %v b %v c %v, want a and c", s.has(a), s.has(b), s.has(c))
	}
}

func TestNewReceiverNeedsItsParts(t *testing.T) {
	if _, err := NewReceiver(ReceiverOptions{Finder: &fakeFinder{}, Signaler: &fakeSignaler{}}); err == nil {
		t.Error("no verifier: accepted")
	}
}
