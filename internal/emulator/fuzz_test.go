package emulator

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// FuzzRequest sends arbitrary API requests to the emulator: any action,
// version and parameters, in the query and in a form body, correctly signed
// (so that the handlers behind the signature check are reached) or not.
// The emulator must never panic, must answer JSON, and must never answer an
// unsigned request with success. Seeds run in every `go test`; run with
//
//	go test -run '^$' -fuzz '^FuzzRequest$' -fuzztime 5m ./internal/emulator/
func FuzzRequest(f *testing.F) {
	for _, s := range []struct {
		action, version, query, body string
		signed                       bool
	}{
		{"CreateManualDag", version2018, "ProjectName=p1&FlowName=ok&Bizdate=2024-03-28+00:00:00&DagPara=a%3D1", "", true},
		{"SearchManualDagNodeInstance", version2018, "ProjectName=p1&DagId=700000100001", "", true},
		{"CreateManualDag", version2020, "ProjectName=p1&FlowName=etl&BizDate=2024-03-28+00:00:00&ProjectEnv=PROD&NodeParameters=%7B%2211%22%3A%22k%3Dv%22%7D", "", true},
		{"GetManualDagInstances", version2020, "ProjectName=p1&DagId=-1&ProjectEnv=DEV", "", true},
		{"StopInstance", version2020, "InstanceId=705000000001&ProjectEnv=PROD", "", true},
		{"GetInstanceLog", version2020, "InstanceId=0", "", true},
		{"RestartInstance", version2020, "InstanceId=abc", "InstanceId=1", true},
		{"CreateManualDag", version2018, "ProjectName=p1&FlowName=ok&Bizdate=20240328", "", false},
		{"", "", "", "%zz", false},
	} {
		f.Add(s.action, s.version, s.query, s.body, s.signed)
	}
	def, err := ParseDefinition([]byte(testDefinition))
	if err != nil {
		f.Fatal(err)
	}
	emu, err := New(Options{Definition: def, Credentials: map[string]Key{testKeyID: {Secret: testSecret}}, TimeScale: 1000})
	if err != nil {
		f.Fatal(err)
	}
	var nonce atomic.Int64
	f.Fuzz(func(t *testing.T, action, version, query, body string, signed bool) {
		q, _ := url.ParseQuery(query)
		if signed {
			business := map[string]string{}
			for k, v := range q {
				business[k] = v[0]
			}
			p := rawParams(action, version, business, time.Now(), fmt.Sprintf("fuzz-%d", nonce.Add(1)))
			q = url.Values{}
			for k, v := range p {
				q.Set(k, v)
			}
		}
		req := httptest.NewRequest(http.MethodPost, "/?"+q.Encode(), strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		emu.ServeHTTP(rec, req)
		var reply map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &reply); err != nil {
			t.Fatalf("status %d, not a JSON object: %q", rec.Code, rec.Body.String())
		}
		if !signed && rec.Code == http.StatusOK {
			t.Fatalf("an unsigned request was answered 200: %s", rec.Body.String())
		}
	})
}

// FuzzParseDefinition: a definition file either is refused with an error or
// makes a working emulator.
func FuzzParseDefinition(f *testing.F) {
	f.Add([]byte(testDefinition))
	f.Add([]byte(`{"projects":[{"name":"p","flows":[{"name":"f","nodes":[{"id":1,"name":"a","upstream":[1]}]}]}]}`))
	f.Add([]byte("projects:\n  - name: p\n    flows:\n      - name: f\n        nodes:\n          - {id: 1, name: a, outcome: flaky, probability: 2}\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		def, err := ParseDefinition(b)
		if err != nil {
			return
		}
		if _, err := New(Options{Definition: def, Credentials: map[string]Key{"k": {Secret: "s"}}}); err != nil {
			t.Fatalf("a definition that validates is refused by New: %v", err)
		}
	})
}
