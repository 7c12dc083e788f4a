package aliyun

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth/credentials"

	"github.com/manualdag/manualdag/dag"
	"github.com/manualdag/manualdag/dataworks"
)

const (
	testKeyID  = "LTAI5tTestKeyId"
	testSecret = "s3cr3t-Secret-Value-0123456789"
)

// fakeDataWorks answers every request with reply and records what it got.
type fakeDataWorks struct {
	mu    sync.Mutex
	got   []url.Values // query and form, merged
	reply func(w http.ResponseWriter, r *http.Request, params url.Values)
}

func (f *fakeDataWorks) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	f.got = append(f.got, r.Form)
	f.mu.Unlock()
	f.reply(w, r, r.Form)
}

func (f *fakeDataWorks) last(t *testing.T) url.Values {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.got) == 0 {
		t.Fatal("the server got no request")
	}
	return f.got[len(f.got)-1]
}

func jsonReply(status int, body string) func(http.ResponseWriter, *http.Request, url.Values) {
	return func(w http.ResponseWriter, _ *http.Request, _ url.Values) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}
}

func testConfig(endpoint string) Config {
	return Config{
		Endpoint:       endpoint,
		Scheme:         "http",
		Credential:     credentials.NewStaticAKCredentialsProvider(testKeyID, testSecret),
		ConnectTimeout: 2 * time.Second,
		RequestTimeout: 5 * time.Second,
	}
}

func startFake(t *testing.T, reply func(http.ResponseWriter, *http.Request, url.Values)) (*fakeDataWorks, *Client) {
	t.Helper()
	f := &fakeDataWorks{reply: reply}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	c, err := New(testConfig(strings.TrimPrefix(srv.URL, "http://")))
	if err != nil {
		t.Fatal(err)
	}
	return f, c
}

func createReq() dataworks.CreateManualDagRequest {
	return dataworks.CreateManualDagRequest{
		ProjectName:    "test_project",
		FlowName:       "test_flow",
		Bizdate:        "2024-06-01",
		DagParameters:  dag.Params{"param_k1": "param_v1", "param_k2": "param_v2"},
		NodeParameters: map[int64]dag.Params{103180025: {"test": "$[yyyy-mm-dd]"}},
	}
}

// retried is how the activities read an error of the client: neither
// Throttled nor Permanent, so a later attempt may succeed.
func retried(err error) bool {
	_, ok := dataworks.AsError(err)
	return ok && !dataworks.Throttled(err) && !dataworks.Permanent(err)
}

func mustError(t *testing.T, err error) *dataworks.Error {
	t.Helper()
	e, ok := dataworks.AsError(err)
	if !ok {
		t.Fatalf("error %v (%T) is not a *dataworks.Error", err, err)
	}
	return e
}

func TestCreateManualDag2018Wire(t *testing.T) {
	f, c := startFake(t, jsonReply(200, liveCreateReply))
	id, err := c.CreateManualDag(context.Background(), createReq())
	if err != nil {
		t.Fatal(err)
	}
	if id != 700019657457 {
		t.Fatalf("DAG id = %d", id)
	}
	got := f.last(t)
	want := map[string]string{
		"Action":      "CreateManualDag",
		"Version":     dag.APIVersion2018,
		"ProjectName": "test_project",
		"FlowName":    "test_flow",
		"Bizdate":     "2024-06-01 00:00:00",
		"DagPara":     "param_k1=param_v1 param_k2=param_v2",
		"NodePara":    `{"103180025":"test=$[yyyy-mm-dd]"}`,
		"RegionId":    "cn-shanghai",
		"AccessKeyId": testKeyID,
		"Format":      "JSON",
	}
	for k, v := range want {
		if got.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, got.Get(k), v)
		}
	}
	if got.Get("Signature") == "" {
		t.Error("request is not signed")
	}
	if c.AccessKeyID() != testKeyID {
		t.Errorf("AccessKeyID() = %q", c.AccessKeyID())
	}
}

