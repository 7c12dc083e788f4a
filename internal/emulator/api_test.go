package emulator

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	dataworks "github.com/aliyun/alibaba-cloud-sdk-go/services/dataworks-public"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCreateManualDag2018(t *testing.T) {
	h := newHarness(t, nil)
	t.Run("ids increase", func(t *testing.T) {
		a, b := h.create2018("ok", nil), h.create2018("ok", nil)
		assert.GreaterOrEqual(t, a, int64(firstDagID))
		assert.Greater(t, b, a)
		assert.Equal(t, []int64{a, b}, h.emu.CreatedDAGs("p1", "ok", "2024-03-28"))
	})
	t.Run("params in ParaValue", func(t *testing.T) {
		id := h.create2018("etl", map[string]string{
			"DagPara":  "k1=v1 k2=v2",
			"NodePara": `{"12":"test=$[yyyy-mm-dd] x=1"}`,
		})
		got := map[string]string{}
		for _, n := range h.search2018(id).Data.NodeInsInfo {
			got[n.NodeName] = n.ParaValue
		}
		assert.Equal(t, "k1=v1 k2=v2", got["extract"])
		assert.Equal(t, "k1=v1 k2=v2 test=$[yyyy-mm-dd] x=1", got["transform_a"])
	})
	t.Run("bad Bizdate is a 200 with ReturnCode 600011", func(t *testing.T) {
		for _, bad := range []string{"2024-03-28", "2024-03-28 01:00:00", "20240328", "2024-02-30 00:00:00"} {
			body, err := h.call2018(h.client, "CreateManualDag", map[string]string{"ProjectName": "p1", "FlowName": "ok", "Bizdate": bad})
			require.NoError(t, err, bad)
			var r createReply2018
			require.NoError(t, json.Unmarshal([]byte(body), &r))
			assert.Equal(t, CodeBizdateFormat, r.ReturnCode, bad)
			assert.Zero(t, r.ReturnValue)
		}
	})
	tests := []struct {
		name  string
		query map[string]string
		code  string
	}{
		{"NodePara not JSON", map[string]string{"ProjectName": "p1", "FlowName": "ok", "Bizdate": testBizday, "NodePara": "12=x"}, CodeInvalidParameter},
		{"unknown project", map[string]string{"ProjectName": "nope", "FlowName": "ok", "Bizdate": testBizday}, CodeProjectNotExist},
		{"unknown flow", map[string]string{"ProjectName": "p1", "FlowName": "nope", "Bizdate": testBizday}, CodeFlowNotExist},
		{"missing FlowName", map[string]string{"ProjectName": "p1", "Bizdate": testBizday}, CodeMissingParameter},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(h.emu.DAGs())
			_, err := h.call2018(h.client, "CreateManualDag", tt.query)
			se := serverError(t, err)
			assert.Equal(t, http.StatusBadRequest, se.HttpStatus())
			assert.Equal(t, tt.code, se.ErrorCode())
			assert.Len(t, h.emu.DAGs(), before, "nothing created")
		})
	}
	t.Run("business params in the body work too", func(t *testing.T) {
		req := requests.NewCommonRequest()
		req.Method, req.Product, req.Version, req.ApiName = requests.POST, "dataworks-public", version2018, "CreateManualDag"
		req.Domain, req.Scheme = h.host, "http"
		req.FormParams = map[string]string{"ProjectName": "p1", "FlowName": "ok", "Bizdate": testBizday}
		resp, err := h.client.ProcessCommonRequest(req)
		require.NoError(t, err)
		assert.Contains(t, resp.GetHttpContentString(), `"ReturnCode":"0"`)
	})
}

func TestSearchUnknownDag2018(t *testing.T) {
	h := newHarness(t, nil)
	id := h.create2018("ok", nil)
	for _, q := range []map[string]string{
		{"ProjectName": "p1", "DagId": "123"},
		{"ProjectName": "other", "DagId": itoa(id)},
		{"ProjectName": "p1", "DagId": "abc"},
	} {
		body, err := h.call2018(h.client, "SearchManualDagNodeInstance", q)
		require.NoError(t, err, "a 200, not an SDK error")
		var r liveSearch
		require.NoError(t, json.Unmarshal([]byte(body), &r))
		assert.Equal(t, CodeInvalidDagID, r.ErrCode)
		assert.False(t, r.Success)
	}
	assert.Equal(t, 3, h.emu.Stats().Calls["SearchManualDagNodeInstance"].Outcomes[CodeInvalidDagID])
}

