//go:build e2e

// Package e2e runs the real binaries (worker, starter, the Temporal CLI's dev
// server) against the DataWorks emulator over HTTP with signature checking.
// `make test` builds the Temporal CLI and runs these with -tags e2e;
// `make test-cluster` runs them against the Temporal server on PostgreSQL
// instead (MANUALDAG_E2E_SERVER=cluster, cluster_test.go).
package e2e

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
)

// binDir holds the worker and starter built once for the whole package;
// emptyConfigFile is an empty Temporal client config (see childEnv).
var binDir, emptyConfigFile string

func TestMain(m *testing.M) {
	flag.Parse()
	// The tests spend their time waiting on DataWorks timers, not on the
	// CPU: run them all at once unless -parallel says otherwise (its
	// default, GOMAXPROCS, is 2 on CI).
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "test.parallel" })
	if !explicit {
		_ = flag.Set("test.parallel", "8")
	}
	code, err := setup(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(2)
	}
	os.Exit(code)
}

func setup(m *testing.M) (int, error) {
	if _, err := temporalCLI(); err != nil {
		return 0, err
	}
	if clusterMode() {
		if _, err := clusterBinaries(); err != nil {
			return 0, err
		}
		if _, err := postgresBin(); err != nil {
			return 0, err
		}
	}
	dir, err := os.MkdirTemp("", "manualdag-e2e-bin-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	build := exec.Command("go", "build", "-race", "-o", dir+string(os.PathSeparator), "../worker", "../starter")
	if out, err := build.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("building the binaries: %v\n%s", err, out)
	}
	emptyConfigFile = filepath.Join(dir, "temporal.toml")
	if err := os.WriteFile(emptyConfigFile, nil, 0o600); err != nil {
		return 0, err
	}
	binDir = dir
	return m.Run(), nil
}

// temporalCLI is the Temporal CLI that `make test` builds into .tools/.
func temporalCLI() (string, error) {
	p := os.Getenv("MANUALDAG_TEMPORAL_CLI")
	if p == "" {
		return "", fmt.Errorf("MANUALDAG_TEMPORAL_CLI is not set: run the end-to-end tests through `make test`, which builds the Temporal CLI into .tools/ and sets it")
	}
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("MANUALDAG_TEMPORAL_CLI=%s: %v (run `make tools`)", p, err)
	}
	return p, nil
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// temporalServer is one Temporal server the tests run against: the CLI's dev
// server, with its database in a file so that a test can restart it and
// keep every workflow, or with MANUALDAG_E2E_SERVER=cluster the Temporal
// server on a PostgreSQL of its own (cluster_test.go).
type temporalServer struct {
	Address string
	dbFile  string
	port    int
	proc    *process
	// cluster is the PostgreSQL-backed server's part; nil: the dev server.
	cluster *cluster
	// metricsPort serves the server's own Prometheus metrics (0: none).
	metricsPort int
}

// startTemporal starts the server of the mode the tests run in, with the
// default namespace and RunManualDag's search attributes.
func startTemporal(t testing.TB) *temporalServer {
	t.Helper()
	if clusterMode() {
		return startCluster(t, clusterOptions{})
	}
	s := &temporalServer{port: freePort(t), dbFile: filepath.Join(t.TempDir(), "temporal.db"), metricsPort: freePort(t)}
	s.Address = "127.0.0.1:" + strconv.Itoa(s.port)
	s.start(t)
	t.Cleanup(func() { s.proc.stop(t) })
	return s
}

func (s *temporalServer) start(t testing.TB) {
	t.Helper()
	if s.cluster != nil {
		s.cluster.startServer(t, s)
		return
	}
	cli, err := temporalCLI()
	require.NoError(t, err)
	args := []string{"server", "start-dev", "--headless",
		"--ip", "127.0.0.1", "--port", strconv.Itoa(s.port), "--log-level", "error"}
	if s.dbFile != "" { // empty: in memory (the benchmark's option)
		args = append(args, "--db-filename", s.dbFile)
	}
	if s.metricsPort != 0 {
		args = append(args, "--metrics-port", strconv.Itoa(s.metricsPort))
	}
	// RunManualDag's search attributes (visibility_test.go).
	s.proc = startProcess(t, "temporal", nil, cli, append(args, searchAttributeFlags()...)...)
	s.waitReady(t)
}