func TestCreateManualDag2020Wire(t *testing.T) {
	var inBody atomic.Bool
	f, c := startFake(t, func(w http.ResponseWriter, r *http.Request, p url.Values) {
		inBody.Store(r.PostForm.Get("FlowName") == "test_flow")
		jsonReply(200, `{"DagId":700000123123141,"RequestId":"AASF"}`)(w, r, p)
	})
	req := createReq()
	req.APIVersion = dag.APIVersion2020
	req.ProjectEnv = "dev"
	id, err := c.CreateManualDag(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if id != 700000123123141 {
		t.Fatalf("DAG id = %d", id)
	}
	got := f.last(t)
	want := map[string]string{
		"Action":         "CreateManualDag",
		"Version":        dag.APIVersion2020,
		"ProjectEnv":     "DEV",
		"BizDate":        "2024-06-01 00:00:00",
		"DagParameters":  `{"param_k1":"param_v1","param_k2":"param_v2"}`,
		"NodeParameters": `{"103180025":"test=$[yyyy-mm-dd]"}`,
	}
	for k, v := range want {
		if got.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, got.Get(k), v)
		}
	}
	if !inBody.Load() {
		t.Error("2020-05-18 parameters should travel in the form body")
	}
}

func TestSearchBothVersions(t *testing.T) {
	f, c := startFake(t, func(w http.ResponseWriter, r *http.Request, p url.Values) {
		if p.Get("Version") == dag.APIVersion2020 {
			jsonReply(200, `{"RequestId":"R","Instances":[{"InstanceId":11,"DagId":700019657457,"NodeId":5,"NodeName":"a","Status":"RUNNING","BeginRunningTime":1553822772177}]}`)(w, r, p)
			return
		}
		jsonReply(200, liveSearchReply)(w, r, p)
	})
	ctx := context.Background()
	list, err := c.SearchManualDagNodeInstance(ctx, dataworks.SearchManualDagNodeInstanceRequest{ProjectName: "p", DagID: 700019657457})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Status != dag.StatusWaitTime || list[1].Status != dag.StatusNotRun {
		t.Fatalf("2018 list = %+v", list)
	}
	if got := f.last(t); got.Get("Action") != "SearchManualDagNodeInstance" || got.Get("DagId") != "700019657457" {
		t.Errorf("2018 request = %v", got)
	}
	list, err = c.SearchManualDagNodeInstance(ctx, dataworks.SearchManualDagNodeInstanceRequest{ProjectName: "p", DagID: 700019657457, APIVersion: dag.APIVersion2020})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].NodeID != 5 || list[0].Status != dag.StatusRunning || list[0].BeginRunningTime.IsZero() {
		t.Fatalf("2020 list = %+v", list)
	}
	if got := f.last(t); got.Get("Action") != "GetManualDagInstances" || got.Get("ProjectEnv") != "PROD" {
		t.Errorf("2020 request = %v", got)
	}
}

func TestErrorRepliesThroughSDK(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		body       string
		wantCode   string
		wantStatus int
		check      func(error) bool
	}{
		{"throttling", 400, `{"RequestId":"R1","Code":"Throttling.User","Message":"Request was denied due to user flow control."}`, "Throttling.User", 400, dataworks.Throttled},
		{"daily quota", 400, `{"RequestId":"R1","Code":"Throttling.Api.Risk","Message":"quota"}`, "Throttling.Api.Risk", 400, dataworks.QuotaExhausted},
		{"numeric code makes the SDK panic", 400, `{"RequestId":"R2","Code":12345,"Message":"odd"}`, "12345", 400, dataworks.Permanent},
		{"no permission is a 500", 500, `{"RequestId":"R3","Code":"Forbidden.Wkbench.ProjectNoPermission","Message":"no"}`, "Forbidden.Wkbench.ProjectNoPermission", 500, dataworks.Permanent},
		{"service unavailable", 503, `{"RequestId":"R4","Code":"ServiceUnavailable","Message":"busy"}`, "ServiceUnavailable", 503, retried},
		{"HTML gateway page", 502, `<html><body><h1>502 Bad Gateway</h1></body></html>`, "HTTP502", 502, retried},
		{"HTML 429", 429, `<html>slow down</html>`, "Throttling", 429, dataworks.Throttled},
		{"business error in 200", 200, `{"RequestId":"R5","ReturnCode":"600011","ReturnMessage":"bizdate format","ReturnValue":0}`, "600011", 200, dataworks.Permanent},
		{"Success false in 200", 200, `{"RequestId":"R6","Success":false,"ErrorCode":"Invalid.Tenant","ErrorMessage":"x"}`, "Invalid.Tenant", 200, dataworks.Permanent},
		{"truncated JSON in 200", 200, `{"RequestId":"R7","ReturnCode":"0","ReturnValue":7000`, dataworks.CodeInvalidResponse, 200, retried},
		{"redirect is not followed", 302, ``, "HTTP302", 302, dataworks.Permanent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, c := startFake(t, func(w http.ResponseWriter, r *http.Request, p url.Values) {
				if tt.status == 302 {
					w.Header().Set("Location", "/elsewhere")
				}
				jsonReply(tt.status, tt.body)(w, r, p)
			})
			_, err := c.CreateManualDag(context.Background(), createReq())
			e := mustError(t, err)
			if e.Phase != dataworks.PhaseReplied || e.Code != tt.wantCode || e.HTTPStatus != tt.wantStatus {
				t.Fatalf("got phase %v code %q status %d (%v), want replied %q %d", e.Phase, e.Code, e.HTTPStatus, err, tt.wantCode, tt.wantStatus)
			}
			if !tt.check(err) {
				t.Errorf("predicate false for %v", err)
			}
			if dataworks.NotSent(err) && !dataworks.Throttled(err) {
				t.Errorf("a reply is not NotSent: %v", err)
			}
			if e.Action != "CreateManualDag" {
				t.Errorf("Action = %q", e.Action)
			}
		})
	}
}

