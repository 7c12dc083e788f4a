package aliyun

import (
	"testing"

	"github.com/manualdag/manualdag/dataworks"
)

// The fuzz targets' seeds run in every `go test`; their committed corpus is
// under testdata/fuzz. Run one with e.g.
//
//	go test -run '^$' -fuzz '^FuzzDecodeSearch$' -fuzztime 30s ./dataworks/aliyun/

var searchSeeds = []string{
	liveSearchReply,
	referenceSearchReply,
	`{"Data":[],"ErrCode":"0","Success":true}`,
	`{"RequestId":"R","Instances":[{"InstanceId":"7","NodeId":3,"Status":"FAILURE","FinishTime":"1564019679966"}]}`,
	`{"Success":true,"Data":[{"InstanceId":7,"ModifyTime":2},{"InstanceId":7,"ModifyTime":1}]}`,
	`{"ErrCode":"11020293069","ErrMsg":"invalid","Success":false}`,
	`{"Data":{"NodeInsInfo":[{"instanceId":1,"status":99,"bizdate":"2018-12-12 00:00:00"}]}}`,
	`<html>502</html>`,
}

func FuzzDecodeSearch(f *testing.F) {
	for _, s := range searchSeeds {
		f.Add([]byte(s), int64(700019657457))
	}
	f.Fuzz(func(t *testing.T, body []byte, dagID int64) {
		list, err := decodeSearch(200, "", body, dagID)
		if err != nil {
			if e, ok := dataworks.AsError(err); !ok || e.Phase != dataworks.PhaseReplied || e.Code == "" {
				t.Fatalf("error %v is not a replied *Error with a code", err)
			}
			return
		}
		seen := map[int64]bool{}
		for _, ni := range list {
			if ni.InstanceID <= 0 || seen[ni.InstanceID] {
				t.Fatalf("bad or duplicate instance id %d", ni.InstanceID)
			}
			seen[ni.InstanceID] = true
			if dagID > 0 && ni.DagID != dagID {
				t.Fatalf("instance of DAG %d in a search for %d", ni.DagID, dagID)
			}
			if ni.NodeID < 0 {
				t.Fatalf("negative node id %d", ni.NodeID)
			}
		}
	})
}

func FuzzDecodeCreate(f *testing.F) {
	for _, s := range []string{
		liveCreateReply,
		`{"DagId":700000123123141,"RequestId":"R"}`,
		`{"ReturnCode":"600011","ReturnMessage":"bizdate","ReturnValue":0}`,
		`{"ReturnCode":"0","ReturnValue":"42"}`,
		`{"Success":true,"Data":{"DagId":9}}`,
		`{"ReturnCode":"0","ReturnValue":-1}`,
		`{"Code":123,"Message":"x"}`,
		``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		id, err := decodeCreate(200, "", body)
		if err != nil {
			if e, ok := dataworks.AsError(err); !ok || e.Phase != dataworks.PhaseReplied || e.Code == "" {
				t.Fatalf("error %v is not a replied *Error with a code", err)
			}
			return
		}
		if id <= 0 {
			t.Fatalf("accepted DAG id %d", id)
		}
		e := decodeErrorReply(400, "", body) // must not panic either
		if e.Code == "" {
			t.Fatal("error reply without a code")
		}
	})
}

func FuzzDecodeErrorReply(f *testing.F) {
	for _, s := range []string{
		`{"RequestId":"R","HostId":"h","Code":"Throttling.User","Message":"m","Recommend":"u"}`,
		`{"Code":123,"Message":"x"}`,
		`{"Success":false,"HttpStatusCode":403,"ErrorCode":"Forbidden.Access","ErrorMessage":"no"}`,
		`<html><body>502 Bad Gateway</body></html>`,
		`{"Code":"","Message":null}`,
		``,
	} {
		f.Add(503, []byte(s))
		f.Add(400, []byte(s))
	}
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		e := decodeErrorReply(status, "hdr", body)
		if e == nil || e.Code == "" || e.Phase != dataworks.PhaseReplied {
			t.Fatalf("decodeErrorReply(%d, %q) = %+v: want a replied *Error with a code", status, body, e)
		}
		// At most one of the predicates that decide retries; with
		// neither, the error is retried with back-off.
		if dataworks.Throttled(e) && dataworks.Permanent(e) {
			t.Fatalf("%+v is throttled and permanent", e)
		}
		_ = e.Error()
	})
}

func FuzzDecodeData(f *testing.F) {
	for _, s := range []string{
		`{"RequestId":"R","Success":true,"Data":true}`,
		`{"RequestId":"R","Success":true,"Data":"log line 1\nlog line 2"}`,
		`{"RequestId":"R","Success":false,"ErrorCode":"Invalid.Tenant.InstanceNotExist","ErrorMessage":"x"}`,
		`{"Success":true,"Data":{"nested":1}}`,
		`{"Success":true}`,
		`[]`,
	} {
		f.Add(200, []byte(s))
	}
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		_, _, err := decodeData(status, "hdr", body)
		if err != nil {
			if e, ok := dataworks.AsError(err); !ok || e.Phase != dataworks.PhaseReplied || e.Code == "" {
				t.Fatalf("error %v is not a replied *Error with a code", err)
			}
		}
	})
}

func TestWireBizdate(t *testing.T) {
	for in, want := range map[string]string{"2024-06-01": "2024-06-01 00:00:00", " 2024-06-01 00:00:00": "2024-06-01 00:00:00"} {
		if got, err := wireBizdate(in); err != nil || got != want {
			t.Errorf("wireBizdate(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := wireBizdate("2024-06-01 12:00:00"); err == nil {
		t.Error("wireBizdate accepted a time of day")
	}
}

func FuzzParseStatus(f *testing.F) {
	for _, s := range []string{"RUNNING", " failure ", "6", "99", "CODE_9", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_ = parseStatus(s).Terminal() // any string is a status, never a panic
	})
}
