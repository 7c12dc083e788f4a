package aliyun

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/manualdag/manualdag/dataworks"
)

type connRequestsKey struct{}

// staleKeepAliveServer answers the first request of each connection and
// treats any later one as a server that had closed the idle connection: it
// closes the connection without reading the request through or answering
// it, deterministically, where a real server's idle timeout would race the
// client's next request. It records, per request, whether it was answered.
type staleKeepAliveServer struct {
	mu       sync.Mutex
	answered []string // the Action of each request answered
	dropped  []string // the Action of each request met on a reused connection
}

func (s *staleKeepAliveServer) start(t *testing.T) *Client {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		action := r.URL.Query().Get("Action")
		if n := r.Context().Value(connRequestsKey{}).(*atomic.Int32).Add(1); n > 1 {
			s.mu.Lock()
			s.dropped = append(s.dropped, action)
			s.mu.Unlock()
			conn, _, err := http.NewResponseController(w).Hijack()
			if err != nil {
				panic(http.ErrAbortHandler)
			}
			_ = conn.Close()
			return
		}
		s.mu.Lock()
		s.answered = append(s.answered, action)
		s.mu.Unlock()
		body := liveSearchReply
		if action == actionCreateManualDag {
			body = liveCreateReply
		}
		jsonReply(200, body)(w, r, nil)
	}))
	srv.Config.ConnContext = func(ctx context.Context, _ net.Conn) context.Context {
		return context.WithValue(ctx, connRequestsKey{}, new(atomic.Int32))
	}
	srv.Start()
	t.Cleanup(srv.Close)
	c, err := New(testConfig(strings.TrimPrefix(srv.URL, "http://")))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestCreateNeverRidesAStaleKeepAlive: after a search leaves a kept-alive
// connection in the pool, a create still goes out on a connection of its
// own, so a connection the server closed while idle cannot turn it into a
// spurious "outcome unknown". Two creates in a row succeed the same way.
func TestCreateNeverRidesAStaleKeepAlive(t *testing.T) {
	s := &staleKeepAliveServer{}
	c := s.start(t)
	ctx := context.Background()
	if _, err := c.SearchManualDagNodeInstance(ctx, dataworks.SearchManualDagNodeInstanceRequest{ProjectName: "test_project", DagID: 700019657457}); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		id, err := c.CreateManualDag(ctx, createReq())
		if err != nil {
			e, _ := dataworks.AsError(err)
			t.Fatalf("create %d on a pool holding a stale connection: %v (phase %v)", i+1, err, e.Phase)
		}
		if id != 700019657457 {
			t.Fatalf("DAG id %d", id)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.dropped) != 0 {
		t.Errorf("requests sent on a reused connection: %v", s.dropped)
	}
}