// TestWrongSecret: DataWorks echoes its string to sign; neither the secret
// nor the signature may appear in the error, and the message says what to
// check.
func TestWrongSecret(t *testing.T) {
	var sig string
	_, c := startFake(t, func(w http.ResponseWriter, r *http.Request, p url.Values) {
		sig = p.Get("Signature")
		body, _ := json.Marshal(map[string]string{
			"RequestId": "R", "Code": "SignatureDoesNotMatch", "HostId": "dataworks.cn-shanghai.aliyuncs.com",
			"Message": "Specified signature is not matched with our calculation. server string to sign is:POST&%2F&AccessKeyId%3D" +
				testKeyID + "%26Signature%3D" + url.QueryEscape(sig) + "%26SecurityToken%3D" + testSecret,
			"Recommend": "https://api.aliyun.com/troubleshoot?q=SignatureDoesNotMatch",
		})
		jsonReply(400, string(body))(w, r, p)
	})
	_, err := c.CreateManualDag(context.Background(), createReq())
	if !dataworks.Permanent(err) || retried(err) || dataworks.NotSent(err) {
		t.Fatalf("wrong secret: Permanent=%v retried=%v NotSent=%v", dataworks.Permanent(err), retried(err), dataworks.NotSent(err))
	}
	msg := err.Error()
	for _, leak := range []string{testSecret, sig, url.QueryEscape(sig)} {
		if strings.Contains(msg, leak) {
			t.Errorf("error message leaks %q: %s", leak, msg)
		}
	}
	for _, want := range []string{"ALIBABA_CLOUD_ACCESS_KEY_SECRET", testKeyID, "SignatureDoesNotMatch"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error message lacks %q: %s", want, msg)
		}
	}
}

func TestTransportPhases(t *testing.T) {
	t.Run("closed port is not sent", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		c, err := New(testConfig(addr))
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.CreateManualDag(context.Background(), createReq())
		e := mustError(t, err)
		if e.Phase != dataworks.PhaseNotSent || e.Code != dataworks.CodeTransport || !dataworks.NotSent(err) || !retried(err) {
			t.Fatalf("got %v phase %v", err, e.Phase)
		}
		if strings.Contains(err.Error(), "Signature") {
			t.Errorf("transport error shows the signed URL: %v", err)
		}
	})
	t.Run("accept and close is unknown", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go func() {
			for {
				conn, err := ln.Accept()
				if err != nil {
					return
				}
				buf := make([]byte, 4096)
				_, _ = conn.Read(buf) // take the request, then hang up
				conn.Close()
			}
		}()
		c, err := New(testConfig(ln.Addr().String()))
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.CreateManualDag(context.Background(), createReq())
		e := mustError(t, err)
		if e.Phase != dataworks.PhaseUnknown || dataworks.NotSent(err) || !retried(err) {
			t.Fatalf("got %v phase %v", err, e.Phase)
		}
	})
	t.Run("reply timeout is unknown", func(t *testing.T) {
		release := make(chan struct{})
		f := &fakeDataWorks{reply: func(http.ResponseWriter, *http.Request, url.Values) { <-release }}
		srv := httptest.NewServer(f)
		defer srv.Close()
		defer close(release) // before srv.Close, which waits for the handler
		cfg := testConfig(strings.TrimPrefix(srv.URL, "http://"))
		cfg.RequestTimeout = 200 * time.Millisecond
		c, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		_, err = c.CreateManualDag(context.Background(), createReq())
		if e := mustError(t, err); e.Phase != dataworks.PhaseUnknown {
			t.Fatalf("got %v phase %v", err, e.Phase)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("timeout took %v", d)
		}
	})
}

