package aliyun

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth/credentials"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	dwpub "github.com/aliyun/alibaba-cloud-sdk-go/services/dataworks-public"

	"github.com/manualdag/manualdag/dataworks"
)

// productCode is DataWorks' product code in the SDK and in signed requests.
const productCode = "dataworks-public"

// Client calls the DataWorks API. It is safe for concurrent use: at most
// Config.PoolSize calls are in flight, each on its own SDK client; further
// callers wait for a free one (or for their context).
type Client struct {
	cfg    Config // defaults applied
	domain string // Endpoint as the SDK wants it (IPv6 bracketed)
	pool   chan *pooledClient
	creds  *sharedCredentials
	limit  *limiter // nil: no cap
	// maxReply bounds a reply body: MaxReplyBytes except in tests.
	maxReply int
}

// pooledClient is one SDK client and the transport that carries the current
// call's context into it. It is owned by one goroutine at a time.
type pooledClient struct {
	sdk *dwpub.Client
	rt  *ctxTransport
}

// New builds a Client. It validates cfg (see Config.Validate) but does no I/O:
// a credential chain is first consulted by the first call.
func New(cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	provider, err := auth.ToCredentialsProvider(cfg.Credential)
	if err != nil {
		return nil, fmt.Errorf("dataworks config: Credential of type %T is not supported: use a provider from sdk/auth/credentials", cfg.Credential)
	}
	c := &Client{
		cfg:    cfg,
		domain: cfg.Endpoint,
		pool:   make(chan *pooledClient, cfg.PoolSize),
		creds:  &sharedCredentials{p: provider},
		limit:  newLimiter(cfg.MaxQPS),

		maxReply: MaxReplyBytes,
	}
	if ip := net.ParseIP(cfg.Endpoint); ip != nil && strings.Contains(cfg.Endpoint, ":") {
		c.domain = "[" + cfg.Endpoint + "]"
	}
	base := newBaseTransport(cfg)
	// Writes never reuse a kept-alive connection: one the server closed
	// while idle fails only after the request was written, and a create
	// that fails that way must count as possibly sent (see callState.fresh).
	fresh := newBaseTransport(cfg)
	fresh.DisableKeepAlives = true
	for range cfg.PoolSize {
		rt := &ctxTransport{base: base, fresh: fresh}
		sc := sdk.NewConfig()
		sc.AutoRetry = false // a resent CreateManualDag starts a second DAG run
		sc.MaxRetryTime = 0
		sc.Scheme = strings.ToUpper(cfg.Scheme)
		sc.Timeout = cfg.RequestTimeout
		sc.Transport = rt
		cl, err := dwpub.NewClientWithOptions(cfg.Region, sc, c.creds)
		if err != nil {
			return nil, fmt.Errorf("dataworks: build SDK client: %w", err)
		}
		cl.SetReadTimeout(cfg.RequestTimeout)
		cl.SetConnectTimeout(cfg.ConnectTimeout)
		c.pool <- &pooledClient{sdk: cl, rt: rt}
	}
	return c, nil
}

// APIVersion is the API version calls use unless a request overrides it.
func (c *Client) APIVersion() string { return c.cfg.APIVersion }

// AccessKeyID is the AccessKeyId the client last signed with, best effort and
// for messages only: empty before the credential chain was first consulted.
// The secret is never exposed.
func (c *Client) AccessKeyID() string { return c.creds.accessKeyID() }

// CheckCredentials resolves the credential once, so that a binary can refuse
// to start without one instead of failing its first DataWorks call. It sends
// nothing to DataWorks.
func (c *Client) CheckCredentials() error {
	if _, err := c.creds.GetCredentials(); err != nil {
		return fmt.Errorf("no usable Alibaba Cloud credential (set ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET, or configure RRSA/OIDC, a credentials file or an ECS RAM role): %s", redact(err.Error(), c.creds.secrets()...))
	}
	return nil
}

// version resolves a request's API version.
func (c *Client) version(override string) (string, error) {
	if override == "" {
		return c.cfg.APIVersion, nil
	}
	return override, checkAPIVersion(override)
}

// commonRequest is a 2018-06-01 call: every business parameter in the query.
func (c *Client) commonRequest(action, version string) *requests.CommonRequest {
	r := requests.NewCommonRequest()
	r.Method = requests.POST
	r.Product = productCode
	r.Version = version
	r.ApiName = action
	r.Domain = c.domain
	r.Scheme = strings.ToUpper(c.cfg.Scheme)
	r.QueryParams["RegionId"] = c.cfg.Region
	return r
}

