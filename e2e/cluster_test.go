//go:build e2e

package e2e

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	mathrand "math/rand/v2"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/manualdag/manualdag/workflows"
)

// Cluster mode. MANUALDAG_E2E_SERVER=cluster (make test-cluster) runs every
// end-to-end test against the Temporal server that make cluster runs
// (MANUALDAG_TEMPORAL_SERVER names temporal-server; temporal-sql-tool lies
// beside it) instead of the CLI's dev server: the configuration
// deployments/temporal/cluster.yaml, the schemas set up by
// deployments/temporal/setup-schema.sh, each server on a PostgreSQL of its
// own (initdb in a temporary folder, fsync off: the tests never crash the
// machine, only processes), so that a suite can stop the database
// (TestChaos's PostgresOutage) without touching the others.
//
// The mTLS test (tls_test.go) needs the same binaries and runs whenever
// MANUALDAG_TEMPORAL_SERVER is set.

// clusterMode reports whether the tests run against the PostgreSQL-backed
// server.
func clusterMode() bool { return os.Getenv("MANUALDAG_E2E_SERVER") == "cluster" }

// clusterBinaries is temporal-server, from MANUALDAG_TEMPORAL_SERVER.
func clusterBinaries() (string, error) {
	p := os.Getenv("MANUALDAG_TEMPORAL_SERVER")
	if p == "" {
		return "", errors.New("MANUALDAG_TEMPORAL_SERVER is not set: run the cluster tests through `make test-cluster`, which builds the Temporal server into .tools/ and sets it")
	}
	for _, f := range []string{p, filepath.Join(filepath.Dir(p), "temporal-sql-tool")} {
		if _, err := os.Stat(f); err != nil {
			return "", fmt.Errorf("MANUALDAG_TEMPORAL_SERVER=%s: %v (make test-cluster builds the server and temporal-sql-tool)", p, err)
		}
	}
	return p, nil
}