func TestContext(t *testing.T) {
	t.Run("done before the call", func(t *testing.T) {
		f, c := startFake(t, jsonReply(200, liveCreateReply))
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := c.CreateManualDag(ctx, createReq())
		e := mustError(t, err)
		if e.Phase != dataworks.PhaseNotSent || !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v phase %v", err, e.Phase)
		}
		f.mu.Lock()
		n := len(f.got)
		f.mu.Unlock()
		if n != 0 {
			t.Fatalf("server got %d requests", n)
		}
	})
	t.Run("cancelled in flight", func(t *testing.T) {
		release := make(chan struct{})
		defer close(release)
		arrived := make(chan struct{}, 1)
		_, c := startFake(t, func(http.ResponseWriter, *http.Request, url.Values) {
			arrived <- struct{}{}
			<-release
		})
		ctx, cancel := context.WithCancel(context.Background())
		go func() { <-arrived; cancel() }()
		start := time.Now()
		_, err := c.SearchManualDagNodeInstance(ctx, dataworks.SearchManualDagNodeInstanceRequest{ProjectName: "p", DagID: 1})
		e := mustError(t, err)
		if e.Phase != dataworks.PhaseUnknown || !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v phase %v", err, e.Phase)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("cancellation took %v", d)
		}
	})
}

