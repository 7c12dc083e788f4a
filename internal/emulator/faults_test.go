package emulator

import (
	"encoding/json"
	"fmt"
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
	assert.Len(t, dags[0].Nodes, 5)

	var faults map[string]Faults
	require.Equal(t, http.StatusOK, h.send(http.MethodPut, "/_emulator/faults/CreateManualDag", `{"throttleRate":1,"latency":"1ms"}`, &faults))
	assert.Equal(t, Faults{ThrottleRate: 1, Latency: time.Millisecond}, h.emu.Faults()["CreateManualDag"])
	var e map[string]string
	assert.Equal(t, http.StatusBadRequest, h.send(http.MethodPut, "/_emulator/faults/CreateManualDag", `{"throttle":1}`, &e))
	faults = nil
	require.Equal(t, http.StatusOK, h.getJSON("/_emulator/faults", &faults))
	assert.Equal(t, Faults{ThrottleRate: 1, Latency: time.Millisecond}, faults["CreateManualDag"])
}

// rawCall signs and posts one call with a fresh nonce, and returns the
// status and the decoded body, so that a test sees exactly which fields the
// reply carried.
func (h *harness) rawCall(action, version string, business map[string]string) (int, map[string]any) {
	h.t.Helper()
	h.nonce++
	return h.postRaw(rawParams(action, version, business, time.Now(), fmt.Sprintf("raw-%d", h.nonce)))
}

func (h *harness) rawSearch(version string, dagID int64) (int, map[string]any) {
	h.t.Helper()
	if version == version2020 {
		return h.rawCall("GetManualDagInstances", version2020, map[string]string{"ProjectEnv": "PROD", "ProjectName": "p1", "DagId": itoa(dagID)})
	}
	return h.rawCall("SearchManualDagNodeInstance", version2018, map[string]string{"ProjectName": "p1", "DagId": itoa(dagID)})
}

// listed is the number of node instances a raw search reply lists, and
// whether the reply carried a list at all.
func listed(t *testing.T, version string, body map[string]any) (int, bool) {
	t.Helper()
	var list any
	var ok bool
	if version == version2020 {
		list, ok = body["Instances"]
	} else if data, has := body["Data"]; has {
		list, ok = data.(map[string]any)["NodeInsInfo"]
	}
	if !ok {
		return 0, false
	}
	return len(list.([]any)), true
}

// TestEmptyReplies: the next N searches of one DAG answer success with no
// list, in both versions and both forms, then the DAG lists again; another
// DAG is unaffected, and the count is shown as it is used up.
func TestEmptyReplies(t *testing.T) {
	for _, version := range []string{version2018, version2020} {
		for _, form := range []string{"", EmptyFormEmpty} {
			t.Run(version+"/"+form, func(t *testing.T) {
				h := newHarness(t, nil)
				id, other := h.create2018("ok", nil), h.create2018("ok", nil)
				h.clock.Advance(time.Second)
				body := fmt.Sprintf(`{"emptyReplies":1,"dagId":%d,"emptyReplyForm":%q}`, id, form)
				require.Equal(t, http.StatusOK, h.send(http.MethodPut, "/_emulator/faults/"+AllActions, body, nil))

				status, reply := h.rawSearch(version, other)
				n, _ := listed(t, version, reply)
				require.Equal(t, http.StatusOK, status)
				assert.Equal(t, 2, n, "another DAG lists as usual")

				status, reply = h.rawSearch(version, id)
				require.Equal(t, http.StatusOK, status)
				assert.Equal(t, true, reply["Success"])
				n, has := listed(t, version, reply)
				assert.Zero(t, n, "the empty reply lists nothing")
				assert.Equal(t, form == EmptyFormEmpty, has, "the list is left out unless the form is %q: %v", EmptyFormEmpty, reply)
				assert.Zero(t, h.emu.Faults()[AllActions].EmptyReplies, "used up")

				_, reply = h.rawSearch(version, id)
				n, _ = listed(t, version, reply)
				assert.Equal(t, 2, n, "exactly one reply was empty")
				action := "SearchManualDagNodeInstance"
				if version == version2020 {
					action = "GetManualDagInstances"
				}
				assert.Equal(t, 1, h.emu.Stats().Calls[action].Outcomes[OutcomeEmpty])
			})
		}
	}
}

// TestSearchBusinessErrors: HTTP 200 Success:false with an undocumented
// code, counted or for a window of the emulator clock.
func TestSearchBusinessErrors(t *testing.T) {
	for _, version := range []string{version2018, version2020} {
		t.Run(version+"/counted", func(t *testing.T) {
			h := newHarness(t, nil)
			id := h.create2018("ok", nil)
			h.clock.Advance(time.Second)
			h.emu.SetFaults(AllActions, Faults{BusinessErrors: 2})
			for range 2 {
				status, reply := h.rawSearch(version, id)
				require.Equal(t, http.StatusOK, status)
				assert.Equal(t, false, reply["Success"])
				if version == version2020 {
					assert.Equal(t, DefaultBusinessErrorCode, reply["ErrorCode"])
					assert.Equal(t, float64(200), reply["HttpStatusCode"])
				} else {
					assert.Equal(t, DefaultBusinessErrorCode, reply["ErrCode"])
				}
				_, has := listed(t, version, reply)
				assert.False(t, has)
			}
			_, reply := h.rawSearch(version, id)
			assert.Equal(t, true, reply["Success"], "the third search succeeds: %v", reply)
		})
		t.Run(version+"/window", func(t *testing.T) {
			h := newHarness(t, nil)
			id := h.create2018("ok", nil)
			require.Equal(t, http.StatusOK, h.send(http.MethodPut, "/_emulator/faults/"+AllActions,
				`{"businessErrorFor":"30s","businessErrorCode":"Some.Undocumented","businessErrorStatus":500}`, nil))
			for range 3 {
				_, reply := h.rawSearch(version, id)
				assert.Equal(t, false, reply["Success"])
				h.clock.Advance(10 * time.Second)
			}
			_, reply := h.rawSearch(version, id)
			assert.Equal(t, true, reply["Success"], "the window closed after 30s: %v", reply)
			if version == version2020 {
				h.emu.SetFaults(AllActions, Faults{BusinessErrorFor: time.Minute, BusinessErrorStatus: 500, BusinessErrorCode: "X"})
				_, reply = h.rawSearch(version, id)
				assert.Equal(t, float64(500), reply["HttpStatusCode"], "a 500 inside a 200")
				assert.Equal(t, "X", reply["ErrorCode"])
			}
		})
	}
}

