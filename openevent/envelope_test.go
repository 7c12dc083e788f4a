package openevent

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/manualdag/manualdag/dag"
)

// dagEventBody is a DagStatusChanges event as the OpenEvent docs show one.
const dagEventBody = `{
  "datacontenttype": "application/json;charset=utf-8",
  "aliyunaccountid": "1234567890123456",
  "aliyunpublishtime": "2024-06-01T08:00:01.123Z",
  "data": {
    "dagId": 1000123,
    "dagName": "manual_flow_20240601",
    "dagType": 5,
    "flowId": 77,
    "flowName": "manual_flow",
    "projectId": 42,
    "projectEnv": "PROD",
    "bizDate": "2024-05-31 00:00:00",
    "createTime": "2024-06-01 16:00:00",
    "operator": "2045678",
    "tenantId": 235454123432001,
    "status": 6
  },
  "subject": "acs:dataworks:cn-shanghai:1234567890123456:42",
  "aliyunoriginalaccountid": "1234567890123456",
  "source": "acs.dataworks",
  "type": "dataworks:DagStatusChanges:DagStatusChanges",
  "aliyunpublishaddr": "10.0.0.1",
  "specversion": "1.0",
  "aliyuneventbusname": "manualdag",
  "id": "45ef4dewdwe1-7c35-447a-bd93-fab****",
  "time": "2024-06-01T08:00:00.000Z",
  "aliyunregionid": "cn-shanghai"
}`

// instanceEventBody is an InstanceStatusChanges event as the docs show
// one (their example is of a scheduled instance, dagType 0; this one is a
// manual workflow's).
const instanceEventBody = `{
  "id": "inst-1", "source": "acs.dataworks", "specversion": "1.0",
  "type": "dataworks:InstanceStatusChanges:InstanceStatusChanges",
  "time": "2024-06-01T08:00:00Z",
  "data": {
    "beginWaitTimeTime": 1652700576000, "dagId": 446555330, "dagType": 4, "taskType": 0,
    "modifyTime": 1652700577000, "createTime": 1652543233000, "appId": 3112,
    "tenantId": 235454123432001, "opCode": 31, "flowId": 1, "nodeId": 1002698219,
    "beginWaitResTime": 1652700577000, "taskId": 4532688169, "status": 4
  }
}`

func TestParseDocumentedEvents(t *testing.T) {
	ev, err := Parse([]byte(dagEventBody))
	if err != nil {
		t.Fatal(err)
	}
	want := dag.Event{ID: "45ef4dewdwe1-7c35-447a-bd93-fab****", Kind: dag.EventDag, DagID: 1000123,
		Status: dag.StatusSuccess, Final: true, Time: time.Date(2024, 6, 1, 8, 0, 0, 0, time.UTC)}
	if ev != want {
		t.Errorf("DAG event\n got %+v\nwant %+v", ev, want)
	}

	ev, err = Parse([]byte(instanceEventBody))
	if err != nil {
		t.Fatal(err)
	}
	want = dag.Event{ID: "inst-1", Kind: dag.EventInstance, DagID: 446555330, NodeID: 1002698219, InstanceID: 4532688169,
		Status: dag.StatusRunning, Time: time.Date(2024, 6, 1, 8, 0, 0, 0, time.UTC)}
	if ev != want {
		t.Errorf("instance event\n got %+v\nwant %+v", ev, want)
	}
}

// The data structs read every documented field, numbers as numbers.
func TestDataFields(t *testing.T) {
	var d InstanceStatusData
	if err := d.UnmarshalJSON([]byte(`{"taskId":"4532688169","nodeId":1,"dagId":2,"dagType":"5","flowId":3,"appId":4,"tenantId":5,"status":"0",
		"beginWaitTimeTime":6,"beginWaitResTime":7,"beginRunningTime":8,"finishTime":9,"createTime":10,"modifyTime":11}`)); err != nil {
		t.Fatal(err)
	}
	if d.TaskID != 4532688169 || d.NodeID != 1 || d.DagID != 2 || d.DagType == nil || *d.DagType != 5 || d.FlowID != 3 || d.AppID != 4 ||
		d.TenantID != 5 || d.Status == nil || *d.Status != 0 || d.BeginWaitTimeTime != 6 || d.BeginWaitResTime != 7 ||
		d.BeginRunningTime != 8 || d.FinishTime != 9 || d.CreateTime != 10 || d.ModifyTime != 11 {
		t.Errorf("instance data %+v", d)
	}
	var g DagStatusData
	if err := g.UnmarshalJSON([]byte(`{"dagId":"1","dagName":"n","dagType":4,"flowId":"2","flowName":"f","projectId":3,"projectEnv":"DEV",
		"bizDate":"2024-05-31 00:00:00","createTime":1717228800000,"operator":123,"tenantId":"9","status":"4"}`)); err != nil {
		t.Fatal(err)
	}
	if g.DagID != 1 || g.DagName != "n" || *g.DagType != 4 || g.FlowID != 2 || g.FlowName != "f" || g.ProjectID != 3 || g.ProjectEnv != "DEV" ||
		g.BizDate != "2024-05-31 00:00:00" || g.CreateTime != "1717228800000" || g.Operator != "123" || g.TenantID != 9 || *g.Status != 4 {
		t.Errorf("DAG data %+v", g)
	}
}

