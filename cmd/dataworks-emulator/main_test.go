package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
		"DATAWORKS_EMULATOR_ADDR":        "127.0.0.1:9000",
		"DATAWORKS_EMULATOR_TIME_SCALE":  "10",
		"DATAWORKS_EMULATOR_ACCESS_KEYS": "a:1,b:2",
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
	_, err = parseConfig(nil, envOf(map[string]string{"DATAWORKS_EMULATOR_SEED": "x"}), io.Discard)
	assert.ErrorContains(t, err, "DATAWORKS_EMULATOR_SEED")
}

func TestRunServesAndShutsDown(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	sample := filepath.Join(filepath.Dir(file), "..", "..", "deployments", "emulator", "sample-project.yaml")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out, w := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-definition", sample}, envOf(nil), w, io.Discard)
		w.Close()
	}()
	line, err := bufio.NewReader(out).ReadString('\n')
	require.NoError(t, err)
	require.Contains(t, line, "listening on http://")
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