// postgresBin is the folder of initdb and postgres: PG_BIN, else the newest
// Debian/Ubuntu server package, else the PATH (as scripts/cluster.sh finds
// it).
func postgresBin() (string, error) {
	if d := os.Getenv("PG_BIN"); d != "" {
		return d, nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return pgMajor(dirs[i]) < pgMajor(dirs[j]) })
	for i := len(dirs) - 1; i >= 0; i-- {
		if _, err := os.Stat(filepath.Join(dirs[i], "initdb")); err == nil {
			return dirs[i], nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", errors.New("PostgreSQL is not installed: run `make cluster` once (it installs it with apt-get), install it yourself, or set PG_BIN to the folder of initdb and postgres")
}

func pgMajor(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

// clusterOptions shape one cluster.
type clusterOptions struct {
	// tls, if set, makes the frontend require mTLS with these files.
	tls *tlsFiles
}

// cluster is the part of a temporalServer that the dev server lacks.
type cluster struct {
	db  *postgres
	env []string // the server's: SQL_*, CLUSTER_* (deployments/temporal/cluster.yaml)
	tls *tlsFiles
}

// startCluster starts a PostgreSQL, sets up the schemas, starts the server
// and registers the default namespace and RunManualDag's search
// attributes.
func startCluster(t testing.TB, o clusterOptions) *temporalServer {
	t.Helper()
	serverBin, err := clusterBinaries()
	require.NoError(t, err)
	db := startPostgres(t)
	cmd := exec.Command(filepath.Join(repoRoot(t), "deployments", "temporal", "setup-schema.sh"))
	cmd.Env = childEnv(append(db.sqlEnv(), "SQL_TOOL="+filepath.Join(filepath.Dir(serverBin), "temporal-sql-tool")))
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "setup-schema.sh:\n%s", out)

	s := &temporalServer{port: freePort(t), cluster: &cluster{db: db, tls: o.tls}, metricsPort: freePort(t)}
	s.Address = "127.0.0.1:" + strconv.Itoa(s.port)
	env := append(db.sqlEnv(),
		"CLUSTER_FRONTEND_PORT="+strconv.Itoa(s.port),
		"CLUSTER_METRICS_ADDRESS=127.0.0.1:"+strconv.Itoa(s.metricsPort),
		"CLUSTER_DYNAMIC_CONFIG="+filepath.Join(repoRoot(t), "deployments", "temporal", "dynamicconfig.yaml"),
		"CLUSTER_LOG_LEVEL=error")
	for _, name := range []string{"FRONTEND_HTTP", "HISTORY", "MATCHING", "WORKER"} {
		env = append(env, "CLUSTER_"+name+"_PORT="+strconv.Itoa(freePort(t)))
	}
	for _, name := range []string{"FRONTEND", "HISTORY", "MATCHING", "WORKER"} {
		env = append(env, "CLUSTER_"+name+"_MEMBERSHIP_PORT="+strconv.Itoa(membershipPort(t)))
	}
	if o.tls != nil {
		env = append(env, "CLUSTER_TLS_CERT="+o.tls.serverCert, "CLUSTER_TLS_KEY="+o.tls.serverKey,
			"CLUSTER_TLS_CA="+o.tls.ca, "CLUSTER_TLS_SERVER_NAME=localhost")
	}
	s.cluster.env = env
	s.start(t)
	t.Cleanup(func() { s.proc.stop(t) })
	s.cluster.registerNamespace(t, s)
	return s
}

// startServer starts temporal-server on the cluster's database and ports.
func (c *cluster) startServer(t testing.TB, s *temporalServer) {
	t.Helper()
	bin, err := clusterBinaries()
	require.NoError(t, err)
	s.proc = startProcess(t, "temporal-server", c.env, bin,
		"--root", repoRoot(t), "--config", filepath.Join("deployments", "temporal"), "--env", "cluster", "--allow-no-auth", "start")
	s.waitReady(t)
}

// registerNamespace registers "default" and the search attributes, and
// waits until the history service knows the namespace:
// a real server, unlike the dev server, learns of a new namespace from its
// cache refresh.
func (c *cluster) registerNamespace(t testing.TB, s *temporalServer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cl := s.Client(t)
	_, err := cl.WorkflowService().RegisterNamespace(ctx, &workflowservice.RegisterNamespaceRequest{
		Namespace: client.DefaultNamespace, WorkflowExecutionRetentionPeriod: durationpb.New(24 * time.Hour)})
	var exists *serviceerror.NamespaceAlreadyExists
	if !errors.As(err, &exists) {
		require.NoError(t, err, "register the default namespace")
	}
	attrs := map[string]enums.IndexedValueType{}
	for _, k := range workflows.SearchAttributeKeys() {
		attrs[k.GetName()] = k.GetValueType()
	}
	waitFor(t, time.Minute, "the namespace takes the search attributes and is known to the history service", func() bool {
		if _, err := cl.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
			Namespace: client.DefaultNamespace, SearchAttributes: attrs}); err != nil {
			var exists *serviceerror.AlreadyExists
			if !errors.As(err, &exists) {
				return false
			}
		}
		// A workflow that does not exist: "not found" once the history
		// service knows the namespace (no probe run to disturb the tests
		// that read every history).
		_, err := cl.DescribeWorkflow(ctx, "e2e-cluster-probe", "")
		var notFound *serviceerror.NotFound
		return errors.As(err, &notFound)
	}, s.proc.output)
}

// membershipPort is a free port below 32768: the SQL schemas keep a
// membership port in a smallint, and the kernel's ephemeral ports (what
// freePort returns) lie above.
func membershipPort(t testing.TB) int {
	t.Helper()
	for range 100 {
		port := 20000 + mathrand.IntN(12000)
		if l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port)); err == nil {
			_ = l.Close()
			return port
		}
	}
	t.Fatal("no free port between 20000 and 32000 in 100 tries")
	return 0
}

// repoRoot is the repository's root (the tests run in e2e/).
func repoRoot(t testing.TB) string {
	t.Helper()
	root, err := filepath.Abs("..")
	require.NoError(t, err)
	return root
}

