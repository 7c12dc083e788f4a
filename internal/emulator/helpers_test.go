package emulator

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth/credentials"
	sdkerrors "github.com/aliyun/alibaba-cloud-sdk-go/sdk/errors"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	dataworks "github.com/aliyun/alibaba-cloud-sdk-go/services/dataworks-public"
	"github.com/stretchr/testify/require"
)

const (
	testKeyID  = "test-key-id"
	testSecret = "test-key-secret"
	testRegion = "cn-shanghai"
	testBizday = "2024-03-28 00:00:00"
)

// testDefinition: every phase but RUNNING is 10s all told (1s wait time,
// 4s wait resource, 5s checking), so times are easy to add up:
//
//	extract(1m) -> transform_a(2m)          -> load(1m) -> report(1m)
//	            -> transform_b(1m, fails)  /
const testDefinition = `
projects:
  - name: p1
    flows:
      - name: etl
        waitTime: 1s
        waitResource: 4s
        checking: 5s
        nodes:
          - {id: 11, name: extract, duration: 1m}
          - {id: 12, name: transform_a, upstream: [11], duration: 2m}
          - {id: 13, name: transform_b, upstream: [11], duration: 1m, outcome: failure, errorMessage: "boom: bad column"}
          - {id: 14, name: load, upstream: [12, 13], duration: 1m}
          - {id: 15, name: report, upstream: [14], duration: 1m}
      - name: ok
        waitTime: 1s
        waitResource: 4s
        checking: 5s
        nodes:
          - {id: 21, name: one, duration: 1m}
          - {id: 22, name: two, upstream: [21], duration: 1m}
      - name: flaky
        nodes:
          - {id: 31, name: f1, outcome: flaky, probability: 0.5}
          - {id: 32, name: f2, outcome: flaky, probability: 0.5}
          - {id: 33, name: f3, outcome: flaky, probability: 0.5}
          - {id: 34, name: f4, outcome: flaky, probability: 0.5}
`

type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// harness is an emulator behind an httptest server, with a fake clock and
// SDK clients. SDK clients are not safe for concurrent use; tests call
// them from one goroutine.
type harness struct {
	t      *testing.T
	emu    *Emulator
	srv    *httptest.Server
	clock  *testClock
	host   string
	client *sdk.Client
	dw     *dataworks.Client
	nonce  int // rawCall's nonce counter
}

func newHarness(t *testing.T, tweak func(*Options)) *harness {
	t.Helper()
	def, err := ParseDefinition([]byte(testDefinition))
	require.NoError(t, err)
	clock := &testClock{now: time.Date(2024, 3, 29, 2, 0, 0, 0, time.UTC)}
	opts := Options{
		Definition:  def,
		Credentials: map[string]Key{testKeyID: {Secret: testSecret}, "denied-key": {Secret: "denied-secret", NoPermission: true}},
		Now:         clock.Now,
		Seed:        1,
	}
	if tweak != nil {
		tweak(&opts)
	}
	emu, err := New(opts)
	require.NoError(t, err)
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	h := &harness{t: t, emu: emu, srv: srv, clock: clock, host: strings.TrimPrefix(srv.URL, "http://")}
	h.client = h.sdkClient(testKeyID, testSecret)
	h.dw, err = dataworks.NewClientWithOptions(testRegion, sdk.NewConfig(), credentials.NewAccessKeyCredential(testKeyID, testSecret))
	require.NoError(t, err)
	return h
}

func (h *harness) sdkClient(id, secret string) *sdk.Client {
	h.t.Helper()
	c, err := sdk.NewClientWithOptions(testRegion, sdk.NewConfig(), credentials.NewAccessKeyCredential(id, secret))
	require.NoError(h.t, err)
	return c
}

// call2018 sends a 2018-06-01 call as the project's client does: business
// parameters in the query.
func (h *harness) call2018(c *sdk.Client, action string, query map[string]string) (string, error) {
	req := requests.NewCommonRequest()
	req.Method = requests.POST
	req.Product = "dataworks-public"
	req.Version = version2018
	req.ApiName = action
	req.Domain = h.host
	req.Scheme = "http"
	for k, v := range query {
		req.QueryParams[k] = v
	}
	resp, err := c.ProcessCommonRequest(req)
	if err != nil {
		return "", err
	}
	return resp.GetHttpContentString(), nil
}