// Where the docs disagree, or senders differ, every reading parses to the
// same hint.
func TestParseTolerance(t *testing.T) {
	for _, tc := range []struct {
		name   string
		typ    string
		data   string
		extra  string
		status dag.Status
		final  bool
		node   int64
	}{
		{"numbers as strings", TypeDagStatusChanges, `{"dagId":"1000123","status":"5"}`, "", dag.StatusFailure, true, 0},
		{"eventCode type", EventCodeDagStatusChanges, `{"dagId":1000123,"status":4}`, "", dag.StatusRunning, false, 0},
		{"eventCode type, other case", "Instance-Status-Changes", `{"dagId":1000123,"nodeId":9,"status":6}`, "", dag.StatusSuccess, true, 9},
		{"dag status 1 not run", TypeDagStatusChanges, `{"dagId":1000123,"status":1}`, "", dag.StatusNotRun, false, 0},
		{"instance status 0 is not run", TypeInstanceStatusChanges, `{"dagId":1000123,"nodeId":9,"status":0}`, "", dag.StatusNotRun, false, 9},
		{"instance status 8", TypeInstanceStatusChanges, `{"dagId":1000123,"nodeId":9,"status":8}`, "", dag.StatusCheckingCondition, false, 9},
		{"dagType 4", TypeInstanceStatusChanges, `{"dagId":1000123,"dagType":4,"nodeId":9,"status":5}`, "", dag.StatusFailure, true, 9},
		{"dagType 5 as a string", TypeInstanceStatusChanges, `{"dagId":1000123,"dagType":"5","nodeId":9,"status":5}`, "", dag.StatusFailure, true, 9},
		{"status by name", TypeDagStatusChanges, `{"dagId":1000123,"status":"success"}`, "", dag.StatusSuccess, true, 0},
		{"undocumented status", TypeDagStatusChanges, `{"dagId":1000123,"status":42}`, "", "", false, 0},
		{"no status", TypeDagStatusChanges, `{"dagId":1000123}`, "", "", false, 0},
		{"unreadable optional fields", TypeInstanceStatusChanges, `{"dagId":1000123,"nodeId":9,"status":6,"createTime":"2024-06-01 16:00:00","flowId":{"x":1},"appId":1.5}`, "", dag.StatusSuccess, true, 9},
		{"float-shaped integer", TypeDagStatusChanges, `{"dagId":1.000123e6,"status":6.0}`, "", dag.StatusSuccess, true, 0},
		{"data as a JSON string", TypeDagStatusChanges, `"{\"dagId\":1000123,\"status\":6}"`, "", dag.StatusSuccess, true, 0},
		{"numeric aliyun attributes", TypeDagStatusChanges, `{"dagId":1000123,"status":6}`, `,"aliyunaccountid":1234567890123456,"aliyunregionid":null`, dag.StatusSuccess, true, 0},
		{"no source", TypeDagStatusChanges, `{"dagId":1000123,"status":6}`, `,"source":null`, dag.StatusSuccess, true, 0},
		{"upper-case keys", TypeDagStatusChanges, `{"DagId":1000123,"Status":6}`, "", dag.StatusSuccess, true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := `{"id":"e1","source":"acs.dataworks","specversion":"1.0","type":"` + tc.typ + `","data":` + tc.data + tc.extra + `}`
			ev, err := Parse([]byte(body))
			if err != nil {
				t.Fatalf("Parse(%s): %v", body, err)
			}
			if ev.DagID != 1000123 || ev.Status != tc.status || ev.Final != tc.final || ev.NodeID != tc.node {
				t.Errorf("got %+v, want dag 1000123 node %d status %q final %v", ev, tc.node, tc.status, tc.final)
			}
		})
	}
}

