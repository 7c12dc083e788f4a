//go:build e2e

package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/manualdag/manualdag/dag"
)

// The Temporal Cloud path on a cluster of our own: the frontend requires
// mTLS (a CA, a server and a client certificate made here), and the worker
// and the starter reach it through the SDK's TEMPORAL_TLS_* variables only,
// as they would reach Temporal Cloud or a secured self-hosted cluster.
// Without the client certificate both are refused with the advice to set
// TEMPORAL_TLS*. Needs the Temporal server (MANUALDAG_TEMPORAL_SERVER, set
// by make test-cluster) and PostgreSQL; skipped without them.
func TestClusterMTLS(t *testing.T) {
	if _, err := clusterBinaries(); err != nil {
		t.Skipf("needs the Temporal server: %v", err)
	}
	if _, err := postgresBin(); err != nil {
		t.Skipf("needs PostgreSQL: %v", err)
	}
	t.Parallel()
	files := writeTLSFiles(t, t.TempDir())
	ts := startCluster(t, clusterOptions{tls: files})
	s := newStackOn(t, ts)

	// Neither plaintext nor TLS without a client certificate gets in.
	for name, opts := range map[string]client.Options{
		"plaintext": {HostPort: ts.Address, Logger: quietLogger{}},
		"TLS without a client certificate": {HostPort: ts.Address, Logger: quietLogger{},
			ConnectionOptions: client.ConnectionOptions{TLS: &tls.Config{RootCAs: files.config.RootCAs, ServerName: "localhost"}}},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		c, err := client.DialContext(ctx, opts)
		cancel()
		if err == nil {
			c.Close()
			t.Errorf("%s: the mTLS frontend let the client in", name)
		}
	}

	tlsEnv := []string{
		"TEMPORAL_TLS_CLIENT_CERT_PATH=" + files.clientCert,
		"TEMPORAL_TLS_CLIENT_KEY_PATH=" + files.clientKey,
		"TEMPORAL_TLS_SERVER_CA_CERT_PATH=" + files.ca,
		"TEMPORAL_TLS_SERVER_NAME=localhost",
	}
	const queue, bizdate = "manualdag-e2e-mtls", "2024-09-01"
	w := s.startWorker(t, queue, tlsEnv...)

	starter := filepath.Join(binDir, "starter")
	args := append([]string{"run", "--task-queue", queue, "--project", project, "--flow", flowOK, "--bizdate", bizdate,
		"--wait", "--json"}, fastPoll...)
	r := runCommand(t, 2*time.Minute, append([]string{"TEMPORAL_ADDRESS=" + ts.Address}, tlsEnv...), starter, args...)
	require.Equal(t, 0, r.Code, "%s\nworker:\n%s", r, w.output())
	var rep dag.DagReport
	require.NoError(t, json.Unmarshal([]byte(r.Stdout), &rep), "%s", r)
	assert.Equal(t, dag.OutcomeSucceeded, rep.Outcome)
	assert.Equal(t, []int64{rep.DagID}, s.emu.CreatedDAGs(project, flowOK, bizdate))

	// Without the client certificate: exit 3 (Temporal unreachable) and the
	// variables to check.
	r = runCommand(t, time.Minute, []string{"TEMPORAL_ADDRESS=" + ts.Address, "TEMPORAL_TLS=true",
		"TEMPORAL_TLS_SERVER_CA_CERT_PATH=" + files.ca}, starter, "status", "manualdag/"+project+"/"+flowOK+"/"+bizdate)
	assert.Equal(t, 3, r.Code, "%s", r)
	assert.Contains(t, r.Stderr, "TEMPORAL_TLS")
	r = runCommand(t, time.Minute, workerOnly(s.workerEnv("manualdag-e2e-mtls-refused")), filepath.Join(binDir, "worker"))
	assert.NotEqual(t, 0, r.Code, "a worker without the client certificate must not start:\n%s", r)
	assert.Contains(t, r.Stdout+r.Stderr, "TEMPORAL_TLS")
}

// workerOnly is env without the metrics server: a worker that cannot
// connect exits, and nothing else listens meanwhile.
func workerOnly(env []string) []string {
	return append(env, "MANUALDAG_METRICS_ADDRESS=off")
}

