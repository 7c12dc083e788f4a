//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/manualdag/manualdag/activities"
	"github.com/manualdag/manualdag/dag"
	"github.com/manualdag/manualdag/internal/emulator"
	"github.com/manualdag/manualdag/openevent"
	"github.com/manualdag/manualdag/workflows"
)

// flowEvents runs two minutes (real time, at the stack's time scale):
// extract 30 s, then load 90 s; on eventsFailDate load fails after 20 s.
const (
	flowEvents     = "e2e_events"
	eventsFailDate = "2024-11-02"
	eventCertURL   = "https://cn-shanghai-eventbridge.oss-accelerate.aliyuncs.com/e2e/x509.pem"
)

func eventsFlow() emulator.Flow {
	scaled := func(d time.Duration) *emulator.Duration { x := emulator.Duration(d * timeScale); return &x }
	return emulator.Flow{Name: flowEvents, Nodes: []emulator.Node{
		{ID: 103990201, Name: "extract", Duration: scaled(30 * time.Second)},
		{ID: 103990202, Name: "load", Upstream: []int64{103990201}, Duration: scaled(90 * time.Second), ByBizdate: map[string]emulator.NodeVariant{
			eventsFailDate: {Duration: scaled(20 * time.Second), Outcome: emulator.OutcomeFailure},
		}},
	}}
}

// bothVersions signs pushes with EventBridge's v1 and v2 signatures in
// turn, so that the worker's default (-events-auth any) meets both.
type bothVersions struct {
	v1, v2 *openevent.Signer
	n      atomic.Int64
}

func (b *bothVersions) Sign(req *http.Request, body []byte) error {
	if b.n.Add(1)%2 == 0 {
		return b.v1.Sign(req, body)
	}
	return b.v2.Sign(req, body)
}

// TestOpenEvents is issue 16 on the real dev server: the emulator pushes
// DataWorks OpenEvent DAG events over HTTP, signed with EventBridge's v1
// and v2 signatures by a key whose public half the worker pins, to the
// worker's receiver (-events-listen), which finds each run through the
// DataWorksDagId search attribute and signals it.
//
//   - EventsLead: with every event delivered a run looks when its DAG
//     starts and ends, not on the poll policy's clock: a two-minute run
//     and a failing one take a handful of searches each, and the end is
//     seen within seconds (logged: no timed assertion).
//   - ForgedAndReplayed: every push the emulator makes is tampered with
//     (401), and the test pushes validly signed forgeries of the opposite
//     verdict, replays (duplicate), stale and tampered requests (401): the
//     verdicts are still those of DataWorks, and a run whose DAG goes on is
//     not ended by a forged final event.
//   - LossyDelivery: 30 % of events dropped, duplicates, reordering,
//     delays, stale replays and both documented dagType codes: every
//     verdict right, one DAG per run.
func TestOpenEvents(t *testing.T) {
	t.Parallel()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	require.NoError(t, err)
	pubFile := filepath.Join(t.TempDir(), "eventbridge.pem")
	require.NoError(t, os.WriteFile(pubFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o600))

	listen := net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
	target := "http://" + listen + "/dataworks"
	s := newStackWith(t, startTemporal(t), func(o *emulator.Options) {
		o.Definition.Projects[0].Flows = append(o.Definition.Projects[0].Flows, eventsFlow())
		o.Events = emulator.EventOptions{
			URL: target,
			Signer: func(now func() time.Time) (emulator.EventSigner, error) {
				return &bothVersions{
					v1: &openevent.Signer{Key: key, CertURL: eventCertURL, Version: openevent.V1, Now: now},
					v2: &openevent.Signer{Key: key, CertURL: eventCertURL, Version: openevent.V2, Now: now},
				}, nil
			},
			// EventBridge's back-off waits 10 to 20 s; the test's runs are short.
			RetryWait: 500 * time.Millisecond, RetryWaitMax: time.Second,
		}
	})
	w := s.startWorker(t, workflows.TaskQueue, "MANUALDAG_EVENTS_LISTEN="+listen, "MANUALDAG_EVENTS_PUBLIC_KEY="+pubFile)
	forger := &eventPoster{url: target, signer: &openevent.Signer{Key: key, CertURL: eventCertURL, Version: openevent.V2}}

	// Faults are the whole emulator's: the subtests go one after another.
	t.Run("EventsLead", func(t *testing.T) { testEventsLead(t, s) })
	t.Run("ForgedAndReplayed", func(t *testing.T) { testForgedEvents(t, s, forger) })
	t.Run("LossyDelivery", func(t *testing.T) { testLossyEvents(t, s) })
	if t.Failed() {
		t.Logf("--- worker ---\n%s", w.output())
	}
}