func TestReferenceFormat(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.ReferenceFormat = true })
	id := h.create2018("ok", map[string]string{"DagPara": "a=b"})
	h.clock.Advance(2 * time.Minute)
	body, err := h.call2018(h.client, "SearchManualDagNodeInstance", map[string]string{"ProjectName": "p1", "DagId": itoa(id)})
	require.NoError(t, err)
	var r struct {
		ErrCode string
		Success bool
		Data    []map[string]any `json:"data"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &r), body)
	assert.NotContains(t, body, "NodeInsInfo")
	require.Len(t, r.Data, 2)
	first := r.Data[0]
	assert.Equal(t, "one", first["nodeName"])
	assert.Equal(t, "2024-03-28 00:00:00", first["bizdate"])
	assert.Regexp(t, `^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$`, first["createTime"])
	assert.Regexp(t, `^\d{13}$`, first["finishTime"])
	assert.Equal(t, float64(StatusSuccess), first["status"])
	assert.Equal(t, "a=b", first["paraValue"])
	assert.NotContains(t, r.Data[1], "finishTime")
}

func TestNoPermissionKey(t *testing.T) {
	h := newHarness(t, nil)
	_, err := h.call2018(h.sdkClient("denied-key", "denied-secret"), "SearchManualDagNodeInstance", map[string]string{"ProjectName": "p1", "DagId": "1"})
	se := serverError(t, err)
	assert.Equal(t, http.StatusInternalServerError, se.HttpStatus())
	assert.Equal(t, CodeNoPermission, se.ErrorCode())
}

func TestUnknownAction(t *testing.T) {
	h := newHarness(t, nil)
	_, err := h.call2018(h.client, "DeleteEverything", nil)
	se := serverError(t, err)
	assert.Equal(t, http.StatusNotFound, se.HttpStatus())
	assert.Equal(t, "InvalidAction.NotFound", se.ErrorCode())
}

func (h *harness) create2020(flow string, tweak func(*dataworks.CreateManualDagRequest)) int64 {
	h.t.Helper()
	req := dataworks.CreateCreateManualDagRequest()
	h.prepare2020(req)
	req.ProjectEnv, req.ProjectName, req.FlowName, req.BizDate = "PROD", "p1", flow, testBizday
	if tweak != nil {
		tweak(req)
	}
	resp, err := h.dw.CreateManualDag(req)
	require.NoError(h.t, err)
	require.NotZero(h.t, resp.DagId)
	require.NotEmpty(h.t, resp.RequestId)
	return resp.DagId
}

func (h *harness) instances2020(dagID int64) map[string]dataworks.InstancesItem {
	h.t.Helper()
	req := dataworks.CreateGetManualDagInstancesRequest()
	h.prepare2020(req)
	req.ProjectEnv, req.ProjectName, req.DagId = "PROD", "p1", itoa(dagID)
	resp, err := h.dw.GetManualDagInstances(req)
	require.NoError(h.t, err)
	out := map[string]dataworks.InstancesItem{}
	for _, it := range resp.Instances {
		out[it.NodeName] = it
	}
	return out
}

func TestAPI2020(t *testing.T) {
	h := newHarness(t, nil)
	start := h.clock.Now()
	id := h.create2020("etl", func(r *dataworks.CreateManualDagRequest) {
		r.DagParameters = `{"k1":"v1"}`
		r.NodeParameters = `{"13":"x=1"}`
	})

	h.clock.Set(start.Add(140 * time.Second))
	inst := h.instances2020(id)
	require.Len(t, inst, 5)
	b := inst["transform_b"]
	assert.Equal(t, "FAILURE", b.Status)
	assert.Equal(t, "boom: bad column", b.ErrorMessage)
	assert.Equal(t, "k1=v1 x=1", b.ParamValues)
	assert.Equal(t, int64(13), b.NodeId)
	assert.Equal(t, id, b.DagId)
	assert.Equal(t, start.Add(135*time.Second).UnixMilli(), b.FinishTime)
	assert.NotZero(t, b.InstanceHistoryId)
	assert.Equal(t, "RUNNING", inst["transform_a"].Status)
	assert.Equal(t, "NOT_RUN", inst["load"].Status)
	assert.Zero(t, inst["load"].BeginWaitTimeTime)
	assert.Empty(t, inst["transform_a"].ErrorMessage)

	t.Run("list is the same", func(t *testing.T) {
		req := dataworks.CreateListManualDagInstancesRequest()
		h.prepare2020(req)
		req.ProjectEnv, req.ProjectName, req.DagId = "PROD", "p1", itoa(id)
		resp, err := h.dw.ListManualDagInstances(req)
		require.NoError(t, err)
		assert.Len(t, resp.Instances, 5)
	})

	t.Run("log of a failure", func(t *testing.T) {
		req := dataworks.CreateGetInstanceLogRequest()
		h.prepare2020(req)
		req.ProjectEnv, req.InstanceId = "PROD", requests.NewInteger64(b.InstanceId)
		resp, err := h.dw.GetInstanceLog(req)
		require.NoError(t, err)
		assert.True(t, resp.Success)
		assert.Contains(t, resp.Data, "transform_b")
		assert.Contains(t, resp.Data, "ERROR boom: bad column")
		assert.LessOrEqual(t, strings.Count(resp.Data, "\n"), maxLogLines)
	})

	t.Run("restart a running instance is refused", func(t *testing.T) {
		req := dataworks.CreateRestartInstanceRequest()
		h.prepare2020(req)
		req.ProjectEnv, req.InstanceId = "PROD", requests.NewInteger64(inst["transform_a"].InstanceId)
		_, err := h.dw.RestartInstance(req)
		se := serverError(t, err)
		assert.Equal(t, CodeInstanceStatus, se.ErrorCode())
	})

	t.Run("restart the failure unblocks", func(t *testing.T) {
		req := dataworks.CreateRestartInstanceRequest()
		h.prepare2020(req)
		req.ProjectEnv, req.InstanceId = "PROD", requests.NewInteger64(b.InstanceId)
		resp, err := h.dw.RestartInstance(req)
		require.NoError(t, err)
		assert.True(t, resp.Success)
		assert.True(t, resp.Data)
		h.clock.Set(start.Add(time.Hour))
		for name, it := range h.instances2020(id) {
			assert.Equal(t, "SUCCESS", it.Status, name)
		}
		assert.NotEqual(t, b.InstanceHistoryId, h.instances2020(id)["transform_b"].InstanceHistoryId)
	})

	t.Run("unknown dag", func(t *testing.T) {
		req := dataworks.CreateGetManualDagInstancesRequest()
		h.prepare2020(req)
		req.ProjectEnv, req.ProjectName, req.DagId = "PROD", "p1", "42"
		_, err := h.dw.GetManualDagInstances(req)
		assert.Equal(t, CodeDagNotExist, serverError(t, err).ErrorCode())
	})

	t.Run("ProjectEnv is required", func(t *testing.T) {
		req := dataworks.CreateGetManualDagInstancesRequest()
		h.prepare2020(req)
		req.ProjectName, req.DagId = "p1", itoa(id)
		_, err := h.dw.GetManualDagInstances(req)
		assert.Equal(t, CodeMissingParameter, serverError(t, err).ErrorCode())
	})
}

func TestStopInstance2020(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.StopDelay = 3 * time.Second })
	start := h.clock.Now()
	id := h.create2020("ok", nil)
	h.clock.Set(start.Add(20 * time.Second))
	one := h.instances2020(id)["one"]
	require.Equal(t, "RUNNING", one.Status)

	stop := func(instanceID int64) {
		t.Helper()
		req := dataworks.CreateStopInstanceRequest()
		h.prepare2020(req)
		req.ProjectEnv, req.InstanceId = "PROD", requests.NewInteger64(instanceID)
		resp, err := h.dw.StopInstance(req)
		require.NoError(t, err)
		assert.True(t, resp.Success)
		assert.True(t, resp.Data)
		assert.Equal(t, 200, resp.HttpStatusCode)
	}
	stop(one.InstanceId)
	assert.Equal(t, "RUNNING", h.instances2020(id)["one"].Status, "stopping is asynchronous")
	h.clock.Advance(3 * time.Second)
	inst := h.instances2020(id)
	assert.Equal(t, "FAILURE", inst["one"].Status)
	assert.Equal(t, stoppedMessage, inst["one"].ErrorMessage)
	assert.Equal(t, "NOT_RUN", inst["two"].Status)

	stop(one.InstanceId) // final: still a success
	info, _ := h.emu.DAG(id)
	assert.Equal(t, DAGFailure, info.Status)
	assert.Equal(t, []string{"two"}, info.Blocked)

	// A stopped NOT_RUN node fails without running, even once unblocked.
	stop(inst["two"].InstanceId)
	req := dataworks.CreateRestartInstanceRequest()
	h.prepare2020(req)
	req.ProjectEnv, req.InstanceId = "PROD", requests.NewInteger64(one.InstanceId)
	_, err := h.dw.RestartInstance(req)
	require.NoError(t, err)
	h.clock.Advance(time.Hour)
	inst = h.instances2020(id)
	assert.Equal(t, "SUCCESS", inst["one"].Status)
	assert.Equal(t, "FAILURE", inst["two"].Status)
	assert.Zero(t, inst["two"].BeginRunningTime)
}

func TestRunManualDagNodesDryRunsExcluded(t *testing.T) {
	h := newHarness(t, nil)
	req := dataworks.CreateRunManualDagNodesRequest()
	h.prepare2020(req)
	req.ProjectEnv, req.ProjectName, req.FlowName, req.BizDate = "PROD", "p1", "etl", testBizday
	req.ExcludeNodeIds = "13"
	resp, err := h.dw.RunManualDagNodes(req)
	require.NoError(t, err)
	h.clock.Advance(time.Hour)
	info, ok := h.emu.DAG(resp.DagId)
	require.True(t, ok)
	assert.Equal(t, DAGSuccess, info.Status, "the failing node was excluded, so it dry-ran")
	assert.Equal(t, "RunManualDagNodes", info.Action)
	assert.Equal(t, version2020, info.APIVersion)

	req = dataworks.CreateRunManualDagNodesRequest()
	h.prepare2020(req)
	req.ProjectEnv, req.ProjectName, req.FlowName, req.BizDate = "PROD", "p1", "etl", "2024-03-28"
	_, err = h.dw.RunManualDagNodes(req)
	assert.Equal(t, CodeInvalidParameter, serverError(t, err).ErrorCode())
}

func TestConcurrentClients(t *testing.T) {
	h := newHarness(t, func(o *Options) {
		o.Faults = map[string]Faults{AllActions: {ThrottleRate: 0.1}}
	})
	const workers, calls = 6, 15
	errs := make(chan error, workers)
	for range workers {
		go func() {
			c := h.sdkClient(testKeyID, testSecret) // one client per goroutine: the SDK client is not safe to share
			for range calls {
				body, err := h.call2018(c, "CreateManualDag", map[string]string{"ProjectName": "p1", "FlowName": "ok", "Bizdate": testBizday})
				if err != nil {
					continue // injected throttling
				}
				var r createReply2018
				if err := json.Unmarshal([]byte(body), &r); err != nil {
					errs <- err
					return
				}
				if _, err := h.call2018(c, "SearchManualDagNodeInstance", map[string]string{"ProjectName": "p1", "DagId": itoa(r.ReturnValue)}); err != nil && !strings.Contains(err.Error(), CodeThrottlingUser) {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range workers {
		require.NoError(t, <-errs)
	}
	stats := h.emu.Stats()
	created := stats.Calls["CreateManualDag"].Outcomes[OutcomeOK]
	assert.Len(t, h.emu.DAGs(), created)
	assert.Equal(t, workers*calls, stats.Calls["CreateManualDag"].Total)
}
