package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/manualdag/manualdag/internal/emulator"
	"github.com/manualdag/manualdag/internal/envvar"
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
