package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth/credentials"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/manualdag/manualdag/internal/emulator"
	"github.com/manualdag/manualdag/internal/envvar"
	"github.com/manualdag/manualdag/openevent"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestParseConfigDefaults(t *testing.T) {
	c, err := parseConfig(nil, envOf(nil), io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:8089", c.addr)
	assert.Equal(t, 60.0, c.timeScale)
	assert.Equal(t, "demo-access-key-secret", c.keys["demo-access-key-id"].Secret)
	assert.Equal(t, 2*time.Second, c.emptyListFor)
}

func TestParseConfigPrecedence(t *testing.T) {
	env := envOf(map[string]string{
		"MANUALDAG_EMULATOR_ADDR":        "127.0.0.1:9000",
		"MANUALDAG_EMULATOR_TIME_SCALE":  "10",
		"MANUALDAG_EMULATOR_ACCESS_KEYS": "a:1,b:2",
	})
	c, err := parseConfig([]string{"-time-scale", "120"}, env, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:9000", c.addr)
	assert.Equal(t, 120.0, c.timeScale)
	assert.Len(t, c.keys, 2)

	c, err = parseConfig([]string{"-access-key", "x:y", "-access-key", "z:w"}, env, io.Discard)
	require.NoError(t, err)
	assert.Len(t, c.keys, 2)
	assert.Contains(t, c.keys, "x")

	_, err = parseConfig([]string{"-access-key", "nosecret"}, env, io.Discard)
	assert.ErrorContains(t, err, "ID:SECRET")
	_, err = parseConfig(nil, envOf(map[string]string{"MANUALDAG_EMULATOR_SEED": "x"}), io.Discard)
	assert.ErrorContains(t, err, "MANUALDAG_EMULATOR_SEED")
}

func TestRunServesAndShutsDown(t *testing.T) {
	// Outside the repository: the sample project is compiled in.
	t.Chdir(t.TempDir())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out, w := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0"}, envOf(nil), w, io.Discard)
		w.Close()
	}()
	line, err := bufio.NewReader(out).ReadString('\n')
	require.NoError(t, err)
	require.Contains(t, line, "listening on http://")
	require.Contains(t, line, "definition embedded sample")
	base := strings.Fields(strings.SplitN(line, "listening on ", 2)[1])[0]
	go func() { _, _ = io.Copy(io.Discard, out) }()

	resp, err := http.Get(base + "/_emulator/stats")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("run did not return after cancel")
	}
}

// -h succeeds (exit 0) and names every variable the emulator reads.
func TestHelp(t *testing.T) {
	var stderr bytes.Buffer
	err := run(context.Background(), []string{"-h"}, envOf(nil), io.Discard, &stderr)
	require.ErrorIs(t, err, flag.ErrHelp)
	assert.Equal(t, 0, exitCode(err, io.Discard))
	for name := range envvar.Renamed() {
		if strings.HasPrefix(name, "MANUALDAG_EMULATOR_") {
			assert.Contains(t, stderr.String(), "env "+name, "-h names %s", name)
		}
	}
	assert.Equal(t, 1, exitCode(errors.New("boom"), io.Discard))
}

func TestPrintSampleAndVersion(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"-print-sample"}, envOf(nil), &out, io.Discard))
	_, err := emulator.ParseDefinition(out.Bytes())
	require.NoError(t, err, "the printed sample is a valid definition")
	out.Reset()
	require.NoError(t, run(context.Background(), []string{"-version"}, envOf(nil), &out, io.Discard))
	assert.True(t, strings.HasPrefix(out.String(), "dataworks-emulator "), out.String())
}

// The names of before still work, with a warning.
func TestDeprecatedVariables(t *testing.T) {
	c, err := parseConfig(nil, envOf(map[string]string{"DATAWORKS_EMULATOR_TIME_SCALE": "7"}), io.Discard)
	require.NoError(t, err)
	assert.Equal(t, 7.0, c.timeScale)
	require.Len(t, c.envWarnings, 1)
	assert.Contains(t, c.envWarnings[0], "DATAWORKS_EMULATOR_TIME_SCALE is deprecated: rename it MANUALDAG_EMULATOR_TIME_SCALE")
}

