package aliyun

import (
	"strings"
	"testing"
	"time"

	"github.com/manualdag/manualdag/dag"
	"github.com/manualdag/manualdag/dataworks"
)

// liveCreateReply and liveSearchReply are the fact sheet's live examples,
// verbatim.
const (
	liveCreateReply = `{"RequestId":"CB49…","ReturnCode":"0","ReturnErrorSolution":"","ReturnMessage":"","ReturnValue":700019657457}`
	liveSearchReply = `{"Data":{"NodeInsInfo":[{"BeginWaitTimeTime":1553822772177,"Bizdate":1553788800000,"CreateTime":1553822772138,"DagId":700019657457,"DagType":5,"InstanceId":705772600901,"ModifyTime":1553822772177,"NodeName":"vn_start","Status":2},{"Bizdate":1553788800000,"CreateTime":1553822772115,"DagId":700019657457,"DagType":5,"InstanceId":705772600897,"ModifyTime":1553822772115,"NodeName":"ddl_ods_pagerank","Status":1}]},"ErrCode":"0","ErrMsg":"","RequestId":"35D7…","Success":true}`
	// referenceSearchReply is shaped like the reference page's example: a
	// bare lower-case array and times as strings.
	referenceSearchReply = `{"data":[{"instanceId":1,"dagId":700019657457,"dagType":5,"status":"6","nodeName":"n1","paraValue":"a=b","bizdate":"2018-12-12 00:00:00","createTime":"1564019679966","finishTime":"2019-07-25 09:54:40"}],"errCode":"0","errMsg":"","requestId":"X","success":true}`
)

