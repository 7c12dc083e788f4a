package workflows

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth/credentials"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/manualdag/manualdag/activities"
	"github.com/manualdag/manualdag/dag"
	"github.com/manualdag/manualdag/dataworks/aliyun"
)

// TestCorpus is the bad-input and hostile-response corpus of
// docs/reliability.md. Every case runs RunManualDag from raw JSON input (as
// the Temporal CLI or any client sends it; the starter validates with the
// same ParseInput and Validate first) with the real activities and the real
// aliyun.Client, over HTTP to a hostile DataWorks that answers each call
// as the case says and counts the calls. Each case names its documented
// behaviour: the outcome or error type, a phrase of the message, and the
// number of calls DataWorks saw (0 for every input of ours: refused before
// anything is scheduled). A panic anywhere fails the case (the SDK would
// report a PanicError, which no case expects).
func TestCorpus(t *testing.T) {
	const good = `{"projectName":"demo_project","flowName":"daily_sales","bizdate":"2024-06-01","listSettle":"1s"}`
	with := func(fields string) string { return strings.TrimSuffix(good, "}") + "," + fields + "}" }
	long := strings.Repeat("x", 300)

	type tc struct {
		name   string
		input  string
		create []reply // the n-th create gets create[n], the last one for ever
		search []reply
		// Documented behaviour.
		errType string // "" = the workflow completes
		outcome dag.Outcome
		msg     string
		creates int // calls DataWorks saw
		// searches is the number of searches; -1 = at least one.
		searches int
	}
	input := func(name, in, msg string) tc {
		// The refusal carries no report: there is no DAG to report on.
		return tc{name: name, input: in, errType: dag.ErrInvalidInput, msg: msg}
	}
	cases := []tc{
		// Bad input: refused by the workflow before it schedules anything.
		input("bizdate month 13", `{"projectName":"p","flowName":"f","bizdate":"2024-13-01"}`, "2024-13-01"),
		input("bizdate without dashes", `{"projectName":"p","flowName":"f","bizdate":"20240601"}`, "yyyy-MM-dd"),
		input("bizdate as RFC 3339", `{"projectName":"p","flowName":"f","bizdate":"2024-06-01T00:00:00Z"}`, "yyyy-MM-dd"),
		input("bizdate February 30", `{"projectName":"p","flowName":"f","bizdate":"2024-02-30"}`, "2024-02-30"),
		input("bizdate at noon", `{"projectName":"p","flowName":"f","bizdate":"2024-06-01 12:00:00"}`, "00:00:00"),
		input("bizdate a number", `{"projectName":"p","flowName":"f","bizdate":20240601}`, "bizdate"),
		input("default bizdate, bad time zone", `{"projectName":"p","flowName":"f","timezone":"Mars/Olympus_Mons"}`, "Mars/Olympus_Mons"),
		input("time zone beside a bizdate", `{"projectName":"p","flowName":"f","bizdate":"2024-06-01","timezone":"UTC"}`, "timezone"),
		input("no project", `{"flowName":"f","bizdate":"2024-06-01"}`, "projectName is required"),
		input("empty flow", `{"projectName":"p","flowName":"","bizdate":"2024-06-01"}`, "flowName is required"),
		input("oversized flow name", `{"projectName":"p","flowName":"`+long+`","bizdate":"2024-06-01"}`, "at most 256"),
		input("flow name with trailing space", `{"projectName":"p","flowName":"f ","bizdate":"2024-06-01"}`, "white space"),
		input("project name with a control character", `{"projectName":"p\u0007","flowName":"f","bizdate":"2024-06-01"}`, "control character"),
		input("parameter value with a space", with(`"dagParameters":{"k":"a b"}`), "white space"),
		input("parameter value with a newline", with(`"dagParameters":{"k":"a\nb"}`), "white space"),
		input("parameter name with =", with(`"dagParameters":{"a=b":"c"}`), "a=b"),
		input("parameter with an empty name", with(`"dagParameters":"=v"`), "name"),
		input("raw parameters without =", with(`"dagParameters":"novalue"`), "novalue"),
		input("parameters as an array", with(`"dagParameters":[1,2]`), "object"),
		input("parameter value an object", with(`"dagParameters":{"k":{"x":1}}`), "strings, numbers or booleans"),
		input("node id not a number", with(`"nodeParameters":{"ods_orders":"k=v"}`), "ods_orders"),
		input("node id zero", with(`"nodeParameters":{"0":"k=v"}`), "node id"),
		input("node id negative", with(`"nodeParameters":{"-5":"k=v"}`), "-5"),
		input("NodePara not JSON (a string)", with(`"nodeParameters":"{103180025:k=v"`), "nodeParameters"),
		input("node parameter value with a space", with(`"nodeParameters":{"103180025":{"k":"a b"}}`), "white space"),
		input("poll interval zero", with(`"poll":{"initialInterval":"0s"}`), "positive"),
		input("poll interval negative", with(`"poll":{"initialInterval":"-10s"}`), "positive"),
		input("poll interval 1ns", with(`"poll":{"initialInterval":"1ns"}`), "initialInterval"),
		input("poll max 10 years", with(`"poll":{"maxInterval":"87600h"}`), "maxInterval"),
		input("timeout 10 years", with(`"timeout":"87600h"`), "timeout"),
		input("timeout a bare number", with(`"timeout":7200`), "must be a string"),
		input("multiplier below 1", with(`"poll":{"multiplier":0.5}`), "multiplier"),
		input("jitter above 0.5", with(`"poll":{"jitter":0.9}`), "jitter"),
		input("a dropped option (continueAsNewEvery)", with(`"continueAsNewEvery":100000`), "unknown field"),
		input("blocked grace zero", with(`"blockedGrace":"0s"`), "positive"),
		input("misspelt field", `{"projectName":"p","flwoName":"f","bizdate":"2024-06-01"}`, "unknown field"),
		input("credential: accessKeySecret", with(`"accessKeySecret":"xyz"`), "credentials belong to the worker's environment"),
		input("credential: ALIBABA_CLOUD_ACCESS_KEY_ID", with(`"ALIBABA_CLOUD_ACCESS_KEY_ID":"LTAI"`), "credentials belong to the worker's environment"),
		input("credential: password", with(`"password":"hunter2"`), "looks like a credential"),
		input("not an object", `["p","f"]`, "not a JSON object"),
		input("unknown API version", with(`"apiVersion":"2019-01-01"`), "2019-01-01"),
		input("projectEnv under 2018-06-01", with(`"projectEnv":"DEV"`), "projectEnv"),
		input("unknown onDeadline", with(`"onDeadline":"explode"`), "onDeadline"),
		input("unknown failFast", with(`"failFast":"true"`), "failFast"),
		input("failFast beside waitForRecovery", with(`"failFast":"stop","failurePolicy":{"waitForRecovery":"30m"}`), "leave one of them out"),
		input("failure watch 1s", with(`"failureWatch":"1s"`), "failureWatch 1s is out of range: use 10s to 1h0m0s"),
		input("failure watch a day", with(`"failureWatch":"24h"`), "failureWatch"),
		input("a dropped option (logTail)", with(`"logTail":{"maxBytesPerNode":10}`), "unknown field"),

		// Hostile replies to the create: never a second create.
		{name: "create: HTML 502 page", input: good, create: []reply{htmlBadGateway}, errType: dag.ErrTriggerOutcomeUnknown, outcome: dag.OutcomeFailed, msg: "may or may not have started", creates: 1},
		{name: "create: truncated JSON", input: good, create: []reply{ok200(`{"RequestId":"R","ReturnCode":"0","ReturnValue":7000`)}, errType: dag.ErrTriggerOutcomeUnknown, outcome: dag.OutcomeFailed, msg: "may or may not have started", creates: 1},
		// The client decodes error bodies itself (the SDK would panic on a
		// numeric Code): a 4xx refusal is permanent, and says its status.
		{name: "create: numeric Code in a 400", input: good, create: []reply{status(400, `{"RequestId":"R","Code":400,"Message":"bad"}`)}, errType: dag.ErrPermanent, outcome: dag.OutcomeFailed, msg: "HTTP400", creates: 1},
		{name: "create: numeric Code in a 500", input: good, create: []reply{status(500, `{"RequestId":"R","Code":500,"Message":"bad"}`)}, errType: dag.ErrTriggerOutcomeUnknown, outcome: dag.OutcomeFailed, msg: "may or may not have started", creates: 1},
		{name: "create: Success false in a 200", input: good, create: []reply{ok200(`{"RequestId":"R","Success":false,"ErrorCode":"Invalid.Tenant.FlowNotExist","ErrorMessage":"no such flow"}`)}, errType: dag.ErrPermanent, outcome: dag.OutcomeFailed, msg: "Invalid.Tenant.FlowNotExist", creates: 1},
		{name: "create: ReturnCode 600011 in a 200", input: good, create: []reply{ok200(`{"RequestId":"R","ReturnCode":"600011","ReturnMessage":"bizdate format"}`)}, errType: dag.ErrPermanent, outcome: dag.OutcomeFailed, msg: "600011", creates: 1},
		{name: "create: DAG id zero", input: good, create: []reply{ok200(`{"RequestId":"R","ReturnCode":"0","ReturnValue":0}`)}, errType: dag.ErrTriggerOutcomeUnknown, outcome: dag.OutcomeFailed, msg: "may or may not have started", creates: 1},
		{name: "create: negative DAG id", input: good, create: []reply{ok200(`{"RequestId":"R","ReturnCode":"0","ReturnValue":-7}`)}, errType: dag.ErrTriggerOutcomeUnknown, outcome: dag.OutcomeFailed, msg: "may or may not have started", creates: 1},
		{name: "create: 50 MB body", input: good, create: []reply{huge}, errType: dag.ErrTriggerOutcomeUnknown, outcome: dag.OutcomeFailed, msg: "exceeds", creates: 1},
		{name: "create: 503 ServiceUnavailable", input: good, create: []reply{status(503, `{"RequestId":"R","Code":"ServiceUnavailable","Message":"later"}`)}, errType: dag.ErrTriggerOutcomeUnknown, outcome: dag.OutcomeFailed, msg: "ServiceUnavailable", creates: 1},
		{name: "create: throttled twice, then created", input: good, create: []reply{throttled, throttled, created}, search: []reply{searchOK(allSucceeded)}, outcome: dag.OutcomeSucceeded, creates: 3, searches: -1},

		// Hostile replies to the search: a read may be repeated; the watch
		// goes on, or stops with a clear final error. A watch that stops
		// (DataWorksPermanent) reports the DAG as last seen (RUNNING): the
		// run itself goes on in DataWorks.
		{name: "search: HTML 502 page, then good", input: good, create: []reply{created}, search: []reply{htmlBadGateway, searchOK(allSucceeded)}, outcome: dag.OutcomeSucceeded, creates: 1, searches: 3},
		{name: "search: truncated JSON, then good", input: good, create: []reply{created}, search: []reply{ok200(`{"Data":{"NodeInsInfo":[{"InstanceId":1,`), searchOK(allSucceeded)}, outcome: dag.OutcomeSucceeded, creates: 1, searches: 3},
		{name: "search: numeric Code, then good", input: good, create: []reply{created}, search: []reply{status(500, `{"RequestId":"R","Code":500,"Message":"x"}`), searchOK(allSucceeded)}, outcome: dag.OutcomeSucceeded, creates: 1, searches: 3},
		{name: "search: Success false in a 200", input: good, create: []reply{created}, search: []reply{ok200(`{"RequestId":"R","Success":false,"ErrCode":"1234","ErrMsg":"refused"}`)}, errType: dag.ErrWatchLost, outcome: dag.OutcomeRunning, msg: "1234", creates: 1, searches: -1},
		{name: "search: Success false without a code", input: good, create: []reply{created}, search: []reply{ok200(`{"RequestId":"R","Success":false}`)}, errType: dag.ErrWatchLost, outcome: dag.OutcomeRunning, msg: "Unsuccessful", creates: 1, searches: -1},
		{name: "search: unknown status 99 for ever", input: with(`"timeout":"10m"`), create: []reply{created}, search: []reply{searchOK(`{"InstanceId":1,"NodeName":"a","Status":99}`)}, errType: dag.ErrDagTimedOut, outcome: dag.OutcomeTimedOut, msg: "a status DataWorks does not document", creates: 1, searches: -1},
		{name: "search: unknown status 99, then success", input: good, create: []reply{created}, search: []reply{searchOK(`{"InstanceId":1,"NodeName":"a","Status":99}`), searchOK(`{"InstanceId":1,"NodeName":"a","Status":6},` + allSucceeded)}, outcome: dag.OutcomeSucceeded, creates: 1, searches: 3},
		{name: "search: negative instance id, then good", input: good, create: []reply{created}, search: []reply{searchOK(`{"InstanceId":-1,"NodeName":"a","Status":6}`), searchOK(allSucceeded)}, outcome: dag.OutcomeSucceeded, creates: 1, searches: 3},
		{name: "search: zero instance id, then good", input: good, create: []reply{created}, search: []reply{searchOK(`{"InstanceId":0,"NodeName":"a","Status":6}`), searchOK(allSucceeded)}, outcome: dag.OutcomeSucceeded, creates: 1, searches: 3},
		{name: "search: duplicated instance ids", input: good, create: []reply{created}, search: []reply{searchOK(allSucceeded + "," + allSucceeded)}, outcome: dag.OutcomeSucceeded, creates: 1, searches: 2},
		{name: "search: an instance of another DAG, then good", input: good, create: []reply{created}, search: []reply{searchOK(`{"InstanceId":1,"DagId":5,"NodeName":"a","Status":6}`), searchOK(allSucceeded)}, outcome: dag.OutcomeSucceeded, creates: 1, searches: 3},
		{name: "search: 50 MB body, then good", input: good, create: []reply{created}, search: []reply{huge, searchOK(allSucceeded)}, outcome: dag.OutcomeSucceeded, creates: 1, searches: 3},
		{name: "search: empty list for ever", input: good, create: []reply{created}, search: []reply{searchOK("")}, errType: dag.ErrDagNotListed, outcome: dag.OutcomeRunning, msg: "no node instances", creates: 1, searches: -1},
		{name: "search: unknown DAG id for ever", input: good, create: []reply{created}, search: []reply{ok200(`{"RequestId":"R","Success":false,"ErrCode":"11020293069","ErrMsg":"invalid dag"}`)}, errType: dag.ErrDagNotListed, outcome: dag.OutcomeRunning, msg: "no node instances", creates: 1, searches: -1},
		{name: "search: 403 Forbidden.Access", input: good, create: []reply{created}, search: []reply{status(403, `{"RequestId":"R","Code":"Forbidden.Access","Message":"denied"}`)}, errType: dag.ErrPermanent, outcome: dag.OutcomeRunning, msg: "Forbidden.Access", creates: 1, searches: 1},
		{name: "search: throttled three times, then good", input: good, create: []reply{created}, search: []reply{throttled, throttled, throttled, searchOK(allSucceeded)}, outcome: dag.OutcomeSucceeded, creates: 1, searches: 5},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dw := &hostileDW{replies: map[string][]reply{"CreateManualDag": c.create, "SearchManualDagNodeInstance": c.search}}
			srv := httptest.NewServer(dw)
			defer srv.Close()
			client, err := aliyun.New(aliyun.Config{
				Endpoint:   strings.TrimPrefix(srv.URL, "http://"),
				Scheme:     "http",
				Credential: credentials.NewStaticAKCredentialsProvider("corpus-key-id", "corpus-secret"),
				// Reading a 50 MB body up to MaxReplyBytes took over the
				// default 10s under -race on a loaded machine: the call then
				// ended on its timeout, not on the size limit the case checks.
				// Below the create's 30s heartbeat timeout, which the test
				// environment enforces in real time.
				RequestTimeout: 25 * time.Second,
			})
			if err != nil {
				t.Fatal(err)
			}
			var ts testsuite.WorkflowTestSuite
			ts.SetLogger(log.NewStructuredLogger(slog.New(slog.DiscardHandler)))
			env := ts.NewTestWorkflowEnvironment()
			env.SetStartTime(time.Date(2024, 6, 2, 1, 0, 0, 0, time.UTC))
			// Activities make real HTTP calls (a 50 MB body under -race takes seconds).
			env.SetTestTimeout(time.Minute)
			env.RegisterWorkflowWithOptions(RunManualDag, workflow.RegisterOptions{Name: WorkflowName})
			env.RegisterActivity(&activities.Activities{DW: client, Rand: func() float64 { return 0.5 }, RecordIntent: heartbeatIntent})
			env.RegisterActivity(&activities.Runs{Client: noOtherRuns{}})
			// Raw JSON, decoded by the workflow as from any client.
			env.ExecuteWorkflow(WorkflowName, json.RawMessage(c.input))
			if !env.IsWorkflowCompleted() {
				t.Fatal("the workflow did not complete")
			}
			err = env.GetWorkflowError()
			var rep dag.DagReport
			if err == nil {
				if gerr := env.GetWorkflowResult(&rep); gerr != nil {
					t.Fatal(gerr)
				}
			} else {
				rep, _ = ReportFromError(err)
			}
			creates, searches := dw.count("CreateManualDag"), dw.count("SearchManualDagNodeInstance")
			t.Logf("%s -> %s %q; %d create(s), %d search(es)", c.name, typeOf(err), firstLine(err), creates, searches)
			if got := typeOf(err); got != c.errType {
				t.Errorf("error type %q, want %q: %v", got, c.errType, err)
			}
			if rep.Outcome != c.outcome {
				t.Errorf("outcome %s, want %s", rep.Outcome, c.outcome)
			}
			if err != nil && !strings.Contains(err.Error(), c.msg) {
				t.Errorf("message %q does not say %q", err.Error(), c.msg)
			}
			if err != nil && strings.Contains(err.Error(), "corpus-secret") {
				t.Errorf("the message holds the secret: %v", err)
			}
			if creates != c.creates {
				t.Errorf("%d creates, want %d", creates, c.creates)
			}
			if c.searches >= 0 && searches != c.searches || c.searches < 0 && searches == 0 {
				t.Errorf("%d searches, want %d (-1: some)", searches, c.searches)
			}
		})
	}
	if len(cases) < 40 {
		t.Errorf("the corpus has %d cases; docs/reliability.md promises at least 40", len(cases))
	}
}