func TestHugeReplyIsAnError(t *testing.T) {
	_, c := startFake(t, func(w http.ResponseWriter, _ *http.Request, _ url.Values) {
		w.WriteHeader(200)
		chunk := []byte(strings.Repeat("x", 1<<20))
		_, _ = w.Write([]byte(`{"Data":"`))
		for range 50 {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
	c.maxReply = 1 << 20 // the 16 MiB default is slow to fill under -race
	_, err := c.SearchManualDagNodeInstance(context.Background(), dataworks.SearchManualDagNodeInstanceRequest{ProjectName: "p", DagID: 1})
	e := mustError(t, err)
	if e.Code != dataworks.CodeInvalidResponse || e.Phase != dataworks.PhaseReplied {
		t.Fatalf("got %v", err)
	}
}

// TestConcurrentCallers runs many callers through a small pool under -race:
// the SDK clients must never be shared, and the pool must bound concurrency.
func TestConcurrentCallers(t *testing.T) {
	var inFlight, peak atomic.Int32
	f := &fakeDataWorks{reply: func(w http.ResponseWriter, r *http.Request, p url.Values) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			old := peak.Load()
			if n <= old || peak.CompareAndSwap(old, n) {
				break
			}
		}
		time.Sleep(2 * time.Millisecond)
		jsonReply(200, `{"RequestId":"R","ReturnCode":"0","ReturnValue":`+p.Get("FlowName")[1:]+`}`)(w, r, p)
	}}
	srv := httptest.NewServer(f)
	defer srv.Close()
	cfg := testConfig(strings.TrimPrefix(srv.URL, "http://"))
	cfg.PoolSize = 3
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	const callers = 60
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := createReq()
			req.FlowName = "f" + strconv.Itoa(i+1)
			id, err := c.CreateManualDag(context.Background(), req)
			switch {
			case err != nil:
				errs <- err
			case id != int64(i+1):
				errs <- errors.New("reply crossed to another caller")
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if p := peak.Load(); p > 3 {
		t.Errorf("%d calls in flight, pool size 3", p)
	}
}

func TestRequestValidation(t *testing.T) {
	_, c := startFake(t, func(http.ResponseWriter, *http.Request, url.Values) {
		t.Error("an invalid request reached the server")
	})
	ctx := context.Background()
	mod := func(f func(*dataworks.CreateManualDagRequest)) dataworks.CreateManualDagRequest {
		r := createReq()
		f(&r)
		return r
	}
	creates := map[string]dataworks.CreateManualDagRequest{
		"empty project":   mod(func(r *dataworks.CreateManualDagRequest) { r.ProjectName = "" }),
		"empty flow":      mod(func(r *dataworks.CreateManualDagRequest) { r.FlowName = " " }),
		"bad bizdate":     mod(func(r *dataworks.CreateManualDagRequest) { r.Bizdate = "2024-06-01 12:00:00" }),
		"bad dag param":   mod(func(r *dataworks.CreateManualDagRequest) { r.DagParameters = dag.Params{"a": "b c"} }),
		"bad node id":     mod(func(r *dataworks.CreateManualDagRequest) { r.NodeParameters = map[int64]dag.Params{-1: {}} }),
		"bad api version": mod(func(r *dataworks.CreateManualDagRequest) { r.APIVersion = "2019-01-01" }),
		"DEV under 2018":  mod(func(r *dataworks.CreateManualDagRequest) { r.ProjectEnv = dag.ProjectEnvDev }),
		"bad env":         mod(func(r *dataworks.CreateManualDagRequest) { r.ProjectEnv = "STAGING"; r.APIVersion = dag.APIVersion2020 }),
	}
	for name, req := range creates {
		_, err := c.CreateManualDag(ctx, req)
		e := mustError(t, err)
		if e.Phase != dataworks.PhaseNotSent || e.Code != dataworks.CodeInvalidInput || !dataworks.Permanent(err) || retried(err) || !dataworks.NotSent(err) {
			t.Errorf("%s: %v (phase %v code %s)", name, err, e.Phase, e.Code)
		}
	}
	_, err := c.SearchManualDagNodeInstance(ctx, dataworks.SearchManualDagNodeInstanceRequest{ProjectName: "p"})
	if e := mustError(t, err); e.Code != dataworks.CodeInvalidInput {
		t.Errorf("zero DagID: %v", err)
	}
	err = c.StopInstance(ctx, dataworks.InstanceRequest{InstanceID: 1})
	if e := mustError(t, err); e.Code != dataworks.CodeUnsupported || !dataworks.Permanent(err) || !strings.Contains(err.Error(), dag.APIVersion2020) {
		t.Errorf("StopInstance under 2018: %v", err)
	}
}

func TestInstanceOps2020(t *testing.T) {
	f, c := startFake(t, func(w http.ResponseWriter, r *http.Request, p url.Values) {
		switch p.Get("Action") {
		case "GetInstanceLog":
			jsonReply(200, `{"Success":true,"HttpStatusCode":200,"Data":"line 1\nline 2","RequestId":"R"}`)(w, r, p)
		case "RestartInstance":
			jsonReply(200, `{"Success":true,"Data":false,"RequestId":"R"}`)(w, r, p)
		default:
			jsonReply(200, `{"Success":true,"Data":true,"RequestId":"R"}`)(w, r, p)
		}
	})
	ctx := context.Background()
	if err := c.StopInstance(ctx, dataworks.InstanceRequest{InstanceID: 42, APIVersion: dag.APIVersion2020}); err != nil {
		t.Fatal(err)
	}
	if got := f.last(t); got.Get("Action") != "StopInstance" || got.Get("InstanceId") != "42" || got.Get("ProjectEnv") != "PROD" {
		t.Errorf("StopInstance request = %v", got)
	}
	if err := c.RestartInstance(ctx, dataworks.InstanceRequest{InstanceID: 42, APIVersion: dag.APIVersion2020}); mustError(t, err).Code != dataworks.CodeUnsuccessful {
		t.Errorf("Data=false: %v", err)
	}
	log, err := c.GetInstanceLog(ctx, dataworks.InstanceLogRequest{InstanceID: 42, APIVersion: dag.APIVersion2020})
	if err != nil || log != "line 1\nline 2" {
		t.Fatalf("log = %q, %v", log, err)
	}
}

func TestSDKPanicIsAnError(t *testing.T) {
	_, c := startFake(t, jsonReply(400, `{"RequestId":"R2","Code":12345,"Message":"odd"}`))
	_, err := c.CreateManualDag(context.Background(), createReq())
	e := mustError(t, err)
	if e.Code != "12345" || e.Err == nil || !strings.Contains(e.Err.Error(), "panicked") {
		t.Fatalf("the SDK is known to panic on a numeric Code; got %v (inner %v)", err, e.Err)
	}

	// A panic or refusal before any request was handed to the transport.
	ctx := context.Background()
	if e := classify(&callState{ctx: ctx}, nil, "boom"); e.Phase != dataworks.PhaseNotSent || e.Code != dataworks.CodeSDKPanic {
		t.Errorf("panic before sending: %+v", e)
	}
	if e := classify(&callState{ctx: ctx}, errors.New("no"), nil); e.Phase != dataworks.PhaseNotSent || e.Code != dataworks.CodeClientError {
		t.Errorf("SDK refusal: %+v", e)
	}
}