func TestDecodeSearch(t *testing.T) {
	const dagID = 700019657457
	tests := []struct {
		name    string
		body    string
		check   func(t *testing.T, got []dataworks.NodeInstance)
		wantErr string // substring; "" = success
	}{
		{name: "live example", body: liveSearchReply, check: func(t *testing.T, got []dataworks.NodeInstance) {
			if len(got) != 2 {
				t.Fatalf("got %d instances", len(got))
			}
			a := got[0]
			if a.InstanceID != 705772600901 || a.DagID != dagID || a.NodeName != "vn_start" || a.Status != dag.StatusWaitTime {
				t.Errorf("first = %+v", a)
			}
			if a.Bizdate.Format("2006-01-02 15:04:05") != "2019-03-29 00:00:00" {
				t.Errorf("Bizdate = %v, want 2019-03-29 midnight China time", a.Bizdate)
			}
			if a.BeginWaitTimeTime.UnixMilli() != 1553822772177 || !a.FinishTime.IsZero() || !a.BeginRunningTime.IsZero() {
				t.Errorf("times = %+v", a)
			}
			if got[1].Status != dag.StatusNotRun {
				t.Errorf("second status = %v", got[1].Status)
			}
		}},
		{name: "reference page example", body: referenceSearchReply, check: func(t *testing.T, got []dataworks.NodeInstance) {
			if len(got) != 1 {
				t.Fatalf("got %d", len(got))
			}
			a := got[0]
			if a.InstanceID != 1 || a.Status != dag.StatusSuccess || a.ParaValue != "a=b" {
				t.Errorf("got %+v", a)
			}
			if a.Bizdate.Format("2006-01-02") != "2018-12-12" || a.CreateTime.UnixMilli() != 1564019679966 {
				t.Errorf("times %v %v", a.Bizdate, a.CreateTime)
			}
			if want := time.Date(2019, 7, 25, 1, 54, 40, 0, time.UTC); !a.FinishTime.Equal(want) {
				t.Errorf("FinishTime = %v, want %v (China time)", a.FinishTime, want)
			}
		}},
		{name: "Data as bare upper-case array", body: `{"Success":true,"ErrCode":"0","Data":[{"InstanceId":"7","Status":"4"}]}`, check: func(t *testing.T, got []dataworks.NodeInstance) {
			if len(got) != 1 || got[0].InstanceID != 7 || got[0].Status != dag.StatusRunning || got[0].DagID != dagID {
				t.Errorf("got %+v", got)
			}
		}},
		{name: "2020 Instances with names", body: `{"RequestId":"R","Instances":[{"InstanceId":7,"NodeId":3,"Status":"FAILURE","ErrorMessage":"boom","ParamValues":"x=y"}]}`, check: func(t *testing.T, got []dataworks.NodeInstance) {
			if len(got) != 1 || got[0].Status != dag.StatusFailure || got[0].ErrorMessage != "boom" || got[0].ParaValue != "x=y" || got[0].NodeID != 3 {
				t.Errorf("got %+v", got)
			}
		}},
		{name: "empty right after create", body: `{"Data":{"NodeInsInfo":[]},"ErrCode":"0","Success":true}`, check: func(t *testing.T, got []dataworks.NodeInstance) {
			if len(got) != 0 {
				t.Errorf("got %+v", got)
			}
		}},
		{name: "no Data at all", body: `{"ErrCode":"0","Success":true}`, check: func(t *testing.T, got []dataworks.NodeInstance) {
			if len(got) != 0 {
				t.Errorf("got %+v", got)
			}
		}},
		{name: "missing fields are zero", body: `{"Success":true,"Data":[{"InstanceId":7}]}`, check: func(t *testing.T, got []dataworks.NodeInstance) {
			if got[0].Status != "" || got[0].NodeName != "" || !got[0].CreateTime.IsZero() {
				t.Errorf("got %+v", got)
			}
		}},
		{name: "unknown status 99 is kept", body: `{"Success":true,"Data":[{"InstanceId":7,"Status":99}]}`, check: func(t *testing.T, got []dataworks.NodeInstance) {
			if s := got[0].Status; s != "CODE_99" || s.Known() || s.Terminal() || s.Code() != 99 {
				t.Errorf("status = %q", s)
			}
		}},
		{name: "duplicate keeps the later ModifyTime", body: `{"Success":true,"Data":[{"InstanceId":7,"Status":4,"ModifyTime":20},{"InstanceId":8,"Status":1},{"InstanceId":7,"Status":6,"ModifyTime":30},{"InstanceId":7,"Status":5,"ModifyTime":10}]}`, check: func(t *testing.T, got []dataworks.NodeInstance) {
			if len(got) != 2 || got[0].InstanceID != 7 || got[0].Status != dag.StatusSuccess || got[1].InstanceID != 8 {
				t.Errorf("got %+v", got)
			}
		}},
		{name: "null fields", body: `{"Success":true,"Data":[{"InstanceId":7,"FinishTime":null,"NodeName":null,"Status":null}]}`, check: func(t *testing.T, got []dataworks.NodeInstance) {
			if !got[0].FinishTime.IsZero() {
				t.Errorf("got %+v", got)
			}
		}},
		{name: "ErrCode invalid dag", body: `{"ErrCode":"11020293069","ErrMsg":"dag id invalid","Success":false,"RequestId":"R"}`, wantErr: "11020293069"},
		{name: "Success false without code", body: `{"Success":false,"RequestId":"R"}`, wantErr: dataworks.CodeUnsuccessful},
		{name: "truncated JSON", body: liveSearchReply[:len(liveSearchReply)/2], wantErr: "not valid JSON"},
		{name: "HTML page", body: `<html><body>502</body></html>`, wantErr: "not a JSON object"},
		{name: "JSON array at top", body: `[1,2]`, wantErr: "not a JSON object"},
		{name: "zero instance id", body: `{"Success":true,"Data":[{"InstanceId":0}]}`, wantErr: "not positive"},
		{name: "negative instance id", body: `{"Success":true,"Data":[{"InstanceId":-5}]}`, wantErr: "not positive"},
		{name: "no instance id", body: `{"Success":true,"Data":[{"Status":1}]}`, wantErr: "has no InstanceId"},
		{name: "fractional id", body: `{"Success":true,"Data":[{"InstanceId":1.5}]}`, wantErr: "not an integer"},
		{name: "other dag", body: `{"Success":true,"Data":[{"InstanceId":1,"DagId":5}]}`, wantErr: "belongs to DAG 5"},
		{name: "bad time", body: `{"Success":true,"Data":[{"InstanceId":1,"CreateTime":"yesterday"}]}`, wantErr: "not a time"},
		{name: "Data is a string", body: `{"Success":true,"Data":"x"}`, wantErr: "not an array"},
		{name: "instance not an object", body: `{"Success":true,"Data":[1]}`, wantErr: "not an object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeSearch(200, "", []byte(tt.body), dagID)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				if _, ok := dataworks.AsError(err); !ok {
					t.Fatalf("err %T is not *Error", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, got)
		})
	}
}