func typeOf(err error) string {
	var appErr *temporal.ApplicationError
	if err == nil {
		return ""
	}
	if errors.As(err, &appErr) {
		return appErr.Type()
	}
	return fmt.Sprintf("%T", err)
}

func firstLine(err error) string {
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) {
		return fmt.Sprint(err)
	}
	s, _, _ := strings.Cut(appErr.Message(), "\n")
	if len(s) > 160 {
		s = s[:160] + "…"
	}
	return s
}

// reply writes one HTTP answer.
type reply func(w http.ResponseWriter)

func status(code int, body string) reply {
	return func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_, _ = w.Write([]byte(body))
	}
}

func ok200(body string) reply { return status(http.StatusOK, body) }

var (
	created   = ok200(fmt.Sprintf(`{"RequestId":"R","ReturnCode":"0","ReturnErrorSolution":"","ReturnMessage":"","ReturnValue":%d}`, testDagID))
	throttled = status(http.StatusBadRequest, `{"RequestId":"R","Code":"Throttling.User","Message":"Request was denied due to user flow control."}`)

	htmlBadGateway reply = func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadGateway)
		_, _ = w.Write([]byte("<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center><hr><center>Tengine</center></body></html>"))
	}

	// huge is a 50 MB body that starts like a reply.
	huge reply = func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(`{"RequestId":"R","Pad":"`))
		chunk := bytes.Repeat([]byte("x"), 1<<20)
		for range 50 {
			if _, err := w.Write(chunk); err != nil {
				return // the client hung up, as it should
			}
		}
		_, _ = w.Write([]byte(`"}`))
	}
)

