package emulator

import (
	"bytes"
	"cmp"
	"container/heap"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"
)

// EventSigner signs one push before it is sent, adding the headers its
// receiver verifies (EventBridge's x-eventbridge-signature* for v1 and v2,
// or a bearer token). body is the request body exactly as sent. The
// emulator defines the interface so that it depends on no signer: package
// openevent's signers satisfy it, and the command wires them in.
type EventSigner interface {
	Sign(req *http.Request, body []byte) error
}

// MakeEventSigner makes the signer of the pushes, signing with the clock
// now. The emulator makes two: one on its own clock, and one
// EventFaults.StaleBy behind it for the stale fault (a signature whose
// timestamp a receiver must refuse).
type MakeEventSigner func(now func() time.Time) (EventSigner, error)

// StaticSigner is a MakeEventSigner for a signer that reads no clock, such
// as TokenSigner: stale pushes then differ only by their envelope times.
func StaticSigner(s EventSigner) MakeEventSigner {
	return func(func() time.Time) (EventSigner, error) { return s, nil }
}

// TokenSigner signs a push with a shared token, "Authorization: Bearer
// <token>", for a receiver on a private network that accepts one instead
// of EventBridge's signature.
type TokenSigner struct{ Token string }

var _ EventSigner = TokenSigner{}

// Sign sets the Authorization header.
func (s TokenSigner) Sign(req *http.Request, _ []byte) error {
	if s.Token == "" {
		return errors.New("token signer: the token is empty (set MANUALDAG_EMULATOR_EVENTS_TOKEN)")
	}
	req.Header.Set("Authorization", "Bearer "+s.Token)
	return nil
}

// String hides the token from logs and %v.
func (s TokenSigner) String() string { return "TokenSigner{Token:***}" }

// GoString hides the token from %#v.
func (s TokenSigner) GoString() string { return s.String() }

// EventOptions configure the pushed events (Options.Events). The zero value
// of every field but URL means its default; without URL no event is pushed.
type EventOptions struct {
	// URL is where every event is POSTed: the HTTP target an EventBridge
	// rule would deliver to. Default "": no events.
	URL string
	// Instances pushes InstanceStatusChanges for each node instance change
	// as well. Default false: DagStatusChanges only, the events DataWorks
	// documents for manual DAG runs.
	Instances bool
	// Signer makes the signer of the pushes. Default nil: unsigned.
	Signer MakeEventSigner
	// Faults injected into the pushes. Default none.
	Faults EventFaults
	// QueueSize bounds the pushes waiting to be sent, delayed, duplicated
	// and retrying ones included: a push met by a full queue is dropped and
	// counted (EventStats.QueueFull), so that a slow receiver never slows
	// the API. Default 1000.
	QueueSize int
	// Timeout bounds one POST. Default 5s.
	Timeout time.Duration
	// Retries are the tries after the first, for a 5xx answer or no answer;
	// a 4xx is final. Default 3, as EventBridge's back-off policy; negative:
	// none.
	Retries int
	// RetryWait and RetryWaitMax bound the random wait before a retry (real
	// time). Defaults 10s and 20s, as EventBridge's back-off policy.
	RetryWait    time.Duration
	RetryWaitMax time.Duration
	// ScanEvery is how often (real time) the runs are looked at for status
	// changes. Default 100ms; negative: never by itself, a test on a fake
	// clock calls Emulator.ScanEvents.
	ScanEvery time.Duration
	// AccountID (aliyunaccountid), Region (aliyunregionid), EventBus
	// (aliyuneventbusname) and TenantID (data.tenantId) fill the events.
	// Defaults: the account the API reports as creator, cn-shanghai,
	// "default", 1000000000001000.
	AccountID string
	Region    string
	EventBus  string
	TenantID  int64
	// Client sends the pushes. Default a new http.Client; Timeout applies
	// either way.
	Client *http.Client
}

