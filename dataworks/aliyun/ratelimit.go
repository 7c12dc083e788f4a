package aliyun

import (
	"context"
	"sync"
	"time"
)

// limiter lets at most n requests start in any window of length per, by
// remembering the start times of the last n: a strict sliding window, not a
// token bucket, because a DataWorks account's QPS quota counts requests per
// second and a bucket's burst would exceed it (golang.org/x/time/rate is a
// bucket, hence this type).
//
// Callers that find no free slot queue, and each slot that frees up goes to
// the longest-waiting write before any read: a create that loses the cap to
// a stream of searches would wait past its heartbeat timeout and, attempt
// after attempt, end NotTriggered, while a search that waits one more slot
// costs nothing.
type limiter struct {
	per time.Duration
	// now and afterFunc are the clock (time.Now, time.AfterFunc); tests
	// replace them.
	now       func() time.Time
	afterFunc func(d time.Duration, f func())

	mu     sync.Mutex
	sent   []time.Time // a ring of the last n start times
	next   int         // the oldest of them
	writes []*waiter   // queued callers, oldest first
	reads  []*waiter
	armed  bool // a dispatch is scheduled
}

// waiter is one queued caller; granted is closed when its slot is counted.
type waiter struct{ granted chan struct{} }

// limitMargin widens each window a little, so that requests sent a window
// apart cannot arrive closer than that after uneven network delays.
const limitMargin = 20 * time.Millisecond

// newLimiter returns a limiter for at most qps requests in any one second
// (any 1/qps seconds when qps < 1); nil for no limit. A fractional qps
// above 1 is rounded down: the quota is never exceeded.
func newLimiter(qps float64) *limiter {
	l := &limiter{now: time.Now, afterFunc: func(d time.Duration, f func()) { time.AfterFunc(d, f) }}
	switch {
	case qps <= 0:
		return nil
	case qps < 1:
		l.per, l.sent = time.Duration(float64(time.Second)/qps)+limitMargin, make([]time.Time, 1)
	default:
		l.per, l.sent = time.Second+limitMargin, make([]time.Time, int(qps))
	}
	return l
}

// wait blocks until a request may start, and counts it as started. A write
// goes before every queued read. It returns ctx's error if ctx ends first;
// a caller still queued then is not counted.
func (l *limiter) wait(ctx context.Context, write bool) error {
	if l == nil {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	l.mu.Lock()
	if len(l.writes)+len(l.reads) == 0 && l.take(l.now()) {
		l.mu.Unlock()
		return nil
	}
	w := &waiter{granted: make(chan struct{})}
	if write {
		l.writes = append(l.writes, w)
	} else {
		l.reads = append(l.reads, w)
	}
	l.arm()
	l.mu.Unlock()

	select {
	case <-w.granted:
		return nil
	case <-ctx.Done():
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.writes, l.reads = remove(l.writes, w), remove(l.reads, w)
	// Granted meanwhile or not, the caller must not send on a done context;
	// a granted slot stays counted, which only errs on the safe side.
	return ctx.Err()
}

// take counts a start at now if a slot is free. l.mu is held.
func (l *limiter) take(now time.Time) bool {
	oldest := l.sent[l.next]
	if !oldest.IsZero() && now.Sub(oldest) < l.per {
		return false
	}
	l.sent[l.next] = now
	l.next = (l.next + 1) % len(l.sent)
	return true
}

// arm schedules a dispatch for when the oldest start leaves the window, if
// anyone queues and none is scheduled. l.mu is held.
func (l *limiter) arm() {
	if l.armed || len(l.writes)+len(l.reads) == 0 {
		return
	}
	l.armed = true
	d := max(l.per-l.now().Sub(l.sent[l.next]), 0)
	l.afterFunc(d, l.dispatch)
}

// dispatch hands the free slots to queued callers, writes first.
func (l *limiter) dispatch() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.armed = false
	now := l.now()
	for len(l.writes)+len(l.reads) > 0 && l.take(now) {
		queue := &l.reads
		if len(l.writes) > 0 {
			queue = &l.writes
		}
		close((*queue)[0].granted)
		*queue = (*queue)[1:]
	}
	l.arm()
}

func remove(q []*waiter, w *waiter) []*waiter {
	for i, x := range q {
		if x == w {
			return append(q[:i:i], q[i+1:]...)
		}
	}
	return q
}