// A Temporal TOML profile (TEMPORAL_CONFIG_FILE, TEMPORAL_PROFILE) names the
// address and the namespace: with no flag and no TEMPORAL_ADDRESS or
// TEMPORAL_NAMESPACE, the worker and the starter both connect where it
// says (the SDK's envconfig precedence: flag, then environment, then
// profile, then the default).
func (s *stack) testTemporalProfile(t *testing.T) {
	const ns, queue, bizdate = "e2e-profile", "manualdag-e2e-profile", "2024-08-03"
	cli, err := temporalCLI()
	require.NoError(t, err)
	r := runCommand(t, time.Minute, nil, cli, "operator", "namespace", "create", "--address", s.temporal.Address, "--namespace", ns)
	require.Equal(t, 0, r.Code, "%s", r)
	file := filepath.Join(t.TempDir(), "temporal.toml")
	toml := fmt.Sprintf("[profile.default]\naddress = \"127.0.0.1:1\"\n\n[profile.e2e]\naddress = %q\nnamespace = %q\n", s.temporal.Address, ns)
	require.NoError(t, os.WriteFile(file, []byte(toml), 0o600))
	profile := []string{"TEMPORAL_CONFIG_FILE=" + file, "TEMPORAL_PROFILE=e2e"}

	var env []string
	for _, kv := range s.workerEnv(queue) {
		if !strings.HasPrefix(kv, "TEMPORAL_") {
			env = append(env, kv)
		}
	}
	var w *process
	waitFor(t, time.Minute, "a worker on the profile's namespace "+ns, func() bool {
		w = startProcess(t, "worker "+ns, append(env, profile...), filepath.Join(binDir, "worker"))
		time.Sleep(3 * time.Second) // an unknown namespace ends the worker at once
		return !w.exited()
	}, func() string { return w.output() })
	assert.Contains(t, w.output(), s.temporal.Address)

	r = runCommand(t, 2*time.Minute, profile, filepath.Join(binDir, "starter"),
		append([]string{"run", "--task-queue", queue, "--project", project, "--flow", flowOK, "--bizdate", bizdate, "--wait"}, fastPoll...)...)
	require.Equal(t, 0, r.Code, "%s\nworker:\n%s", r, w.output())
	assert.Contains(t, r.Stdout+r.Stderr, "/namespaces/"+ns+"/", "the Web UI link names the profile's namespace")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	opts := s.temporal.clientOptions()
	opts.Namespace = ns
	c, err := client.DialContext(ctx, opts)
	require.NoError(t, err)
	defer c.Close()
	_, err = c.DescribeWorkflow(ctx, "manualdag/"+project+"/"+flowOK+"/"+bizdate, "")
	require.NoError(t, err, "the run is in the profile's namespace")

	// A flag still wins over the profile: the default namespace has no such run.
	r = runCommand(t, time.Minute, profile, filepath.Join(binDir, "starter"),
		"status", "--temporal-namespace", "default", "manualdag/"+project+"/"+flowOK+"/"+bizdate)
	assert.NotEqual(t, 0, r.Code, "%s", r)
}

// writeTLSFiles makes a CA, a server certificate for localhost and
// 127.0.0.1 (usable as a client certificate too: the server's system
// workers present it to the frontend) and a client certificate, and writes
// them as PEM files into dir.
func writeTLSFiles(t *testing.T, dir string) *tlsFiles {
	t.Helper()
	key := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		require.NoError(t, err)
		return k
	}
	serial := int64(0)
	tmpl := func(cn string) *x509.Certificate {
		serial++
		return &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature}
	}
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600))
		return p
	}
	writeKey := func(name string, k *ecdsa.PrivateKey) string {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		require.NoError(t, err)
		return write(name, "PRIVATE KEY", der)
	}

	caKey := key()
	caTmpl := tmpl("manualdag e2e CA")
	caTmpl.IsCA, caTmpl.BasicConstraintsValid = true, true
	caTmpl.KeyUsage |= x509.KeyUsageCertSign
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	require.NoError(t, err)
	caCert, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)

	issue := func(name string, k *ecdsa.PrivateKey, c *x509.Certificate) (string, string) {
		der, err := x509.CreateCertificate(rand.Reader, c, caCert, k.Public(), caKey)
		require.NoError(t, err)
		return write(name+".pem", "CERTIFICATE", der), writeKey(name+".key", k)
	}
	f := &tlsFiles{ca: write("ca.pem", "CERTIFICATE", caDER)}
	srv := tmpl("localhost")
	srv.DNSNames, srv.IPAddresses = []string{"localhost"}, []net.IP{net.IPv4(127, 0, 0, 1)}
	srv.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	f.serverCert, f.serverKey = issue("server", key(), srv)
	cl := tmpl("manualdag-worker")
	cl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	f.clientCert, f.clientKey = issue("client", key(), cl)

	pair, err := tls.LoadX509KeyPair(f.clientCert, f.clientKey)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	f.config = &tls.Config{Certificates: []tls.Certificate{pair}, RootCAs: pool, ServerName: "localhost", MinVersion: tls.VersionTLS12}
	return f
}