// Defaults of EventOptions.
const (
	defaultEventQueue     = 1000
	defaultEventTimeout   = 5 * time.Second
	defaultEventRetries   = 3
	defaultRetryWait      = 10 * time.Second
	defaultRetryWaitMax   = 20 * time.Second
	defaultEventScanEvery = 100 * time.Millisecond
	defaultEventRegion    = "cn-shanghai"
	defaultEventBus       = "default"
	defaultTenantID       = 1000000000001000
	// eventPublishAddr is aliyunpublishaddr: the documented sample has one.
	eventPublishAddr = "127.0.0.1"
)

func (o *EventOptions) setDefaults() error {
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("events URL %q: give an absolute http:// or https:// URL, the receiver's", o.URL)
	}
	if err := o.Faults.validate(); err != nil {
		return err
	}
	switch {
	case o.QueueSize < 0 || o.Timeout < 0 || o.RetryWait < 0 || o.RetryWaitMax < 0:
		return errors.New("events: QueueSize, Timeout, RetryWait and RetryWaitMax must not be negative")
	case o.RetryWaitMax != 0 && o.RetryWaitMax < o.RetryWait:
		return fmt.Errorf("events: RetryWaitMax %v is below RetryWait %v", o.RetryWaitMax, o.RetryWait)
	}
	o.QueueSize = cmp.Or(o.QueueSize, defaultEventQueue)
	o.Timeout = cmp.Or(o.Timeout, defaultEventTimeout)
	switch {
	case o.Retries == 0:
		o.Retries = defaultEventRetries
	case o.Retries < 0:
		o.Retries = 0
	}
	if o.RetryWait == 0 && o.RetryWaitMax == 0 {
		o.RetryWait, o.RetryWaitMax = defaultRetryWait, defaultRetryWaitMax
	}
	o.RetryWaitMax = max(o.RetryWaitMax, o.RetryWait)
	o.ScanEvery = cmp.Or(o.ScanEvery, defaultEventScanEvery)
	o.AccountID = cmp.Or(o.AccountID, createUser)
	o.Region = cmp.Or(o.Region, defaultEventRegion)
	o.EventBus = cmp.Or(o.EventBus, defaultEventBus)
	o.TenantID = cmp.Or(o.TenantID, defaultTenantID)
	if o.Client == nil {
		o.Client = &http.Client{}
	}
	return nil
}

// EventStats counts the pushed events since the emulator started: what
// the simulation produced, what the faults did to it, and how the receiver
// answered. GET /_emulator/stats shows it under "events".
type EventStats struct {
	// URL is the receiver, without query or user information.
	URL string `json:"url"`
	// Faults in force, in the compact form ("none").
	Faults string `json:"faults"`
	// Generated counts the status changes, by event type.
	Generated map[string]int `json:"generated"`
	// Dropped: never sent (the drop fault).
	Dropped int `json:"dropped"`
	// QueueFull: lost because the queue was full when it was due to wait.
	QueueFull int `json:"queueFull"`
	// Duplicated, Reordered, Tampered (bad signature) and Stale count the
	// events those faults met; a duplicated event is sent twice.
	Duplicated int `json:"duplicated"`
	Reordered  int `json:"reordered"`
	Tampered   int `json:"tampered"`
	Stale      int `json:"stale"`
	// Sent counts the POSTs, every copy and retry included.
	Sent int `json:"sent"`
	// Delivered: answered 2xx.
	Delivered int `json:"delivered"`
	// Rejected: answered 4xx (or another non-2xx below 500), never retried.
	Rejected int `json:"rejected"`
	// Retried: tries after a 5xx or no answer.
	Retried int `json:"retried"`
	// Failed: given up after the last retry, or not signed.
	Failed int `json:"failed"`
	// Statuses counts the answers by HTTP status; "error" when none came.
	Statuses map[string]int `json:"statuses"`
	// Pending are waiting to be sent now (delays and retries included).
	Pending int `json:"pending"`
	// LastError is the last failure, for a human reading the stats.
	LastError string `json:"lastError,omitempty"`
}

// push is one POST to make: an event, or its duplicate.
type push struct {
	due    time.Time // real time
	seq    uint64    // first in, first out among equal due times
	id     string
	typ    string
	body   []byte
	forged []byte // the bad-signature fault: sent instead of body, after body was signed
	stale  bool
	tries  int
}

// pushQueue is a heap of pushes by due time.
type pushQueue []*push

