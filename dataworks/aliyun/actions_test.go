package aliyun_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth/credentials"

	"github.com/manualdag/manualdag/dag"
	"github.com/manualdag/manualdag/dataworks"
	"github.com/manualdag/manualdag/dataworks/aliyun"
)

// calls invokes every DataWorks call of the Client once, under version.
// A new call must be added here (TestEveryCallIsExercised), so that
// TestActionsAreWhatTheClientSends sees its action. The project and flow are
// digits, which every version accepts (2024-05-18 takes nothing else).
var calls = map[string]func(context.Context, *aliyun.Client, string){
	"CreateManualDag": func(ctx context.Context, c *aliyun.Client, v string) {
		_, _ = c.CreateManualDag(ctx, dataworks.CreateManualDagRequest{ProjectName: "1", FlowName: "2", Bizdate: "2024-06-01", APIVersion: v})
	},
	"CreateWorkflowInstances": func(ctx context.Context, c *aliyun.Client, v string) {
		_, _ = c.CreateWorkflowInstances(ctx, dataworks.CreateManualDagRequest{ProjectName: "1", FlowName: "2", Bizdate: "2024-06-01", Marker: "m", APIVersion: v})
	},
	"GetCreateWorkflowInstancesResult": func(ctx context.Context, c *aliyun.Client, v string) {
		_, _ = c.GetCreateWorkflowInstancesResult(ctx, dataworks.CreateResultRequest{OperationID: "op", APIVersion: v})
	},
	"ListWorkflowInstances": func(ctx context.Context, c *aliyun.Client, v string) {
		_, _ = c.ListWorkflowInstances(ctx, dataworks.ListWorkflowInstancesRequest{ProjectName: "1", FlowName: "2", Bizdate: "2024-06-01", APIVersion: v})
	},
	"SearchManualDagNodeInstance": func(ctx context.Context, c *aliyun.Client, v string) {
		_, _ = c.SearchManualDagNodeInstance(ctx, dataworks.SearchManualDagNodeInstanceRequest{ProjectName: "1", DagID: 1, Bizdate: "2024-06-01", APIVersion: v})
	},
	"StopInstance": func(ctx context.Context, c *aliyun.Client, v string) {
		_ = c.StopInstance(ctx, dataworks.InstanceRequest{InstanceID: 1, APIVersion: v})
	},
	"RestartInstance": func(ctx context.Context, c *aliyun.Client, v string) {
		_ = c.RestartInstance(ctx, dataworks.InstanceRequest{InstanceID: 1, APIVersion: v})
	},
	"GetInstanceLog": func(ctx context.Context, c *aliyun.Client, v string) {
		_, _ = c.GetInstanceLog(ctx, dataworks.InstanceLogRequest{InstanceID: 1, APIVersion: v})
	},
}

// Every exported method that takes a context is a DataWorks call, and calls
// has it.
func TestEveryCallIsExercised(t *testing.T) {
	ctxType := reflect.TypeFor[context.Context]()
	typ := reflect.TypeFor[*aliyun.Client]()
	for i := range typ.NumMethod() {
		m := typ.Method(i)
		if m.Type.NumIn() > 1 && m.Type.In(1) == ctxType {
			if _, ok := calls[m.Name]; !ok {
				t.Errorf("(*Client).%s is not in calls: add it, and its actions to actionsByVersion", m.Name)
			}
		}
	}
}

// Actions(version) is exactly what the Client puts on the wire under that
// version: the RAM policies checked against it then allow every call the
// worker makes, and nothing more.
func TestActionsAreWhatTheClientSends(t *testing.T) {
	var mu sync.Mutex
	sent := map[string]bool{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		mu.Lock()
		sent[r.Form.Get("Action")] = true
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"RequestId":"r"}`))
	}))
	defer srv.Close()
	c, err := aliyun.New(aliyun.Config{
		Endpoint: strings.TrimPrefix(srv.URL, "http://"), Scheme: "http",
		Credential: credentials.NewStaticAKCredentialsProvider("id", "secret"), RequestTimeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	versions := aliyun.APIVersions()
	if !slices.Equal(versions, slices.Sorted(slices.Values(dag.APIVersions))) {
		t.Fatalf("APIVersions() = %q, but the client accepts %q: give each version its actions in actionsByVersion", versions, dag.APIVersions)
	}
	for _, v := range versions {
		clear(sent)
		for _, call := range calls {
			call(t.Context(), c, v)
		}
		var got []string
		for a := range sent {
			got = append(got, a)
		}
		slices.Sort(got)
		if want := aliyun.Actions(v); !slices.Equal(got, want) {
			t.Errorf("%s: the client sent %q, Actions says %q", v, got, want)
		}
	}
	if aliyun.Actions("2019-01-01") != nil {
		t.Error("Actions of an unknown version")
	}
}
