package emulator

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// searchOutcomes makes n search calls and returns each call's outcome.
func searchOutcomes(h *harness, n int) []string {
	h.t.Helper()
	out := make([]string, n)
	for i := range out {
		_, err := h.call2018(h.client, "SearchManualDagNodeInstance", map[string]string{"ProjectName": "p1", "DagId": "1"})
		out[i] = CodeInvalidDagID
		if err != nil {
			out[i] = serverError(h.t, err).ErrorCode()
		}
	}
	return out
}

func TestFaultRatesFollowTheSeed(t *testing.T) {
	faults := map[string]Faults{"SearchManualDagNodeInstance": {ThrottleRate: 0.3, ServerErrorRate: 0.2}}
	run := func(seed int64) []string {
		h := newHarness(t, func(o *Options) { o.Seed, o.Faults = seed, faults })
		return searchOutcomes(h, 200)
	}
	a := run(3)
	assert.Equal(t, a, run(3), "same seed, same faults")
	assert.NotEqual(t, a, run(4))
	count := map[string]int{}
	for _, o := range a {
		count[o]++
	}
	assert.InDelta(t, 60, count[CodeThrottlingUser], 20)
	assert.InDelta(t, 40, count[CodeServiceUnavailable]+count[CodeInternalError], 18)
	assert.Positive(t, count[CodeServiceUnavailable])
	assert.Positive(t, count[CodeInternalError])
}

func TestFaultStatuses(t *testing.T) {
	h := newHarness(t, nil)
	h.emu.SetFaults(AllActions, Faults{ThrottleRate: 1})
	_, err := h.call2018(h.client, "SearchManualDagNodeInstance", map[string]string{"ProjectName": "p1", "DagId": "1"})
	se := serverError(t, err)
	assert.Equal(t, http.StatusBadRequest, se.HttpStatus())
	assert.Equal(t, CodeThrottlingUser, se.ErrorCode())

	h.emu.SetFaults(AllActions, Faults{ServerErrorRate: 1})
	for _, o := range searchOutcomes(h, 10) {
		assert.Contains(t, []string{CodeServiceUnavailable, CodeInternalError}, o)
	}
	h.emu.ClearFaults(AllActions)
	assert.Equal(t, []string{CodeInvalidDagID}, searchOutcomes(h, 1))
}

func TestDropAfterProcessRecordsTheDAG(t *testing.T) {
	h := newHarness(t, func(o *Options) {
		o.Faults = map[string]Faults{"CreateManualDag": {DropRate: 1}}
	})
	_, err := h.call2018(h.client, "CreateManualDag", map[string]string{"ProjectName": "p1", "FlowName": "ok", "Bizdate": testBizday})
	require.Error(t, err, "no answer reaches the caller")
	ids := h.emu.CreatedDAGs("p1", "ok", "2024-03-28")
	require.Len(t, ids, 1, "but the DAG was created")
	assert.Equal(t, 1, h.emu.Stats().Calls["CreateManualDag"].Outcomes[OutcomeDropped])

	// A retry creates a second run: CreateManualDag has no idempotency token.
	h.emu.ClearFaults("CreateManualDag")
	h.create2018("ok", nil)
	assert.Len(t, h.emu.CreatedDAGs("p1", "ok", "2024-03-28"), 2)
}

func TestDailyQuota(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.DailyQuota = 3 })
	out := searchOutcomes(h, 5)
	assert.Equal(t, []string{CodeInvalidDagID, CodeInvalidDagID, CodeInvalidDagID, CodeQuotaExhausted, CodeQuotaExhausted}, out)
	assert.Equal(t, QuotaStats{Limit: 3, Used: 3}, h.emu.Quota())

	h.emu.ResetQuota()
	assert.Equal(t, []string{CodeInvalidDagID}, searchOutcomes(h, 1))

	// The next day (China time) renews the quota.
	searchOutcomes(h, 2)
	assert.Equal(t, []string{CodeQuotaExhausted}, searchOutcomes(h, 1))
	h.clock.Advance(24 * time.Hour)
	assert.Equal(t, []string{CodeInvalidDagID}, searchOutcomes(h, 1))

	// Over HTTP.
	var q QuotaStats
	require.Equal(t, http.StatusOK, h.send(http.MethodPut, "/_emulator/quota", `{"limit":1}`, &q))
	assert.Equal(t, 1, q.Limit)
	assert.Equal(t, []string{CodeQuotaExhausted}, searchOutcomes(h, 1))
	require.Equal(t, http.StatusOK, h.send(http.MethodPost, "/_emulator/quota/reset", "", &q))
	assert.Equal(t, 0, q.Used)
	assert.Equal(t, []string{CodeInvalidDagID}, searchOutcomes(h, 1))
}