func TestParseConfigEvents(t *testing.T) {
	c, err := parseConfig(nil, envOf(nil), io.Discard)
	require.NoError(t, err)
	assert.Empty(t, c.events.URL, "no events by default")
	assert.Nil(t, c.events.Signer)

	c, err = parseConfig([]string{"-events-url", "http://127.0.0.1:9/events", "-events-instances", "-events-sign", "token",
		"-events-faults", "drop=0.3,dup=0.1,delay=1s..2s,dagtype=random,notrun=0"},
		envOf(map[string]string{"MANUALDAG_EMULATOR_EVENTS_TOKEN": "s3cret"}), io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "http://127.0.0.1:9/events", c.events.URL)
	assert.True(t, c.events.Instances)
	assert.Equal(t, emulator.EventFaults{DropRate: 0.3, DuplicateRate: 0.1, Delay: time.Second, DelayMax: 2 * time.Second,
		DagType: emulator.ChoiceRandom, NotRun: "0"}, c.events.Faults)
	require.NotNil(t, c.events.Signer)
	signer, err := c.events.Signer(time.Now)
	require.NoError(t, err)
	req, _ := http.NewRequest(http.MethodPost, "http://x/", nil)
	require.NoError(t, signer.Sign(req, nil))
	assert.Equal(t, "Bearer s3cret", req.Header.Get("Authorization"))

	// The environment gives the same, the flags win.
	c, err = parseConfig([]string{"-events-faults", "stale=1"}, envOf(map[string]string{
		"MANUALDAG_EMULATOR_EVENTS_URL": "https://receiver.example/events", "MANUALDAG_EMULATOR_EVENTS_INSTANCES": "true",
		"MANUALDAG_EMULATOR_EVENTS_SIGN": "none", "MANUALDAG_EMULATOR_EVENTS_FAULTS": "drop=1",
	}), io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "https://receiver.example/events", c.events.URL)
	assert.True(t, c.events.Instances)
	assert.Equal(t, emulator.EventFaults{StaleRate: 1}, c.events.Faults)

	const url = "-events-url=http://127.0.0.1:9/"
	for _, tc := range []struct {
		args []string
		env  map[string]string
		msg  string
	}{
		{[]string{url, "-events-faults", "drop=2"}, nil, "-events-faults: event faults: drop=2: a rate is a number from 0 to 1"},
		{[]string{url, "-events-faults", "dagtype=3"}, nil, "use 4, 5 or random"},
		{[]string{url, "-events-sign", "token"}, nil, "needs the token in MANUALDAG_EMULATOR_EVENTS_TOKEN"},
		{[]string{url, "-events-sign", "v1"}, nil, "-events-sign v1 needs -events-key FILE"},
		{[]string{url, "-events-sign", "v2", "-events-key", "/nonexistent/events.key"}, nil, "-events-key: open /nonexistent/events.key"},
		{[]string{url, "-events-sign", "token", "-events-key", "k.pem"}, map[string]string{"MANUALDAG_EMULATOR_EVENTS_TOKEN": "s3cret"}, "drop -events-key"},
		{[]string{"-events-key", "k.pem"}, nil, "-events-url is empty"},
		{[]string{url, "-events-sign", "hmac"}, nil, `-events-sign "hmac": use none, token, v1 or v2`},
		{[]string{"-events-faults", "drop=0.5"}, nil, "-events-url is empty"},
		{[]string{"-events-instances"}, nil, "-events-url is empty"},
		{nil, map[string]string{"MANUALDAG_EMULATOR_EVENTS_INSTANCES": "maybe"}, "MANUALDAG_EMULATOR_EVENTS_INSTANCES"},
	} {
		_, err := parseConfig(tc.args, envOf(tc.env), io.Discard)
		assert.ErrorContains(t, err, tc.msg, "%v %v", tc.args, tc.env)
	}
}