// waitReady waits until the frontend answers, for at most a minute.
func (s *temporalServer) waitReady(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		c, err := client.DialContext(context.Background(), s.clientOptions())
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) || s.proc.exited() {
			t.Fatalf("Temporal server on %s not ready: %v\n%s", s.Address, err, s.proc.output())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Restart stops the server and starts it again on the same port and
// database.
func (s *temporalServer) Restart(t *testing.T) {
	s.proc.stop(t)
	s.start(t)
}

// clientOptions are the options of a client of this server (with the
// cluster's client certificate when its frontend requires mTLS).
func (s *temporalServer) clientOptions() client.Options {
	opts := client.Options{HostPort: s.Address, Logger: quietLogger{}}
	if s.cluster != nil && s.cluster.tls != nil {
		opts.ConnectionOptions.TLS = s.cluster.tls.clientConfig()
	}
	return opts
}

func (s *temporalServer) Client(t testing.TB) client.Client {
	t.Helper()
	c, err := client.Dial(s.clientOptions())
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c
}

// process is a child process whose combined output is kept for failure
// messages.
type process struct {
	name string
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
	err  error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func startProcess(t testing.TB, name string, env []string, path string, args ...string) *process {
	t.Helper()
	cmd := exec.Command(path, args...)
	cmd.Env = childEnv(env)
	return startCommand(t, name, cmd)
}

// startCommand starts cmd (its environment set by the caller) as a process.
func startCommand(t testing.TB, name string, cmd *exec.Cmd) *process {
	t.Helper()
	p := &process{name: name, cmd: cmd, out: &syncBuffer{}, done: make(chan struct{})}
	p.cmd.Stdout = p.out
	p.cmd.Stderr = p.out
	require.NoError(t, p.cmd.Start(), "start %s", name)
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop(t)
		if t.Failed() {
			t.Logf("--- %s output ---\n%s", name, p.output())
		}
	})
	return p
}

func (p *process) output() string { return p.out.String() }

// stop sends SIGTERM and waits; SIGKILL after 20 s.
func (p *process) stop(t testing.TB) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		t.Logf("%s did not stop within 20 s of SIGINT; killing it", p.name)
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// kill stops the process at once, as a crash would.
func (p *process) kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// wait waits for the process to exit by itself and returns its exit code.
func (p *process) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		t.Fatalf("%s still running after %s\n%s", p.name, timeout, p.output())
	}
	var exit *exec.ExitError
	if errors.As(p.err, &exit) {
		return exit.ExitCode()
	}
	require.NoError(t, p.err, "%s", p.name)
	return 0
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// childEnv is the environment of every child process: this one's, without
// the settings that would point a binary at a real Temporal cluster or a
// real DataWorks account (a developer's shell may hold them), plus extra.
// TEMPORAL_CONFIG_FILE names an empty file so that no TOML profile of the
// user's is read either.
func childEnv(extra []string) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(name, "TEMPORAL_"), strings.HasPrefix(name, "ALIBABA_CLOUD_"),
			strings.HasPrefix(name, "DATAWORKS_"), strings.HasPrefix(name, "MANUALDAG_"):
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "TEMPORAL_CONFIG_FILE="+emptyConfigFile)
	return append(env, extra...)
}

// result runs a command to completion and returns its exit code and output.
type result struct {
	Code   int
	Stdout string
	Stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit code %d\nstdout:\n%s\nstderr:\n%s", r.Code, r.Stdout, r.Stderr)
}

func runCommand(t *testing.T, timeout time.Duration, env []string, path string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = childEnv(env)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{Stdout: stdout.String(), Stderr: stderr.String()}
	if exit, ok := err.(*exec.ExitError); ok {
		r.Code = exit.ExitCode()
	} else if err != nil {
		t.Fatalf("%s %s: %v", path, strings.Join(args, " "), err)
	}
	if ctx.Err() != nil {
		t.Fatalf("%s %s did not finish within %s\nstdout:\n%s\nstderr:\n%s", path, strings.Join(args, " "), timeout, r.Stdout, r.Stderr)
	}
	return r
}

// quietLogger keeps the SDK's client lines out of test output.
type quietLogger struct{}

func (quietLogger) Debug(string, ...any) {}
func (quietLogger) Info(string, ...any)  {}
func (quietLogger) Warn(string, ...any)  {}
func (quietLogger) Error(string, ...any) {}