// rpc points a typed 2020-05-18 request at the configured endpoint.
func (c *Client) rpc(r *requests.RpcRequest) {
	r.Domain = c.domain
	r.Scheme = strings.ToUpper(c.cfg.Scheme)
	r.RegionId = c.cfg.Region
}

// reply is a complete 2xx reply, ready to decode.
type reply struct {
	status    int
	requestID string // from the x-acs-request-id header
	body      []byte
}

// do runs one SDK call on a pooled client. It returns the reply only when a
// complete 2xx body arrived; every other outcome is a *dataworks.Error whose Phase
// says how far the request got.
func (c *Client) do(ctx context.Context, action string, send func(*dwpub.Client) error) (*reply, error) {
	return c.doWith(ctx, action, callOptions{}, send)
}

// callOptions set how doWith runs one call.
type callOptions struct {
	// write marks a call that has an effect and no idempotency token
	// (CreateManualDag): it goes before reads at the QPS cap, and out on a
	// fresh connection.
	write bool
	// beforeSend runs once a pooled client, the credential and a QPS slot
	// are in hand, immediately before the request is handed to the SDK. If
	// it fails, nothing is sent.
	beforeSend func() error
}

// doWith is do with options.
func (c *Client) doWith(ctx context.Context, action string, o callOptions, send func(*dwpub.Client) error) (*reply, error) {
	if err := ctx.Err(); err != nil {
		return nil, c.finish(action, &dataworks.Error{Phase: dataworks.PhaseNotSent, Code: dataworks.CodeCanceled, Err: err})
	}
	var p *pooledClient
	select {
	case p = <-c.pool:
	case <-ctx.Done():
		return nil, c.finish(action, &dataworks.Error{Phase: dataworks.PhaseNotSent, Code: dataworks.CodeCanceled, Err: ctx.Err()})
	}
	defer func() { c.pool <- p }()

	// Consult the credential chain first so that its failure is named as
	// such; the SDK's own call below then hits the provider's cache.
	if _, err := c.creds.GetCredentials(); err != nil {
		return nil, c.finish(action, &dataworks.Error{Phase: dataworks.PhaseNotSent, Code: dataworks.CodeCredentials, Err: err})
	}
	// Wait for the QPS cap at most one request's time, so that a caller
	// with a heartbeat (the create) is not held past it; it is retried.
	lctx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
	err := c.limit.wait(lctx, o.write)
	cancel()
	switch {
	case err != nil && ctx.Err() != nil:
		return nil, c.finish(action, &dataworks.Error{Phase: dataworks.PhaseNotSent, Code: dataworks.CodeCanceled, Err: ctx.Err()})
	case err != nil:
		return nil, c.finish(action, &dataworks.Error{Phase: dataworks.PhaseNotSent, Code: dataworks.CodeQPSCap,
			Message: fmt.Sprintf("not sent: this worker's cap of %g DataWorks requests a second (-dataworks-qps / -dataworks-workers) left no slot within %v", c.cfg.MaxQPS, c.cfg.RequestTimeout), Err: err})
	}
	if o.beforeSend != nil {
		if err := o.beforeSend(); err != nil {
			return nil, c.finish(action, &dataworks.Error{Phase: dataworks.PhaseNotSent, Code: dataworks.CodeBeforeSend, Message: "not sent: " + err.Error(), Err: err})
		}
	}

	st := &callState{ctx: ctx, timeout: c.cfg.RequestTimeout, maxReply: c.maxReply, fresh: o.write}
	p.rt.call = st
	panicked, sdkErr := runSDK(p.sdk, send)
	p.rt.call = nil

	if e := classify(st, sdkErr, panicked); e != nil {
		return nil, c.finish(action, e)
	}
	return &reply{status: st.status, requestID: st.requestID, body: st.body.Bytes()}, nil
}

// runSDK calls send, turning a panic inside the SDK (it type-asserts error
// codes to strings, for one) into a value.
func runSDK(cl *dwpub.Client, send func(*dwpub.Client) error) (panicked any, err error) {
	defer func() {
		if r := recover(); r != nil {
			panicked = r
		}
	}()
	return nil, send(cl)
}

