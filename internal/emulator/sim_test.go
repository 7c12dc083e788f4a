package emulator

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// nodeStatuses maps node name to status as inspection sees it.
func nodeStatuses(d DAGInfo) map[string]Status {
	out := map[string]Status{}
	for _, n := range d.Nodes {
		out[n.Name] = n.Status
	}
	return out
}

// TestStateMachineOverTime walks the etl flow (see testDefinition) on the
// fake clock: extract ends at 70s; transform_a runs 70s..200s;
// transform_b fails at 135s; load and report stay NOT_RUN for good.
func TestStateMachineOverTime(t *testing.T) {
	h := newHarness(t, nil)
	id := h.create2018("etl", nil)
	steps := []struct {
		at   time.Duration
		want map[string]int
	}{
		{0, map[string]int{"extract": 2, "transform_a": 1, "transform_b": 1, "load": 1, "report": 1}},
		{1 * time.Second, map[string]int{"extract": 3}},
		{5 * time.Second, map[string]int{"extract": 4}},
		{65 * time.Second, map[string]int{"extract": 7}},
		{70 * time.Second, map[string]int{"extract": 6, "transform_a": 2, "transform_b": 2}},
		{80 * time.Second, map[string]int{"transform_a": 4, "transform_b": 4}},
		{135 * time.Second, map[string]int{"transform_a": 4, "transform_b": 5, "load": 1}},
		{200 * time.Second, map[string]int{"transform_a": 6, "transform_b": 5, "load": 1, "report": 1}},
		{48 * time.Hour, map[string]int{"extract": 6, "transform_a": 6, "transform_b": 5, "load": 1, "report": 1}},
	}
	start := h.clock.Now()
	for _, s := range steps {
		h.clock.Set(start.Add(s.at))
		got := h.statuses2018(id)
		for name, want := range s.want {
			assert.Equal(t, want, got[name], "%s at %v", name, s.at)
		}
	}
	info, ok := h.emu.DAG(id)
	require.True(t, ok)
	assert.Equal(t, DAGFailure, info.Status)
	assert.Equal(t, start.Add(200*time.Second), info.FinishedAt, "finished when the last runnable node ended")
	assert.Equal(t, []string{"load", "report"}, info.Blocked)
}

func TestLiveFormatTimesAndOmittedFields(t *testing.T) {
	h := newHarness(t, nil)
	id := h.create2018("ok", nil)
	start := h.clock.Now()
	h.clock.Advance(30 * time.Second)
	nodes := h.search2018(id).Data.NodeInsInfo
	require.Len(t, nodes, 2)
	one, two := nodes[0], nodes[1]
	assert.Equal(t, "one", one.NodeName)
	assert.Equal(t, id, one.DagID)
	assert.Equal(t, dagTypeManual, one.DagType)
	assert.Equal(t, start.UnixMilli(), one.BeginWaitTimeTime)
	assert.Equal(t, start.Add(5*time.Second).UnixMilli(), one.BeginRunningTime)
	assert.Zero(t, one.FinishTime, "no FinishTime before the node ends")
	assert.Zero(t, two.BeginWaitTimeTime)
	// Bizdate 2024-03-28 is midnight China time.
	assert.Equal(t, int64(1711555200000), one.Bizdate)
	assert.Greater(t, two.InstanceID, one.InstanceID)

	body, err := h.call2018(h.client, "SearchManualDagNodeInstance", map[string]string{"ProjectName": "p1", "DagId": itoa(id)})
	require.NoError(t, err)
	assert.NotContains(t, body, "FinishTime")
	assert.Contains(t, body, `"NodeInsInfo"`)
}

func TestRestartUnblocksDownstream(t *testing.T) {
	h := newHarness(t, nil)
	id := h.create2018("etl", nil)
	start := h.clock.Now()
	h.clock.Set(start.Add(300 * time.Second))
	info, _ := h.emu.DAG(id)
	require.Equal(t, DAGFailure, info.Status)
	var failed int64
	for _, n := range info.Nodes {
		if n.Name == "transform_b" {
			failed = n.InstanceID
		}
	}
	require.Nil(t, h.emu.restartInstance(failed, h.clock.Now()))
	info, _ = h.emu.DAG(id)
	assert.Equal(t, DAGRunning, info.Status)
	assert.Empty(t, info.Blocked)
	assert.Equal(t, StatusWaitTime, nodeStatuses(info)["transform_b"])

	// transform_b reruns 300s..370s and succeeds; load 370..440s; report 440..510s.
	h.clock.Set(start.Add(439 * time.Second))
	assert.Equal(t, 7, h.statuses2018(id)["load"])
	h.clock.Set(start.Add(600 * time.Second))
	info, _ = h.emu.DAG(id)
	assert.Equal(t, DAGSuccess, info.Status)
	assert.Equal(t, start.Add(510*time.Second), info.FinishedAt)
	for _, n := range info.Nodes {
		if n.Name == "transform_b" {
			assert.Equal(t, 2, n.Runs)
		}
	}
}