// startEventsRun starts flow for bizdate on the default poll policy (the
// policy events back off from) and returns the workflow id.
func startEventsRun(t *testing.T, s *stack, flow, bizdate string) string {
	t.Helper()
	r := s.starter(t, "run", "--project", project, "--flow", flow, "--bizdate", bizdate, "--list-settle", "2s")
	require.Equal(t, 0, r.Code, "%s", r)
	return workflows.BizdateWorkflowID(project, flow, bizdate)
}

// reportOf waits for the run's report, from its result or its failure.
func reportOf(t *testing.T, s *stack, id string) dag.DagReport {
	t.Helper()
	rep, err := waitReport(s.client, id, 5*time.Minute)
	require.NoError(t, err)
	return rep
}

// waitReport is reportOf for any goroutine: it fails no test.
func waitReport(c client.Client, id string, timeout time.Duration) (dag.DagReport, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var rep dag.DagReport
	if err := c.GetWorkflow(ctx, id, "").Get(ctx, &rep); err != nil {
		var ok bool
		if rep, ok = workflows.ReportFromError(err); !ok {
			return rep, fmt.Errorf("%s: %w", id, err)
		}
	}
	return rep, nil
}

// memoTimings reads the timings a successful run kept in its memo.
func memoTimings(t *testing.T, s *stack, id string) dag.RunTimings {
	t.Helper()
	d, err := s.client.DescribeWorkflow(testContext(t), id, "")
	require.NoError(t, err)
	p := d.RawResponse.GetWorkflowExecutionInfo().GetMemo().GetFields()[activities.MemoTimings]
	require.NotNil(t, p, "no timings memo on %s", id)
	var rt dag.RunTimings
	require.NoError(t, converter.GetDefaultDataConverter().FromPayload(p, &rt))
	return rt
}

func testEventsLead(t *testing.T, s *stack) {
	require.NoError(t, s.emu.SetEventFaults(emulator.EventFaults{}))
	// Events lead a run once 3 earlier runs of its flow received them
	// (workflows.EventTrustRuns): three such runs, as a week of daily runs
	// with OpenEvent on would leave.
	var earlier []seededRun
	for k := range workflows.EventTrustRuns {
		earlier = append(earlier, seededRun{
			in: workflows.RunManualDagInput{ProjectName: project, FlowName: flowEvents, Bizdate: fmt.Sprintf("2020-01-%02d", k+1)},
			rt: dag.RunTimings{Names: []string{"extract", "load"}, Begin: []int32{2, 31}, Finish: []int32{30, 120}, Events: 2},
		})
	}
	seedStandIns(t, s.client, earlier)
	okID, failID := startEventsRun(t, s, flowEvents, "2024-11-01"), startEventsRun(t, s, flowEvents, eventsFailDate)
	ok, failed := reportOf(t, s, okID), reportOf(t, s, failID)

	require.Equal(t, dag.OutcomeSucceeded, ok.Outcome, "%s", ok.Message)
	require.Equal(t, dag.OutcomeFailed, failed.Outcome, "%s", failed.Message)
	assert.Equal(t, []string{"load"}, failed.FailedNodes)
	for _, rep := range []dag.DagReport{ok, failed} {
		info, found := s.emu.DAG(rep.DagID)
		require.True(t, found)
		assert.Equal(t, []int64{rep.DagID}, s.emu.CreatedDAGs(project, flowEvents, info.Bizdate))
		t.Logf("%s %s: DAG ran %v, its end seen %v after it, %d searches",
			info.Bizdate, rep.Outcome, info.FinishedAt.Sub(info.CreatedAt).Round(time.Second), rep.FinishedAt.Sub(info.FinishedAt), rep.Polls)
		// The poll policy alone looks every 18 s or so on a first run of a
		// flow: 7 or more searches for the two minutes. Events lead after
		// the first confirmed one: the looks are the first, the start
		// event's (when the first look saw no node yet), the end event's,
		// and for the failure the blocked grace's second look.
		assert.LessOrEqual(t, rep.Polls, 5, "%s: the DAG's events, not the poll policy, cause the looks", info.Bizdate)
	}
	rt := memoTimings(t, s, okID)
	assert.GreaterOrEqual(t, rt.Events, int32(2), "the DAG's start and end events reached the run")
	assert.Zero(t, rt.EventMiss, "no DAG event missed: the start event, which comes before the run's DAG id is searchable, is retried (503) until it is")
	stats, on := s.emu.EventStats()
	require.True(t, on)
	assert.Zero(t, stats.Rejected, "every push verified: %+v", stats)
	t.Logf("pushes: %d sent, answered %v (503: the event came before its run was searchable, and was retried)", stats.Sent, stats.Statuses)
}