func (q pushQueue) Len() int { return len(q) }
func (q pushQueue) Less(i, j int) bool {
	return cmp.Or(q[i].due.Compare(q[j].due), cmp.Compare(q[i].seq, q[j].seq)) < 0
}
func (q pushQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *pushQueue) Push(x any)   { *q = append(*q, x.(*push)) }
func (q *pushQueue) Pop() any {
	old := *q
	p := old[len(old)-1]
	*q = old[:len(old)-1]
	return p
}

// publisher turns the scans' status changes into pushes and sends them
// one at a time, in due order, as a single EventBridge target would: a
// slow or dead receiver fills the bounded queue, never the API.
type publisher struct {
	opts        EventOptions
	signer      EventSigner // nil: unsigned
	staleSigner EventSigner
	log         *slog.Logger
	idBase      uint64
	wake        chan struct{}
	scanMu      sync.Mutex // one scan at a time, so pushes queue in scan order

	mu     sync.Mutex
	faults EventFaults
	rng    *rand.Rand // the faults' draws
	retry  *rand.Rand // retry waits: not the faults' source, which must not depend on the receiver
	seq    uint64
	queue  pushQueue
	// sending is the push being sent (0 or 1): it keeps its place in the
	// queue's bound, so that its retry always fits.
	sending int
	stats   EventStats
}

func newPublisher(opts EventOptions, seed int64, now func() time.Time, log *slog.Logger) (*publisher, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	p := &publisher{
		opts: opts, log: log, idBase: rand.Uint64(), wake: make(chan struct{}, 1),
		faults: opts.Faults, rng: newEventRand(seed), retry: rand.New(rand.NewPCG(uint64(seed), 0x7265_7472_79)),
		stats: EventStats{URL: redactURL(opts.URL), Generated: map[string]int{}, Statuses: map[string]int{}},
	}
	if opts.Signer != nil {
		var err error
		if p.signer, err = opts.Signer(now); err != nil {
			return nil, fmt.Errorf("events: signer: %w", err)
		}
		staleClock := func() time.Time {
			p.mu.Lock()
			by := p.faults.staleBy()
			p.mu.Unlock()
			return now().Add(-by)
		}
		if p.staleSigner, err = opts.Signer(staleClock); err != nil {
			return nil, fmt.Errorf("events: stale signer: %w", err)
		}
	}
	return p, nil
}

// redactURL keeps scheme, host and path: a query may carry a token.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
}

// publish applies the faults to the status changes of one scan, made at
// now (emulator clock), and queues what is to be sent.
func (p *publisher) publish(evs []simEvent, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, ev := range evs {
		plan := p.faults.plan(p.rng)
		typ := EventTypeDagStatus
		if ev.inst != nil {
			typ = EventTypeInstanceStatus
		}
		p.stats.Generated[typ]++
		if plan.drop {
			p.stats.Dropped++
			continue
		}
		id, body, forged, err := p.envelope(ev, typ, plan, now)
		if err != nil { // plain structs: cannot happen, but never panic
			p.stats.Failed++
			p.stats.LastError = "encode event: " + err.Error()
			continue
		}
		copies := 1
		if plan.duplicate {
			copies = 2
			p.stats.Duplicated++
		}
		for _, counted := range []struct {
			met bool
			n   *int
		}{{plan.reorder, &p.stats.Reordered}, {plan.badSignature, &p.stats.Tampered}, {plan.stale, &p.stats.Stale}} {
			if counted.met {
				*counted.n++
			}
		}
		for c := range copies {
			p.enqueue(&push{due: time.Now().Add(plan.delays[c]), id: id, typ: typ, body: body, forged: forged, stale: plan.stale})
		}
	}
}

