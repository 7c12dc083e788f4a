package temporalclient

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
)

// The API-key path (Temporal Cloud's): TEMPORAL_API_KEY, or api_key in a
// TOML profile, turns TLS on and sends the key as a bearer token on every
// call, here to a TLS frontend stand-in that records what it is sent.
func TestAPIKey(t *testing.T) {
	fe := startFrontend(t)
	file := filepath.Join(t.TempDir(), "temporal.toml")
	toml := fmt.Sprintf("[profile.cloud]\naddress = %q\nnamespace = \"data-platform.a1b2c\"\napi_key = \"key-from-profile\"\n\n[profile.cloud.tls]\nserver_ca_cert_path = %q\n",
		fe.address, fe.caFile)
	if err := os.WriteFile(file, []byte(toml), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		env     map[string]string
		wantKey string
	}{
		{"environment", map[string]string{"TEMPORAL_CONFIG_FILE": filepath.Join(t.TempDir(), "none.toml"),
			"TEMPORAL_ADDRESS": fe.address, "TEMPORAL_NAMESPACE": "data-platform.a1b2c",
			"TEMPORAL_API_KEY": "key-from-env", "TEMPORAL_TLS_SERVER_CA_CERT_PATH": fe.caFile}, "key-from-env"},
		{"profile", map[string]string{"TEMPORAL_CONFIG_FILE": file, "TEMPORAL_PROFILE": "cloud"}, "key-from-profile"},
		{"environment over profile", map[string]string{"TEMPORAL_CONFIG_FILE": file, "TEMPORAL_PROFILE": "cloud",
			"TEMPORAL_API_KEY": "key-from-env"}, "key-from-env"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts, err := Load(Flags{}, envOf(tc.env))
			if err != nil {
				t.Fatal(err)
			}
			if opts.ConnectionOptions.TLS == nil {
				t.Fatal("an API key without TLS settings must turn TLS on")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, err := Dial(ctx, opts)
			if err != nil {
				t.Fatal(err)
			}
			c.Close()
			auth := fe.last()
			if auth != "Bearer "+tc.wantKey {
				t.Errorf("authorization %q, want %q", auth, "Bearer "+tc.wantKey)
			}
			if opts.Namespace != "data-platform.a1b2c" {
				t.Errorf("namespace %q, want the profile's or the environment's", opts.Namespace)
			}
		})
	}

	// TEMPORAL_TLS=false turns TLS off even with an API key (a local proxy
	// that terminates TLS, say).
	opts, err := Load(Flags{}, envOf(map[string]string{"TEMPORAL_CONFIG_FILE": file, "TEMPORAL_PROFILE": "cloud", "TEMPORAL_TLS": "false"}))
	if err != nil {
		t.Fatal(err)
	}
	if opts.ConnectionOptions.TLS != nil || !opts.ConnectionOptions.TLSDisabled {
		t.Error("TEMPORAL_TLS=false must turn TLS off")
	}
}

// frontend is a WorkflowService on TLS that answers GetSystemInfo (what
// Dial calls) and keeps the authorization header of the last call.
type frontend struct {
	workflowservice.UnimplementedWorkflowServiceServer
	address, caFile string
	mu              sync.Mutex
	auth            string
}

func (f *frontend) GetSystemInfo(ctx context.Context, _ *workflowservice.GetSystemInfoRequest) (*workflowservice.GetSystemInfoResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	f.mu.Lock()
	defer f.mu.Unlock()
	if v := md.Get("authorization"); len(v) > 0 {
		f.auth = v[0]
	}
	return &workflowservice.GetSystemInfoResponse{}, nil
}

// last is the authorization header of the last call, forgotten after.
func (f *frontend) last() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	auth := f.auth
	f.auth = ""
	return auth
}

func startFrontend(t *testing.T) *frontend {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	f := &frontend{caFile: filepath.Join(t.TempDir(), "ca.pem")}
	if err := os.WriteFile(f.caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.address = l.Addr().String()
	srv := grpc.NewServer(grpc.Creds(credentials.NewServerTLSFromCert(&tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key})))
	workflowservice.RegisterWorkflowServiceServer(srv, f)
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(srv.Stop)
	return f
}