func testForgedEvents(t *testing.T, s *stack, forger *eventPoster) {
	require.NoError(t, s.emu.SetEventFaults(emulator.EventFaults{BadSignatureRate: 1}))
	before, _ := s.emu.EventStats()
	const (
		okDate, brokenDate, slowDate = "2024-11-11", "2024-11-12", "2024-11-13"
	)
	okID, brokenID, slowID := startEventsRun(t, s, flowOK, okDate), startEventsRun(t, s, flowBroken, brokenDate), startEventsRun(t, s, flowSlow, slowDate)
	okDag, brokenDag, slowDag := s.dagFor(t, flowOK, okDate), s.dagFor(t, flowBroken, brokenDate), s.dagFor(t, flowSlow, slowDate)

	// The forger holds the trusted key (the worst case: a misrouted rule,
	// or EventBridge's key in the wrong hands) and announces the verdict
	// DataWorks will not give, every half second for ten seconds.
	answers := map[string]int{}
	var replayed int
	for i := range 20 {
		for _, f := range []struct {
			dagID  int64
			status int
		}{{okDag, 5}, {brokenDag, 6}, {slowDag, 6}} {
			id := fmt.Sprintf("forged-%d-%d", f.dagID, i)
			code, answer := forger.post(t, id, f.dagID, f.status, nil)
			answers[answer]++
			if code == http.StatusOK && answer == "signaled" {
				code, answer = forger.post(t, id, f.dagID, f.status, nil)
				assert.Equal(t, "duplicate", answer, "a replayed id (%d)", code)
				replayed++
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Logf("forged events: %v, %d replayed", answers, replayed)
	require.Positive(t, answers["signaled"], "forgeries reached the runs, so the test proves something: %v", answers)

	code, answer := forger.post(t, "stale-1", slowDag, 6, func(sg *openevent.Signer) { sg.Now = func() time.Time { return time.Now().Add(-2 * time.Minute) } })
	assert.Equal(t, http.StatusUnauthorized, code, answer)
	assert.Contains(t, answer, "stale")
	code, answer = forger.tampered(t, "tampered-1", slowDag)
	assert.Equal(t, http.StatusUnauthorized, code, answer)

	okRep, brokenRep := reportOf(t, s, okID), reportOf(t, s, brokenID)
	assert.Equal(t, dag.OutcomeSucceeded, okRep.Outcome, "%s", okRep.Message)
	assert.Equal(t, dag.OutcomeFailed, brokenRep.Outcome, "%s", brokenRep.Message)
	assert.Equal(t, []string{"dwd_orders_merge"}, brokenRep.FailedNodes)
	assert.Equal(t, enums.WORKFLOW_EXECUTION_STATUS_RUNNING, s.workflowStatus(t, slowID), "a forged final event ends no run whose DAG goes on")
	st, err := s.query(slowID)
	require.NoError(t, err)
	assert.Contains(t, st.Message, "DataWorks events received", "the status says events came")
	require.NoError(t, s.client.CancelWorkflow(testContext(t), slowID, ""))
	slowRep := reportOf(t, s, slowID)
	assert.Equal(t, dag.OutcomeCanceled, slowRep.Outcome, "%s", slowRep.Message)
	for flow, date := range map[string]string{flowOK: okDate, flowBroken: brokenDate, flowSlow: slowDate} {
		assert.Len(t, s.emu.CreatedDAGs(project, flow, date), 1, "%s %s", flow, date)
	}

	after, _ := s.emu.EventStats()
	assert.Positive(t, after.Tampered-before.Tampered)
	assert.Zero(t, after.Delivered-before.Delivered, "no tampered push accepted: %+v", after)
	assert.Equal(t, after.Sent-before.Sent, after.Rejected-before.Rejected, "every tampered push refused (401): %+v", after)
}

func testLossyEvents(t *testing.T, s *stack) {
	require.NoError(t, s.emu.SetEventFaults(emulator.EventFaults{DropRate: 0.3, DuplicateRate: 0.2, ReorderRate: 0.3,
		DelayMax: time.Second, StaleRate: 0.1, DagType: emulator.ChoiceRandom}))
	before, _ := s.emu.EventStats()
	flows := []string{flowOK, flowBroken, flowOK, flowBroken, flowOK, flowBroken}
	ids := make([]string, len(flows))
	for i, flow := range flows {
		ids[i] = startEventsRun(t, s, flow, fmt.Sprintf("2024-11-%02d", 21+i))
	}
	reps, errs := make([]dag.DagReport, len(flows)), make([]error, len(flows))
	var wg sync.WaitGroup
	for i := range flows {
		wg.Add(1)
		go func() {
			defer wg.Done()
			reps[i], errs[i] = waitReport(s.client, ids[i], 5*time.Minute)
		}()
	}
	wg.Wait()
	for i, flow := range flows {
		require.NoError(t, errs[i])
		bizdate := fmt.Sprintf("2024-11-%02d", 21+i)
		want := dag.OutcomeSucceeded
		if flow == flowBroken {
			want = dag.OutcomeFailed
		}
		assert.Equal(t, want, reps[i].Outcome, "%s %s: %s", flow, bizdate, reps[i].Message)
		assert.Equal(t, []int64{reps[i].DagID}, s.emu.CreatedDAGs(project, flow, bizdate))
	}
	after, _ := s.emu.EventStats()
	t.Logf("lossy delivery: %d dropped, %d duplicated, %d reordered, %d stale of %d events",
		after.Dropped-before.Dropped, after.Duplicated-before.Duplicated, after.Reordered-before.Reordered,
		after.Stale-before.Stale, sumCounts(after.Generated)-sumCounts(before.Generated))
	assert.Positive(t, after.Dropped-before.Dropped, "the faults were in force")
}

func sumCounts(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// eventPoster sends DagStatusChanges events of its own to the receiver.
type eventPoster struct {
	url    string
	signer *openevent.Signer
}

func dagEventBody(id string, dagID int64, status int) []byte {
	return fmt.Appendf(nil, `{"id":%q,"source":"acs.dataworks","specversion":"1.0","type":%q,"subject":"acs.dataworks:cn-shanghai:1:dag/%d",`+
		`"time":%q,"datacontenttype":"application/json;charset=utf-8","aliyunaccountid":"1","aliyunregionid":"cn-shanghai",`+
		`"data":{"dagId":%d,"dagName":"forged","dagType":5,"flowId":1,"projectId":1,"projectEnv":"PROD","status":%d}}`,
		id, openevent.TypeDagStatusChanges, dagID, time.Now().UTC().Format(time.RFC3339), dagID, status)
}

// post signs and sends one event; change, when set, alters a copy of the
// signer first. It returns the status and the receiver's one-line answer.
func (p *eventPoster) post(t *testing.T, id string, dagID int64, status int, change func(*openevent.Signer)) (int, string) {
	t.Helper()
	sg := *p.signer
	if change != nil {
		change(&sg)
	}
	body := dagEventBody(id, dagID, status)
	req, err := http.NewRequest(http.MethodPost, p.url, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json;charset=utf-8")
	require.NoError(t, sg.Sign(req, body))
	return send(t, req)
}

// tampered signs an event, then sends another body under that signature.
func (p *eventPoster) tampered(t *testing.T, id string, dagID int64) (int, string) {
	t.Helper()
	body := dagEventBody(id, dagID, 4)
	req, err := http.NewRequest(http.MethodPost, p.url, nil)
	require.NoError(t, err)
	require.NoError(t, p.signer.Sign(req, body))
	forged := dagEventBody(id, dagID, 6)
	req.Body, req.ContentLength = io.NopCloser(bytes.NewReader(forged)), int64(len(forged))
	req.Header.Set("Content-Type", "application/json")
	return send(t, req)
}

func send(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}