// The command pushes a run's DAG event, token-signed, to the receiver it
// is given, and -h names every events variable. The token never shows in
// what the command prints.
func TestRunPushesEvents(t *testing.T) {
	type push struct {
		auth string
		body map[string]any
	}
	pushes := make(chan push, 16)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		_ = json.NewDecoder(r.Body).Decode(&body)
		pushes <- push{r.Header.Get("Authorization"), body}
	}))
	defer rcv.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out, w := io.Pipe()
	var stderr bytes.Buffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-events-url", rcv.URL, "-events-sign", "token"},
			envOf(map[string]string{"MANUALDAG_EMULATOR_EVENTS_TOKEN": "s3cret"}), w, &stderr)
		w.Close()
	}()
	lines := bufio.NewReader(out)
	line, err := lines.ReadString('\n')
	require.NoError(t, err)
	host := strings.TrimPrefix(strings.Fields(strings.SplitN(line, "listening on ", 2)[1])[0], "http://")
	line, err = lines.ReadString('\n')
	require.NoError(t, err)
	assert.Equal(t, "pushing DAG events to "+rcv.URL+" (signed token, faults none)\n", line)
	go func() { _, _ = io.Copy(io.Discard, out) }()

	client, err := sdk.NewClientWithOptions("cn-shanghai", sdk.NewConfig(),
		credentials.NewAccessKeyCredential("demo-access-key-id", "demo-access-key-secret"))
	require.NoError(t, err)
	req := requests.NewCommonRequest()
	req.Method, req.Product, req.Version, req.ApiName = requests.POST, "dataworks-public", "2018-06-01", "CreateManualDag"
	req.Domain, req.Scheme = host, "http"
	req.QueryParams = map[string]string{"ProjectName": "demo_project", "FlowName": "daily_sales", "Bizdate": "2024-03-28 00:00:00"}
	_, err = client.ProcessCommonRequest(req)
	require.NoError(t, err)

	select {
	case p := <-pushes:
		assert.Equal(t, "Bearer s3cret", p.auth)
		assert.Equal(t, "dataworks:DagStatusChanges:DagStatusChanges", p.body["type"])
		assert.Equal(t, float64(4), p.body["data"].(map[string]any)["status"])
	case <-time.After(5 * time.Second):
		t.Fatal("no event pushed within 5s")
	}
	cancel()
	require.NoError(t, <-done)
	assert.NotContains(t, stderr.String(), "s3cret")

	var help bytes.Buffer
	require.ErrorIs(t, run(context.Background(), []string{"-h"}, envOf(nil), io.Discard, &help), flag.ErrHelp)
	for _, name := range []string{"EVENTS_URL", "EVENTS_INSTANCES", "EVENTS_SIGN", "EVENTS_TOKEN", "EVENTS_FAULTS", "EVENTS_KEY", "EVENTS_CERT_URL"} {
		assert.Contains(t, help.String(), "env MANUALDAG_EMULATOR_"+name)
	}
}

// -events-sign v1 and v2 sign with the key of -events-key as EventBridge
// does: a receiver pinning its public half accepts the push, one pinning
// another key refuses it, and the token of the environment is signed in.
func TestEventSignerV1V2(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	file := filepath.Join(t.TempDir(), "events.key")
	require.NoError(t, os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600))
	garbage := filepath.Join(t.TempDir(), "garbage.key")
	require.NoError(t, os.WriteFile(garbage, []byte("not a key"), 0o600))
	_, err = parseConfig([]string{"-events-url", "http://127.0.0.1:9/events", "-events-sign", "v2", "-events-key", garbage}, envOf(nil), io.Discard)
	assert.ErrorContains(t, err, "no PEM RSA PRIVATE KEY or PRIVATE KEY block")

	const token = "a-token-of-32-characters-or-so-x"
	for _, mode := range []string{signV1, signV2} {
		c, err := parseConfig([]string{"-events-url", "http://127.0.0.1:9/events", "-events-sign", mode, "-events-key", file},
			envOf(map[string]string{"MANUALDAG_EMULATOR_EVENTS_TOKEN": token}), io.Discard)
		require.NoError(t, err, mode)
		signer, err := c.events.Signer(time.Now)
		require.NoError(t, err)
		body := []byte(`{"id":"1"}`)
		req, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1:9/events", bytes.NewReader(body))
		require.NoError(t, signer.Sign(req, body))
		assert.Equal(t, "https://cn-shanghai-eventbridge.oss-accelerate.aliyuncs.com/manualdag-emulator/x509.pem", req.Header.Get(openevent.HeaderURL))
		assert.Equal(t, token, req.Header.Get(openevent.HeaderToken), "the token is signed in")
		for pub, ok := range map[*rsa.PublicKey]bool{&key.PublicKey: true, &other.PublicKey: false} {
			v, err := openevent.NewVerifier(openevent.VerifierOptions{Mode: openevent.Mode(mode), PublicKey: pub, Token: token})
			require.NoError(t, err)
			if ok {
				assert.NoError(t, v.Verify(req, body), mode)
			} else {
				assert.ErrorIs(t, v.Verify(req, body), openevent.ErrUnauthorized, mode)
			}
		}
	}
}