func TestLatency(t *testing.T) {
	h := newHarness(t, func(o *Options) {
		o.Faults = map[string]Faults{"SearchManualDagNodeInstance": {Latency: 30 * time.Millisecond}}
	})
	started := time.Now()
	searchOutcomes(h, 1)
	assert.GreaterOrEqual(t, time.Since(started), 30*time.Millisecond)
}

func TestNumericErrorCode(t *testing.T) {
	h := newHarness(t, func(o *Options) {
		o.Faults = map[string]Faults{AllActions: {ThrottleRate: 1, NumericCode: true}}
	})
	status, body := h.postRaw(rawParams("SearchManualDagNodeInstance", version2018,
		map[string]string{"ProjectName": "p1", "DagId": "1"}, time.Now(), "numeric"))
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Equal(t, float64(http.StatusBadRequest), body["Code"])
}

func TestFaultsJSON(t *testing.T) {
	var f Faults
	require.NoError(t, json.Unmarshal([]byte(`{"throttleRate":0.5,"latency":"250ms","dropRate":0.1}`), &f))
	assert.Equal(t, Faults{ThrottleRate: 0.5, Latency: 250 * time.Millisecond, DropRate: 0.1}, f)
	b, err := json.Marshal(f)
	require.NoError(t, err)
	assert.JSONEq(t, `{"throttleRate":0.5,"latency":"250ms","dropRate":0.1}`, string(b))
}

func TestInspectionEndpoints(t *testing.T) {
	h := newHarness(t, nil)
	id := h.create2018("etl", nil)
	h.create2018("ok", nil)
	searchOutcomes(h, 2)
	h.clock.Advance(time.Hour)
	searchOutcomes(h, 1)

	var stats Stats
	require.Equal(t, http.StatusOK, h.getJSON("/_emulator/stats", &stats))
	assert.Equal(t, 5, stats.Total)
	assert.Equal(t, ActionStats{Total: 2, Outcomes: map[string]int{OutcomeOK: 2}}, stats.Calls["CreateManualDag"])
	assert.Equal(t, 3, stats.Calls["SearchManualDagNodeInstance"].Outcomes[CodeInvalidDagID])
	require.Len(t, stats.PerSecond, 2)
	assert.Equal(t, 4, stats.PerSecond[0].Calls)
	assert.Equal(t, 4, stats.PeakPerSecond)

	var dags []DAGInfo
	require.Equal(t, http.StatusOK, h.getJSON("/_emulator/dags?"+url.Values{"project": {"p1"}, "flow": {"etl"}, "bizdate": {"2024-03-28"}}.Encode(), &dags))
	require.Len(t, dags, 1)
	assert.Equal(t, id, dags[0].DagID)
	assert.Equal(t, DAGFailure, dags[0].Status)
	assert.False(t, dags[0].FinishedAt.IsZero())
	assert.Equal(t, []string{"load", "report"}, dags[0].Blocked)

	var one DAGInfo
	require.Equal(t, http.StatusOK, h.getJSON("/_emulator/dags/"+itoa(id), &one))
	assert.Equal(t, "etl", one.Flow)
	assert.Len(t, one.Nodes, 5)
	var e map[string]string
	assert.Equal(t, http.StatusNotFound, h.getJSON("/_emulator/dags/1", &e))

	var faults map[string]Faults
	require.Equal(t, http.StatusOK, h.send(http.MethodPut, "/_emulator/faults/CreateManualDag", `{"throttleRate":1,"latency":"1ms"}`, &faults))
	assert.Equal(t, Faults{ThrottleRate: 1, Latency: time.Millisecond}, h.emu.Faults()["CreateManualDag"])
	assert.Equal(t, http.StatusBadRequest, h.send(http.MethodPut, "/_emulator/faults/CreateManualDag", `{"throttle":1}`, &e))
	faults = nil
	require.Equal(t, http.StatusOK, h.send(http.MethodDelete, "/_emulator/faults/CreateManualDag", "", &faults))
	assert.Empty(t, faults)

	require.Equal(t, http.StatusOK, h.send(http.MethodPost, "/_emulator/stats/reset", "", &stats))
	assert.Zero(t, stats.Total)

	resp, err := http.Get(h.srv.URL + "/_emulator/healthz")
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.JSONEq(t, `{"ok":true}`, string(b))
}