func TestDecodeCreate(t *testing.T) {
	tests := []struct {
		name     string
		body     string
		want     int64
		wantCode string
	}{
		{"live example", liveCreateReply, 700019657457, ""},
		{"ReturnValue as string", `{"ReturnCode":"0","ReturnValue":"700019657457"}`, 700019657457, ""},
		{"numeric ReturnCode 0", `{"ReturnCode":0,"ReturnValue":5}`, 5, ""},
		{"2020 DagId", `{"DagId":700000123123141,"RequestId":"R"}`, 700000123123141, ""},
		{"2020 Data object", `{"Success":true,"Data":{"DagId":9}}`, 9, ""},
		{"2020 Data number", `{"Success":true,"Data":9}`, 9, ""},
		{"bad bizdate code", `{"ReturnCode":"600011","ReturnMessage":"Bizdate format","ReturnValue":0}`, 0, dataworks.CodeBadBizdate},
		{"numeric business code", `{"ReturnCode":600011,"ReturnValue":0}`, 0, dataworks.CodeBadBizdate},
		{"Success false", `{"Success":false,"ErrorCode":"X","ErrorMessage":"m"}`, 0, "X"},
		{"zero id", `{"ReturnCode":"0","ReturnValue":0}`, 0, dataworks.CodeInvalidResponse},
		{"negative id", `{"ReturnCode":"0","ReturnValue":-1}`, 0, dataworks.CodeInvalidResponse},
		{"missing id", `{"ReturnCode":"0"}`, 0, dataworks.CodeInvalidResponse},
		{"float id", `{"ReturnCode":"0","ReturnValue":7.5}`, 0, dataworks.CodeInvalidResponse},
		{"huge id", `{"ReturnCode":"0","ReturnValue":99999999999999999999}`, 0, dataworks.CodeInvalidResponse},
		{"not JSON", `ok`, 0, dataworks.CodeInvalidResponse},
		{"empty", ``, 0, dataworks.CodeInvalidResponse},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeCreate(200, "HDR", []byte(tt.body))
			if tt.wantCode == "" {
				if err != nil || got != tt.want {
					t.Fatalf("got %d, %v; want %d", got, err, tt.want)
				}
				return
			}
			e, ok := dataworks.AsError(err)
			if !ok || e.Code != tt.wantCode || e.Phase != dataworks.PhaseReplied || e.HTTPStatus != 200 {
				t.Fatalf("got %d, %v; want code %s", got, err, tt.wantCode)
			}
			if e.RequestID == "" {
				t.Errorf("no request id on %v", err)
			}
		})
	}
}

func TestDecodeErrorReply(t *testing.T) {
	tests := []struct {
		status   int
		body     string
		wantCode string
		wantMsg  string
	}{
		{400, `{"RequestId":"R","HostId":"h","Code":"Throttling.User","Message":"m","Recommend":"https://x"}`, "Throttling.User", "m"},
		{400, `{"RequestId":"R","Code":123,"Message":"numeric"}`, "123", "numeric"},
		{429, `{"RequestId":"R","Code":429,"Message":"numeric status"}`, "Throttling", "numeric status"},
		{400, `{"RequestId":"R","Code":400,"Success":false,"ErrorCode":"Throttling.User","ErrorMessage":"2020"}`, "Throttling.User", ""},
		{500, `{"requestId":"R","code":"InternalError.System","message":"lower"}`, "InternalError.System", "lower"},
		{502, `<html><h1>Bad Gateway</h1></html>`, "HTTP502", "not JSON"},
		{503, ``, dataworks.CodeServiceUnavailable, "not JSON"},
		{403, `{"RequestId":"R"}`, "HTTP403", ""},
	}
	for _, tt := range tests {
		e := decodeErrorReply(tt.status, "HDR", []byte(tt.body))
		if e.Code != tt.wantCode || !strings.Contains(e.Message, tt.wantMsg) || e.HTTPStatus != tt.status || e.Phase != dataworks.PhaseReplied {
			t.Errorf("%d %s: got %+v", tt.status, tt.body, e)
		}
		if e.RequestID == "" {
			t.Errorf("%d %s: no request id", tt.status, tt.body)
		}
	}
}