func TestFailAttemptsAlwaysFailing(t *testing.T) {
	def, err := ParseDefinition([]byte(`projects: [{name: p, flows: [{name: f, nodes: [{id: 1, name: a, outcome: failure, failAttempts: 99}]}]}]`))
	require.NoError(t, err)
	clock := &testClock{now: time.Unix(1700000000, 0)}
	emu, err := New(Options{Definition: def, Credentials: map[string]Key{"k": {Secret: "s"}}, Now: clock.Now})
	require.NoError(t, err)
	d, aerr := emu.createDAG(createSpec{project: "p", flow: "f"}, clock.Now())
	require.Nil(t, aerr)
	for range 3 {
		clock.Advance(time.Hour)
		require.Nil(t, emu.restartInstance(d.nodes[0].instanceID, clock.Now()))
		clock.Advance(time.Hour)
		info, _ := emu.DAG(d.id)
		assert.Equal(t, StatusFailure, info.Nodes[0].Status)
	}
}

// A node's byBizdate entry changes its run time and outcome in the DAG
// runs of that bizdate only.
func TestByBizdate(t *testing.T) {
	def, err := ParseDefinition([]byte(`projects: [{name: p, flows: [{name: f, nodes: [{id: 1, name: a, duration: 10m, byBizdate: {"2024-06-02": {duration: 1m, outcome: failure}}}]}]}]`))
	require.NoError(t, err)
	clock := &testClock{now: time.Unix(1700000000, 0)}
	emu, err := New(Options{Definition: def, Credentials: map[string]Key{"k": {Secret: "s"}}, Now: clock.Now})
	require.NoError(t, err)
	usual, aerr := emu.createDAG(createSpec{project: "p", flow: "f", bizdate: time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)}, clock.Now())
	require.Nil(t, aerr)
	other, aerr := emu.createDAG(createSpec{project: "p", flow: "f", bizdate: time.Date(2024, 6, 2, 0, 0, 0, 0, time.UTC)}, clock.Now())
	require.Nil(t, aerr)
	clock.Advance(5 * time.Minute)
	info, _ := emu.DAG(usual.id)
	assert.Equal(t, DAGRunning, info.Status)
	info, _ = emu.DAG(other.id)
	assert.Equal(t, DAGFailure, info.Status, "the 2024-06-02 run fails after a minute")
	clock.Advance(10 * time.Minute)
	info, _ = emu.DAG(usual.id)
	assert.Equal(t, DAGSuccess, info.Status)
}

func TestFlakyOutcomesFollowTheSeed(t *testing.T) {
	outcomes := func(seed int64) []Status {
		def, err := ParseDefinition([]byte(testDefinition))
		require.NoError(t, err)
		clock := &testClock{now: time.Unix(1700000000, 0)}
		emu, err := New(Options{Definition: def, Credentials: map[string]Key{"k": {Secret: "s"}}, Now: clock.Now, Seed: seed})
		require.NoError(t, err)
		var out []Status
		for range 5 {
			d, aerr := emu.createDAG(createSpec{project: "p1", flow: "flaky"}, clock.Now())
			require.Nil(t, aerr)
			clock.Advance(time.Hour)
			info, _ := emu.DAG(d.id)
			for _, n := range info.Nodes {
				out = append(out, n.Status)
			}
		}
		return out
	}
	a, b := outcomes(7), outcomes(7)
	assert.Equal(t, a, b)
	assert.Contains(t, a, StatusFailure)
	assert.Contains(t, a, StatusSuccess)
	assert.NotEqual(t, a, outcomes(8))
}

func TestEmptyThenPartialList(t *testing.T) {
	h := newHarness(t, func(o *Options) {
		o.EmptyListFor = 2 * time.Second
		o.PartialListFor = 2 * time.Second
	})
	id := h.create2018("etl", nil)
	r := h.search2018(id)
	assert.True(t, r.Success)
	assert.Empty(t, r.Data.NodeInsInfo)
	h.clock.Advance(2 * time.Second)
	assert.Len(t, h.search2018(id).Data.NodeInsInfo, 3)
	h.clock.Advance(2 * time.Second)
	assert.Len(t, h.search2018(id).Data.NodeInsInfo, 5)
}

func TestTimeScale(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.TimeScale = 60 })
	id := h.create2018("ok", nil)
	// 2 nodes x (10s + 1m) = 140s of DataWorks time = 2.33s of clock time.
	h.clock.Advance(2 * time.Second)
	info, _ := h.emu.DAG(id)
	assert.Equal(t, DAGRunning, info.Status)
	h.clock.Advance(500 * time.Millisecond)
	info, _ = h.emu.DAG(id)
	assert.Equal(t, DAGSuccess, info.Status)
}
