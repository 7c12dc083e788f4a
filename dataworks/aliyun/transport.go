package aliyun

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"sync"
	"sync/atomic"
	"time"
)

// MaxReplyBytes bounds a reply body. A search over a large DAG is a few
// hundred kilobytes; anything near this is not a DataWorks reply, and reading
// it whole would risk the worker's memory.
const MaxReplyBytes = 16 << 20

var errReplyTooLarge = fmt.Errorf("reply body exceeds %d MiB: not a DataWorks reply", MaxReplyBytes>>20)

// newBaseTransport is the one http.Transport the pool shares: connections are
// reused across pooled SDK clients. It honours HTTP_PROXY, HTTPS_PROXY and
// NO_PROXY the standard way (http.ProxyFromEnvironment: NO_PROXY entries are
// host names and CIDRs, not the SDK's regular expressions; loopback is never
// proxied). The SDK's own proxy handling only applies to an *http.Transport
// it is given directly, which the pool never does.
func newBaseTransport(cfg Config) *http.Transport {
	dialer := &net.Dialer{Timeout: cfg.ConnectTimeout, KeepAlive: 30 * time.Second}
	// HTTP/1.1 only: Go's HTTP/2 client resends a request by itself on
	// GOAWAY, REFUSED_STREAM and even a PROTOCOL_ERROR reset from the server,
	// which does not prove the request was ignored. A CreateManualDag resent
	// behind our back would start a second DAG run. HTTP/1.1 never resends a
	// POST that was written.
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		TLSHandshakeTimeout:   cfg.ConnectTimeout,
		Protocols:             &protocols,
		MaxIdleConns:          cfg.PoolSize,
		MaxIdleConnsPerHost:   cfg.PoolSize,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: time.Second,
		ResponseHeaderTimeout: cfg.RequestTimeout,
	}
}

// callState is what the transport learns about one Client call. The
// RoundTripper of a pooled SDK client holds a pointer to the current call's
// state: a pooled client serves one goroutine at a time, and the SDK calls
// RoundTrip synchronously from that goroutine, so the slot is never shared.
// This is how the caller's context reaches a request the SDK builds without
// one.
type callState struct {
	ctx      context.Context
	timeout  time.Duration
	maxReply int // MaxReplyBytes, lowered by tests
	// fresh sends the request on a new connection, closed after the reply.
	// A kept-alive connection that the server closed while it sat idle
	// fails only once a request was written on it; for a POST Go does not
	// retry, and the failure reads as "may have been sent" although the
	// server never read the request. Creates avoid that spurious unknown
	// at the cost of one handshake each.
	fresh bool

	roundTrips  int
	accessKeyID string

	// wrote is set by httptrace from the transport's write goroutine.
	wrote atomic.Bool

	transportErr error // RoundTrip failed: no response
	status       int   // a response arrived
	requestID    string
	body         bytes.Buffer // what the SDK read of the reply body
	bodyErr      error        // reading the body failed (not io.EOF)
	bodyDone     bool         // the body was read to its end
}

// ctxTransport is the RoundTripper of one pooled SDK client.
type ctxTransport struct {
	base  http.RoundTripper // shared, keeps connections alive
	fresh http.RoundTripper // shared, a new connection per request
	call  *callState        // set by the Client around each SDK call
}

// RoundTrip sends req under the current call's context and timeout, tracing
// whether the request was written and capturing the reply body.
func (t *ctxTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	st := t.call
	if st == nil {
		return nil, errors.New("dataworks: SDK client used outside a Client call")
	}
	st.roundTrips++
	if id := req.URL.Query().Get("AccessKeyId"); id != "" {
		st.accessKeyID = id
	}
	if err := st.ctx.Err(); err != nil {
		st.transportErr = err
		return nil, err
	}
	ctx, cancel := context.WithTimeout(st.ctx, st.timeout)
	// The SDK's http.Client has its own deadline on req's context: honour it.
	stop := context.AfterFunc(req.Context(), cancel)
	release := func() { stop(); cancel() }

	trace := &httptrace.ClientTrace{
		// WroteHeaders is conservative: once any of the request may be on the
		// wire, the request counts as sent.
		WroteHeaders: func() { st.wrote.Store(true) },
		WroteRequest: func(httptrace.WroteRequestInfo) { st.wrote.Store(true) },
	}
	rt := t.base
	if st.fresh && t.fresh != nil {
		rt = t.fresh
	}
	resp, err := rt.RoundTrip(req.WithContext(httptrace.WithClientTrace(ctx, trace)))
	if err != nil {
		release()
		st.transportErr = err
		return nil, err
	}
	st.status = resp.StatusCode
	// DataWorks does not redirect; following one would resend a signed
	// request somewhere else (as a GET). Hand the 3xx to the SDK as an error.
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		resp.Header.Del("Location")
	}
	st.requestID = resp.Header.Get("x-acs-request-id")
	resp.Body = &captureBody{rc: resp.Body, st: st, release: release}
	return resp, nil
}

// captureBody tees the reply body into the call state, refuses more than
// MaxReplyBytes, and ends the request's context when closed.
type captureBody struct {
	rc      io.ReadCloser
	st      *callState
	release func()
	once    sync.Once
}

func (b *captureBody) Read(p []byte) (int, error) {
	if b.st.bodyErr != nil {
		return 0, b.st.bodyErr
	}
	if room := b.st.maxReply + 1 - b.st.body.Len(); len(p) > room {
		p = p[:room]
	}
	n, err := b.rc.Read(p)
	b.st.body.Write(p[:n])
	if b.st.body.Len() > b.st.maxReply {
		b.st.bodyErr = errReplyTooLarge
		return 0, errReplyTooLarge
	}
	switch {
	case err == io.EOF:
		b.st.bodyDone = true
	case err != nil:
		b.st.bodyErr = err
	}
	return n, err
}

func (b *captureBody) Close() error {
	err := b.rc.Close()
	b.once.Do(b.release)
	return err
}