// enqueue queues ps unless the queue is full. Called with p.mu held.
func (p *publisher) enqueue(ps *push) {
	if len(p.queue)+p.sending >= p.opts.QueueSize {
		p.stats.QueueFull++
		return
	}
	p.seq++
	ps.seq = p.seq
	heap.Push(&p.queue, ps)
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// envelope renders one event, and under the bad-signature fault the forged
// body that replaces it after signing. Called with p.mu held.
func (p *publisher) envelope(ev simEvent, typ string, plan pushPlan, now time.Time) (id string, body, forged []byte, err error) {
	p.seq++
	id = fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", uint32(p.idBase>>32), uint16(p.idBase>>16), p.idBase&0xfff,
		(p.seq>>48)&0xfff, p.seq&0xffff_ffff_ffff)
	at, published := ev.at, now
	if plan.stale { // a replay: made and published StaleBy ago
		at, published = at.Add(-p.faults.staleBy()), published.Add(-p.faults.staleBy())
	}
	ce := cloudEvent{
		ID: id, Source: eventSource, SpecVersion: eventSpecVersion, Type: typ,
		Time: at.In(chinaTime).Format(time.RFC3339), DataContentType: eventContentType,
		AliyunAccountID: p.opts.AccountID, AliyunPublishTime: published.In(chinaTime).Format(publishTimeLayout),
		AliyunEventBusName: p.opts.EventBus, AliyunRegionID: p.opts.Region, AliyunPublishAddr: eventPublishAddr,
	}
	var forgedData any
	if ev.dag != nil {
		d := *ev.dag
		d.DagType = plan.dagType
		ce.Data = d
		d.Status = forgeStatus(d.Status, DagSucceeded, DagFailed)
		forgedData = d
	} else {
		d := *ev.inst
		d.DagType = plan.dagType
		if d.Status == int(StatusNotRun) {
			d.Status = plan.notRun
		}
		ce.Data = d
		d.Status = forgeStatus(d.Status, int(StatusSuccess), int(StatusFailure))
		forgedData = d
	}
	if body, err = json.Marshal(ce); err != nil || !plan.badSignature {
		return id, body, nil, err
	}
	ce.Data = forgedData
	forged, err = json.Marshal(ce)
	return id, body, forged, err
}

// forgeStatus is what a forger would send: a verdict the run has not
// reached (success, or failure when it did succeed).
func forgeStatus(status, success, failure int) int {
	if status == success {
		return failure
	}
	return success
}

// run sends the pushes as they fall due, until ctx ends: the push then in
// flight counts as failed, those still queued are abandoned (Pending).
func (p *publisher) run(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for ctx.Err() == nil {
		p.mu.Lock()
		var wait time.Duration = -1
		var next *push
		if len(p.queue) > 0 {
			if wait = time.Until(p.queue[0].due); wait <= 0 {
				next = heap.Pop(&p.queue).(*push)
				p.sending = 1
			}
		}
		p.mu.Unlock()
		if next != nil {
			p.send(ctx, next)
			continue
		}
		var fire <-chan time.Time
		if wait > 0 {
			timer.Reset(wait)
			fire = timer.C
		}
		select {
		case <-ctx.Done():
		case <-p.wake:
		case <-fire:
		}
		timer.Stop() // since Go 1.23 a stopped timer delivers nothing stale
	}
}

// errNotSigned marks a push its signer refused: retrying cannot help.
var errNotSigned = errors.New("not signed")