func (h *harness) create2018(flow string, extra map[string]string) int64 {
	h.t.Helper()
	q := map[string]string{"ProjectName": "p1", "FlowName": flow, "Bizdate": testBizday}
	for k, v := range extra {
		q[k] = v
	}
	body, err := h.call2018(h.client, "CreateManualDag", q)
	require.NoError(h.t, err)
	var r createReply2018
	require.NoError(h.t, json.Unmarshal([]byte(body), &r), body)
	require.Equal(h.t, "0", r.ReturnCode, body)
	return r.ReturnValue
}

type liveSearch struct {
	ErrCode string
	Success bool
	Data    struct{ NodeInsInfo []instance2018 }
}

func (h *harness) search2018(dagID int64) liveSearch {
	h.t.Helper()
	body, err := h.call2018(h.client, "SearchManualDagNodeInstance", map[string]string{"ProjectName": "p1", "DagId": fmt.Sprint(dagID)})
	require.NoError(h.t, err)
	var r liveSearch
	require.NoError(h.t, json.Unmarshal([]byte(body), &r), body)
	return r
}

// statuses2018 maps node name to 2018 status code.
func (h *harness) statuses2018(dagID int64) map[string]int {
	h.t.Helper()
	out := map[string]int{}
	for _, n := range h.search2018(dagID).Data.NodeInsInfo {
		out[n.NodeName] = n.Status
	}
	return out
}

func (h *harness) prepare2020(req requests.AcsRequest) {
	req.SetDomain(h.host)
	req.SetScheme("http")
}

func serverError(t *testing.T, err error) *sdkerrors.ServerError {
	t.Helper()
	require.Error(t, err)
	var se *sdkerrors.ServerError
	require.True(t, errors.As(err, &se), "want a ServerError, got %T: %v", err, err)
	return se
}

// rawParams returns correctly signed parameters for a raw request.
func rawParams(action, version string, business map[string]string, ts time.Time, nonce string) map[string]string {
	p := map[string]string{
		"Action": action, "Version": version, "Format": "JSON", "Timestamp": ts.UTC().Format(timestampLayout),
		"SignatureMethod": "HMAC-SHA1", "SignatureVersion": "1.0", "SignatureType": "", "SignatureNonce": nonce,
		"AccessKeyId": testKeyID, "RegionId": testRegion,
	}
	for k, v := range business {
		p[k] = v
	}
	p["Signature"] = sign(http.MethodPost, p, testSecret)
	return p
}

// postRaw posts params in the query string, as the SDK does.
func (h *harness) postRaw(params map[string]string) (int, map[string]any) {
	h.t.Helper()
	q := url.Values{}
	for k, v := range params {
		q.Set(k, v)
	}
	resp, err := http.Post(h.srv.URL+"/?"+q.Encode(), "application/x-www-form-urlencoded", nil)
	require.NoError(h.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(h.t, err)
	var body map[string]any
	require.NoError(h.t, json.Unmarshal(b, &body), string(b))
	return resp.StatusCode, body
}

func (h *harness) getJSON(path string, v any) int {
	h.t.Helper()
	resp, err := http.Get(h.srv.URL + path)
	require.NoError(h.t, err)
	defer resp.Body.Close()
	require.NoError(h.t, json.NewDecoder(resp.Body).Decode(v))
	return resp.StatusCode
}

func (h *harness) send(method, path, body string, v any) int {
	h.t.Helper()
	req, err := http.NewRequest(method, h.srv.URL+path, strings.NewReader(body))
	require.NoError(h.t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(h.t, err)
	defer resp.Body.Close()
	if v != nil {
		require.NoError(h.t, json.NewDecoder(resp.Body).Decode(v))
	}
	return resp.StatusCode
}

func itoa(n int64) string { return fmt.Sprint(n) }

func (c *testClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}