func TestParseRefusals(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		want       error
		says       string
	}{
		{"not JSON", `hello`, ErrMalformed, "not a CloudEvent"},
		{"empty", ``, ErrMalformed, "not a CloudEvent"},
		{"null", `null`, ErrMalformed, "not a CloudEvent"},
		{"a batch", `[{"id":"1"}]`, ErrMalformed, "one event per request"},
		{"no id", `{"type":"` + TypeDagStatusChanges + `","data":{"dagId":1}}`, ErrMalformed, "id and a type"},
		{"no type", `{"id":"1","data":{"dagId":1}}`, ErrMalformed, "id and a type"},
		{"id too long", `{"id":"` + strings.Repeat("x", MaxIDLength+1) + `","type":"` + TypeDagStatusChanges + `","data":{"dagId":1}}`, ErrMalformed, "longer"},
		{"no data", `{"id":"1","type":"` + TypeDagStatusChanges + `"}`, ErrMalformed, "data is not a JSON object"},
		{"data an array", `{"id":"1","type":"` + TypeDagStatusChanges + `","data":[1]}`, ErrMalformed, "data is not a JSON object"},
		{"no dagId", `{"id":"1","type":"` + TypeDagStatusChanges + `","data":{"status":6}}`, ErrMalformed, "dagId"},
		{"dagId not a number", `{"id":"1","type":"` + TypeDagStatusChanges + `","data":{"dagId":"abc"}}`, ErrMalformed, "dagId"},
		{"negative dagId", `{"id":"1","type":"` + TypeDagStatusChanges + `","data":{"dagId":-4}}`, ErrMalformed, "dagId"},
		{"another type", `{"id":"1","type":"dataworks:FileChange:CommitFile","data":{"dagId":1}}`, ErrIgnored, "not an event manualdag uses"},
		{"another source", `{"id":"1","source":"acs.oss","type":"` + TypeDagStatusChanges + `","data":{"dagId":1}}`, ErrIgnored, "not an event manualdag uses"},
		{"scheduled instance", `{"id":"1","type":"` + TypeInstanceStatusChanges + `","data":{"dagId":1,"dagType":0}}`, ErrIgnored, "dagType 0"},
		{"backfill instance", `{"id":"1","type":"` + TypeInstanceStatusChanges + `","data":{"dagId":1,"dagType":"3"}}`, ErrIgnored, "dagType 3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.body))
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.says) {
				t.Errorf("Parse(%.60s) = %v, want %v saying %q", tc.body, err, tc.want, tc.says)
			}
		})
	}
}

// A DAG event is routed whatever its dagType: its values are undocumented.
func TestParseDagEventAnyDagType(t *testing.T) {
	ev, err := Parse([]byte(`{"id":"1","type":"` + TypeDagStatusChanges + `","data":{"dagId":7,"dagType":0,"status":4}}`))
	if err != nil || ev.DagID != 7 {
		t.Fatalf("Parse = %+v, %v", ev, err)
	}
}

// The fuzz target's seeds run in every `go test`. Run it with
//
//	go test -run '^$' -fuzz '^FuzzParse$' -fuzztime 30s ./openevent/
func FuzzParse(f *testing.F) {
	for _, s := range []string{dagEventBody, instanceEventBody, `{}`, `[]`, `null`, `{"id":1,"type":2,"data":"{"}`,
		`{"id":"x","type":"dag-status-changes","data":{"dagId":"9223372036854775808","status":"1e400"}}`,
		`{"id":"x","type":"instance-status-changes","data":"\"{\\\"dagId\\\":1}\""}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		ev, err := Parse(body)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrIgnored) {
				t.Fatalf("Parse error %v is neither ErrMalformed nor ErrIgnored", err)
			}
			return
		}
		if ev.ID == "" || len(ev.ID) > MaxIDLength || ev.DagID <= 0 || (ev.Kind != dag.EventDag && ev.Kind != dag.EventInstance) {
			t.Fatalf("Parse accepted an event it cannot route: %+v", ev)
		}
		if ev.Final && !ev.Status.Terminal() {
			t.Fatalf("final but status %q", ev.Status)
		}
	})
}