// postgres is one throw-away PostgreSQL instance.
type postgres struct {
	bin, dir string
	port     int
	// cred runs it as an unprivileged user when the tests run as root
	// (PostgreSQL refuses root); nil otherwise.
	cred *syscall.Credential
	proc *process
}

const pgUser, pgPassword = "temporal", "temporal"

func startPostgres(t testing.TB) *postgres {
	t.Helper()
	bin, err := postgresBin()
	require.NoError(t, err)
	// Not t.TempDir: as root, the unprivileged user must reach the folder,
	// and the test's temporary folders are private to root.
	dir, err := os.MkdirTemp("", "manualdag-e2e-pg-")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	p := &postgres{bin: bin, dir: dir, port: freePort(t)}
	if os.Geteuid() == 0 {
		p.cred = unprivileged(t)
		require.NoError(t, os.Chown(dir, int(p.cred.Uid), int(p.cred.Gid)))
	}
	pwfile := filepath.Join(dir, "pwfile")
	require.NoError(t, os.WriteFile(pwfile, []byte(pgPassword+"\n"), 0o600))
	if p.cred != nil {
		require.NoError(t, os.Chown(pwfile, int(p.cred.Uid), int(p.cred.Gid)))
	}
	initdb := p.command("initdb", "-D", p.data(), "-U", pgUser, "--pwfile="+pwfile,
		"--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync")
	out, err := initdb.CombinedOutput()
	require.NoError(t, err, "initdb:\n%s", out)
	p.start(t)
	t.Cleanup(func() { p.proc.stop(t) })
	return p
}

func (p *postgres) data() string { return filepath.Join(p.dir, "data") }

func (p *postgres) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(p.bin, name), args...)
	cmd.Env = childEnv(nil)
	if p.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred}
	}
	return cmd
}

// start starts postgres on the instance's data and port and waits until it
// takes connections.
func (p *postgres) start(t testing.TB) {
	t.Helper()
	p.proc = startCommand(t, "postgres", p.command("postgres", "-D", p.data(), "-p", strconv.Itoa(p.port), "-k", p.dir,
		"-c", "listen_addresses=127.0.0.1", "-c", "max_connections=200", "-c", "fsync=off"))
	waitFor(t, time.Minute, "PostgreSQL takes connections", func() bool {
		require.False(t, p.proc.exited(), "postgres exited during start:\n%s", p.proc.output())
		return p.command("pg_isready", "-q", "-h", "127.0.0.1", "-p", strconv.Itoa(p.port)).Run() == nil
	}, p.proc.output)
}

// crash stops PostgreSQL as a crash of the database would: an immediate
// shutdown (SIGQUIT) ends every connection at once, and the next start
// recovers from the write-ahead log.
func (p *postgres) crash(t testing.TB) {
	t.Helper()
	_ = p.proc.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-p.proc.done:
	case <-time.After(30 * time.Second):
		p.proc.kill()
	}
}

// sqlEnv are the connection variables of temporal-sql-tool and of
// deployments/temporal/cluster.yaml.
func (p *postgres) sqlEnv() []string {
	return []string{"SQL_HOST=127.0.0.1", "SQL_PORT=" + strconv.Itoa(p.port), "SQL_USER=" + pgUser, "SQL_PASSWORD=" + pgPassword}
}

// unprivileged is the user PostgreSQL runs as under root: the package's
// "postgres" user, else nobody.
func unprivileged(t testing.TB) *syscall.Credential {
	t.Helper()
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err1 == nil && err2 == nil {
			return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)} // no supplementary groups
		}
	}
	t.Fatal("running as root, and neither a postgres nor a nobody user to run PostgreSQL as (it refuses root)")
	return nil
}

// tlsFiles are the PEM files of an mTLS setup (tls_test.go writes them).
type tlsFiles struct {
	ca, serverCert, serverKey, clientCert, clientKey string
	// config is the client side: the client certificate and the CA.
	config *tls.Config
}

func (f *tlsFiles) clientConfig() *tls.Config { return f.config.Clone() }