// classify decides what one SDK call amounted to, from what the transport
// saw rather than from the SDK's error: the SDK's errors carry the signed URL,
// drop numeric codes, and do not say whether the request was written.
func classify(st *callState, sdkErr error, panicked any) *dataworks.Error {
	var panicErr error
	if panicked != nil {
		panicErr = fmt.Errorf("the Alibaba SDK panicked: %v", panicked)
	}
	switch {
	case st.roundTrips == 0:
		// The SDK gave up before handing us a request.
		e := &dataworks.Error{Phase: dataworks.PhaseNotSent, Code: dataworks.CodeClientError, Err: sdkErr}
		if panicErr != nil {
			e.Code, e.Err = dataworks.CodeSDKPanic, panicErr
		}
		if e.Err == nil {
			e.Err = errors.New("the Alibaba SDK returned without sending the request")
		}
		return e

	case st.status == 0: // no response
		e := &dataworks.Error{Phase: dataworks.PhaseNotSent, Code: dataworks.CodeTransport, Err: st.transportErr}
		if st.wrote.Load() {
			e.Phase = dataworks.PhaseUnknown
		} else if st.ctx.Err() != nil {
			e.Code = dataworks.CodeCanceled
		}
		if e.Err == nil {
			e.Err = sdkErr
		}
		e.Err = withContextCause(st.ctx, e.Err)
		return e

	case st.bodyErr == errReplyTooLarge:
		return &dataworks.Error{Phase: dataworks.PhaseReplied, HTTPStatus: st.status, Code: dataworks.CodeInvalidResponse,
			Message: errReplyTooLarge.Error(), RequestID: st.requestID, Err: errReplyTooLarge}

	case !st.bodyDone:
		// Headers came, the body did not: for a write the outcome is unknown.
		err := st.bodyErr
		if err == nil {
			err = errors.Join(errors.New("reply body not read to its end"), panicErr, sdkErr)
		}
		return &dataworks.Error{Phase: dataworks.PhaseUnknown, HTTPStatus: st.status, Code: dataworks.CodeTransport,
			RequestID: st.requestID, Err: withContextCause(st.ctx, err)}

	case st.status < 200 || st.status > 299:
		e := decodeErrorReply(st.status, st.requestID, st.body.Bytes())
		if panicErr != nil {
			e.Err = panicErr
		}
		return e
	}
	// A complete 2xx body: the caller decodes it. An SDK error here (the
	// typed 2020 response failing to unmarshal, say) is superseded by our
	// own, tolerant, decoding; so is a panic.
	return nil
}

// withContextCause makes a failure caused by the caller's context match
// errors.Is(err, context.Canceled / DeadlineExceeded).
func withContextCause(ctx context.Context, err error) error {
	cerr := ctx.Err()
	switch {
	case cerr == nil:
		return err
	case err == nil:
		return cerr
	case errors.Is(err, cerr):
		return err
	}
	return fmt.Errorf("%w (%v)", cerr, err)
}

// finish stamps the action and identity on an error and scrubs secrets from
// its text.
func (c *Client) finish(action string, err error) error {
	e, ok := dataworks.AsError(err)
	if !ok {
		return err
	}
	e.Action = action
	if e.AccessKeyID == "" {
		e.AccessKeyID = c.creds.accessKeyID()
	}
	secrets := c.creds.secrets()
	e.Message = redact(e.Message, secrets...)
	e.Recommend = redact(e.Recommend, secrets...)
	if e.Err != nil {
		if msg := redact(e.Err.Error(), secrets...); msg != e.Err.Error() {
			e.Err = &redactedError{msg: msg, err: e.Err}
		}
	}
	return e
}

// sharedCredentials serialises the pool's one credential provider (the SDK's
// default chain is not safe for concurrent use) and remembers the last
// identity for messages, and its secrets for scrubbing them from messages.
type sharedCredentials struct {
	mu     sync.Mutex
	p      credentials.CredentialsProvider
	keyID  atomic.Pointer[string]
	secret []string // guarded by mu
}

var _ credentials.CredentialsProvider = (*sharedCredentials)(nil)

func (s *sharedCredentials) GetCredentials() (*credentials.Credentials, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cc, err := s.p.GetCredentials()
	if err != nil {
		return nil, err
	}
	if cc == nil {
		return nil, errors.New("the credential provider returned no credential")
	}
	id := cc.AccessKeyId
	s.keyID.Store(&id)
	s.secret = s.secret[:0]
	for _, v := range []string{cc.AccessKeySecret, cc.SecurityToken, cc.BearerToken} {
		if len(v) >= 8 { // short strings would scrub ordinary words
			s.secret = append(s.secret, v)
		}
	}
	return cc, nil
}

func (s *sharedCredentials) GetProviderName() string { return s.p.GetProviderName() }

func (s *sharedCredentials) accessKeyID() string {
	if id := s.keyID.Load(); id != nil {
		return *id
	}
	return ""
}

func (s *sharedCredentials) secrets() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.secret...)
}