func TestRawTime(t *testing.T) {
	tests := []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{`1553822772177`, time.UnixMilli(1553822772177), true},
		{`"1564019679966"`, time.UnixMilli(1564019679966), true},
		{`"2018-12-12 00:00:00"`, time.Date(2018, 12, 11, 16, 0, 0, 0, time.UTC), true},
		{`"2018-12-12"`, time.Date(2018, 12, 11, 16, 0, 0, 0, time.UTC), true},
		{`"2018-12-12T00:00:00Z"`, time.Date(2018, 12, 12, 0, 0, 0, 0, time.UTC), true},
		{`""`, time.Time{}, true},
		{`0`, time.Time{}, true},
		{`-1`, time.Time{}, false},
		{`1.5`, time.Time{}, false},
		{`"soon"`, time.Time{}, false},
		{`{}`, time.Time{}, false},
	}
	for _, tt := range tests {
		got, err := rawTime([]byte(tt.in))
		if (err == nil) != tt.ok || !got.Equal(tt.want) {
			t.Errorf("rawTime(%s) = %v, %v; want %v ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
		if err == nil && !got.IsZero() && got.Location() != serviceZone {
			t.Errorf("rawTime(%s) in %v, want China time", tt.in, got.Location())
		}
	}
}

// TestEnvelopeStatusDecoded: a 2020 envelope's HttpStatusCode inside a 200
// is kept, and named in the message.
func TestEnvelopeStatusDecoded(t *testing.T) {
	_, err := decodeCreate(200, "H", []byte(`{"RequestId":"R","Success":false,"HttpStatusCode":500,"ErrorCode":"9990001","ErrorMessage":"x"}`))
	e := mustError(t, err)
	if e.EnvelopeStatus != 500 || e.HTTPStatus != 200 || e.Code != "9990001" {
		t.Fatalf("got %+v", e)
	}
	if !strings.Contains(e.Error(), "HttpStatusCode 500 inside HTTP 200") {
		t.Errorf("message %q", e.Error())
	}
	if dataworks.Refused(err) || !retried(err) {
		t.Errorf("a 500 inside a 200 is a server error, not a refusal: %v", err)
	}
	_, err = decodeCreate(200, "H", []byte(`{"RequestId":"R","Success":false,"HttpStatusCode":"many","ErrorCode":"9990001"}`))
	if e := mustError(t, err); e.EnvelopeStatus != 0 {
		t.Errorf("a status that is not a number is ignored: %+v", e)
	}
}

// A documented status is one status however the reply spells it.
func TestParseStatusSpellings(t *testing.T) {
	for in, want := range map[string]dag.Status{
		"NOT_RUN": dag.StatusNotRun, "not_run": dag.StatusNotRun, "NotRun": dag.StatusNotRun, " 1 ": dag.StatusNotRun,
		"CheckingCondition": dag.StatusCheckingCondition, "CHECKING_CONDITION": dag.StatusCheckingCondition,
		"WaitResource": dag.StatusWaitResource, "Success": dag.StatusSuccess, "failure": dag.StatusFailure, "5": dag.StatusFailure,
		"Frozen": dag.Status("FROZEN"), "99": dag.StatusFromCode(99),
	} {
		if got := parseStatus(in); got != want {
			t.Errorf("parseStatus(%q) = %q, want %q", in, got, want)
		}
	}
}