// TestCreateBusinessErrorAfterProcessing: the DAG run is created and runs,
// the reply says it failed with a code DataWorks does not document.
func TestCreateBusinessErrorAfterProcessing(t *testing.T) {
	for _, tc := range []struct {
		version string
		faults  Faults
	}{
		{version2018, Faults{BusinessErrors: 1, BusinessErrorAfterProcessing: true}},
		{version2020, Faults{BusinessErrors: 1, BusinessErrorAfterProcessing: true}},
		{version2020, Faults{BusinessErrors: 1, BusinessErrorAfterProcessing: true, BusinessErrorStatus: 500, BusinessErrorCode: "InternalError.Unexpected"}},
	} {
		t.Run(fmt.Sprintf("%s/%d", tc.version, tc.faults.BusinessErrorStatus), func(t *testing.T) {
			h := newHarness(t, nil)
			h.emu.SetFaults("CreateManualDag", tc.faults)
			params := map[string]string{"ProjectName": "p1", "FlowName": "ok", "Bizdate": testBizday}
			if tc.version == version2020 {
				params = map[string]string{"ProjectEnv": "PROD", "ProjectName": "p1", "FlowName": "ok", "BizDate": testBizday}
			}
			status, reply := h.rawCall("CreateManualDag", tc.version, params)
			require.Equal(t, http.StatusOK, status)
			if tc.version == version2020 {
				assert.Equal(t, false, reply["Success"])
				assert.Equal(t, tc.faults.businessCode(), reply["ErrorCode"])
				assert.Equal(t, float64(tc.faults.businessStatus()), reply["HttpStatusCode"])
				assert.NotContains(t, reply, "DagId")
			} else {
				assert.Equal(t, DefaultBusinessErrorCode, reply["ReturnCode"])
				assert.NotContains(t, reply, "ReturnValue")
			}
			ids := h.emu.CreatedDAGs("p1", "ok", "2024-03-28")
			require.Len(t, ids, 1, "the create was processed")
			h.clock.Advance(time.Hour)
			info, _ := h.emu.DAG(ids[0])
			assert.Equal(t, DAGSuccess, info.Status, "and its DAG runs")

			// Without AfterProcessing the error answers instead: no DAG.
			f := tc.faults
			f.BusinessErrorAfterProcessing = false
			h.emu.SetFaults("CreateManualDag", f)
			status, _ = h.rawCall("CreateManualDag", tc.version, params)
			require.Equal(t, http.StatusOK, status)
			assert.Len(t, h.emu.CreatedDAGs("p1", "ok", "2024-03-28"), 1)
		})
	}
}

func TestFaultsJSONValidation(t *testing.T) {
	var f Faults
	require.NoError(t, json.Unmarshal([]byte(`{"emptyReplies":1,"emptyReplyForm":"empty","businessErrors":2,"businessErrorFor":"1m",`+
		`"businessErrorCode":"X","businessErrorStatus":500,"businessErrorAfterProcessing":true,"dropReplies":3,`+
		`"createFailures":4,"createFailureMessage":"Y","dagId":7}`), &f))
	want := Faults{EmptyReplies: 1, EmptyReplyForm: EmptyFormEmpty, BusinessErrors: 2, BusinessErrorFor: time.Minute,
		BusinessErrorCode: "X", BusinessErrorStatus: 500, BusinessErrorAfterProcessing: true, DropReplies: 3,
		CreateFailures: 4, CreateFailureMessage: "Y", DagID: 7}
	assert.Equal(t, want, f)
	b, err := json.Marshal(f)
	require.NoError(t, err)
	var back Faults
	require.NoError(t, json.Unmarshal(b, &back))
	assert.Equal(t, want, back)
	for _, bad := range []string{`{"emptyReplies":-1}`, `{"emptyReplyForm":"none"}`, `{"businessErrorStatus":7}`, `{"businessErrorFor":"-1s"}`,
		`{"dropReplies":-1}`, `{"createFailures":-1}`} {
		assert.Error(t, json.Unmarshal([]byte(bad), &f), bad)
	}
	def, err := ParseDefinition([]byte(testDefinition))
	require.NoError(t, err)
	_, err = New(Options{Definition: def, Credentials: map[string]Key{"k": {Secret: "s"}}, Faults: map[string]Faults{"*": {EmptyReplyForm: "x"}}})
	assert.ErrorContains(t, err, "emptyReplyForm")
}