const allSucceeded = `{"InstanceId":705772600901,"NodeName":"vn_start","Status":6},{"InstanceId":705772600897,"NodeName":"ddl_ods_pagerank","Status":6}`

// searchOK is a live-format search reply holding the instances.
func searchOK(instances string) reply {
	return ok200(`{"Data":{"NodeInsInfo":[` + instances + `]},"ErrCode":"0","ErrMsg":"","RequestId":"R","Success":true}`)
}

// hostileDW answers each action's n-th call with its n-th reply (the last
// one for ever) and counts the calls. It checks no signature: what is
// tested is what the client makes of the replies.
type hostileDW struct {
	mu      sync.Mutex
	replies map[string][]reply
	calls   map[string]int
}

func (h *hostileDW) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	action := r.Form.Get("Action")
	h.mu.Lock()
	if h.calls == nil {
		h.calls = map[string]int{}
	}
	n := h.calls[action]
	h.calls[action]++
	rs := h.replies[action]
	h.mu.Unlock()
	if len(rs) == 0 {
		status(http.StatusNotFound, `{"RequestId":"R","Code":"InvalidAction.NotFound","Message":"not in this corpus case"}`)(w)
		return
	}
	rs[min(n, len(rs)-1)](w)
}

func (h *hostileDW) count(action string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.calls[action]
}
