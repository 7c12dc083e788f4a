package dataworks

import (
	"context"
	"sync"
	"time"
)

// limiter lets at most n requests start in any window of length per, by
// remembering the start times of the last n: a strict sliding window, not a
// token bucket, because a DataWorks account's QPS quota counts requests per
// second and a bucket's burst would exceed it.
type limiter struct {
	mu   sync.Mutex
	per  time.Duration
	sent []time.Time // a ring of the last n start times
	next int         // the oldest of them
	// now and sleep are the clock; tests replace them.
	now   func() time.Time
	sleep func(ctx context.Context, d time.Duration) error
}

// limitMargin widens each window a little, so that requests sent a window
// apart cannot arrive closer than that after uneven network delays.
const limitMargin = 20 * time.Millisecond

// newLimiter returns a limiter for at most qps requests in any one second
// (any 1/qps seconds when qps < 1); nil for no limit. A fractional qps
// above 1 is rounded down: the quota is never exceeded.
func newLimiter(qps float64) *limiter {
	switch {
	case qps <= 0:
		return nil
	case qps < 1:
		return &limiter{per: time.Duration(float64(time.Second)/qps) + limitMargin, sent: make([]time.Time, 1), now: time.Now, sleep: sleep}
	default:
		return &limiter{per: time.Second + limitMargin, sent: make([]time.Time, int(qps)), now: time.Now, sleep: sleep}
	}
}

// sleep waits d, or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// wait blocks until a request may start, and counts it as started; it
// returns ctx's error if ctx ends first (nothing is then counted).
func (l *limiter) wait(ctx context.Context) error {
	if l == nil {
		return nil
	}
	for {
		l.mu.Lock()
		now := l.now()
		oldest := l.sent[l.next]
		if oldest.IsZero() || now.Sub(oldest) >= l.per {
			l.sent[l.next] = now
			l.next = (l.next + 1) % len(l.sent)
			l.mu.Unlock()
			return nil
		}
		d := l.per - now.Sub(oldest)
		l.mu.Unlock()
		if err := l.sleep(ctx, d); err != nil {
			return err
		}
	}
}