// send makes one try of ps and records the outcome; a 5xx or no answer
// queues a retry while tries remain.
func (p *publisher) send(ctx context.Context, ps *push) {
	ps.tries++
	status, err := p.post(ctx, ps)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sending = 0
	p.stats.Sent++
	key := "error"
	if err == nil {
		key = strconv.Itoa(status)
	}
	p.stats.Statuses[key]++
	switch {
	case err == nil && status >= 200 && status < 300:
		p.stats.Delivered++
		p.log.Debug("event pushed", "type", ps.typ, "id", ps.id, "status", status)
		return
	case err == nil && status < 500:
		p.stats.Rejected++
		p.stats.LastError = fmt.Sprintf("event %s: HTTP %d (not retried)", ps.id, status)
	case errors.Is(err, errNotSigned) || ctx.Err() != nil:
		p.stats.Failed++
		p.stats.LastError = fmt.Sprintf("event %s: %v", ps.id, err)
	case ps.tries <= p.opts.Retries:
		p.stats.Retried++
		wait := p.opts.RetryWait + time.Duration(p.retry.Float64()*float64(p.opts.RetryWaitMax-p.opts.RetryWait))
		ps.due = time.Now().Add(wait)
		p.seq++
		ps.seq = p.seq
		heap.Push(&p.queue, ps) // its place in the bound was kept while it was sent
		return
	default:
		p.stats.Failed++
		p.stats.LastError = fmt.Sprintf("event %s: %s after %d tries", ps.id, cmp.Or(errString(err), "HTTP "+key), ps.tries)
	}
	p.log.Warn("event push failed", "type", ps.typ, "id", ps.id, "tries", ps.tries, "error", p.stats.LastError)
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// post makes one POST of ps: signed, then forged under the bad-signature
// fault.
func (p *publisher) post(ctx context.Context, ps *push) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, p.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.opts.URL, bytes.NewReader(ps.body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", eventContentType)
	signer := p.signer
	if ps.stale {
		signer = p.staleSigner
	}
	if signer != nil {
		if err := signer.Sign(req, ps.body); err != nil {
			return 0, fmt.Errorf("%w: %v", errNotSigned, err)
		}
	}
	if ps.forged != nil {
		tamper(req, ps.forged)
	}
	resp, err := p.opts.Client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}

// tamper replaces a signed request's body with forged and alters a bearer
// token: whatever the signature covers no longer matches.
func tamper(req *http.Request, forged []byte) {
	req.Body = io.NopCloser(bytes.NewReader(forged))
	req.ContentLength = int64(len(forged))
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(forged)), nil }
	if auth := req.Header.Get("Authorization"); auth != "" {
		last := byte('x')
		if auth[len(auth)-1] == 'x' {
			last = 'y'
		}
		req.Header.Set("Authorization", auth[:len(auth)-1]+string(last))
	}
}

func (p *publisher) snapshot() EventStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.stats
	s.Faults = p.faults.String()
	s.Generated = maps.Clone(p.stats.Generated)
	s.Statuses = maps.Clone(p.stats.Statuses)
	s.Pending = len(p.queue) + p.sending
	return s
}

// ScanEvents pushes the status changes of every run since the last scan,
// up to the clock's now. The emulator scans by itself every
// EventOptions.ScanEvery; a test on a fake clock calls it after moving
// the clock. Without EventOptions.URL it does nothing.
func (e *Emulator) ScanEvents() {
	p := e.events
	if p == nil {
		return
	}
	p.scanMu.Lock()
	defer p.scanMu.Unlock()
	now := e.now()
	e.mu.Lock()
	evs := e.collectEvents(now, p.opts.Instances, p.opts.TenantID)
	e.mu.Unlock()
	p.publish(evs, now)
}

// EventStats returns the push counters; ok is false when events are off.
func (e *Emulator) EventStats() (s EventStats, ok bool) {
	if e.events == nil {
		return EventStats{}, false
	}
	return e.events.snapshot(), true
}

// errEventsOff answers a change of the event faults when nothing is pushed.
var errEventsOff = errors.New("events are off: start the emulator with an events URL (-events-url, Options.Events.URL)")

// SetEventFaults replaces the faults of the events pushed from now on.
func (e *Emulator) SetEventFaults(f EventFaults) error {
	if e.events == nil {
		return errEventsOff
	}
	if err := f.validate(); err != nil {
		return err
	}
	e.events.mu.Lock()
	defer e.events.mu.Unlock()
	e.events.faults = f
	return nil
}

// startEvents runs the scan and the sender until Close.
func (e *Emulator) startEvents() {
	ctx, cancel := context.WithCancel(context.Background())
	e.stopEvents = cancel
	e.eventsDone.Add(1)
	go func() {
		defer e.eventsDone.Done()
		e.events.run(ctx)
	}()
	if every := e.events.opts.ScanEvery; every > 0 {
		e.eventsDone.Add(1)
		go func() {
			defer e.eventsDone.Done()
			tick := time.NewTicker(every)
			defer tick.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
					e.ScanEvents()
				}
			}
		}()
	}
}

// Close stops pushing events: pushes not yet sent are abandoned (they stay
// counted as Pending). It is safe to call more than once, and a no-op
// without events.
func (e *Emulator) Close() error {
	if e.stopEvents != nil {
		e.stopEvents()
		e.eventsDone.Wait()
	}
	return nil
}
