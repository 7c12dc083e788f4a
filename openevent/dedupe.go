package openevent

import (
	"container/list"
	"crypto/sha256"
	"sync"
)

// seenIDs remembers the CloudEvent ids already signalled, the most recent
// max of them. It keeps a 16-byte hash of each, so that its
// memory is bounded by max whatever the ids look like: about 100 bytes an
// entry, 10 MB at the default 100,000.
type seenIDs struct {
	mu    sync.Mutex
	max   int
	order *list.List // of idKey, most recent first
	index map[idKey]*list.Element
}

type idKey [16]byte

func newSeenIDs(max int) *seenIDs {
	return &seenIDs{max: max, order: list.New(), index: make(map[idKey]*list.Element)}
}

func keyOf(id string) idKey {
	sum := sha256.Sum256([]byte(id))
	var k idKey
	copy(k[:], sum[:])
	return k
}

// has reports whether k was added, and makes it the most recent.
func (s *seenIDs) has(k idKey) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.index[k]
	if ok {
		s.order.MoveToFront(e)
	}
	return ok
}

// add remembers k, forgetting the least recent id past max, and returns
// how many are remembered.
func (s *seenIDs) add(k idKey) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.index[k]; ok {
		s.order.MoveToFront(e)
		return s.order.Len()
	}
	s.index[k] = s.order.PushFront(k)
	for s.order.Len() > s.max {
		last := s.order.Back()
		s.order.Remove(last)
		delete(s.index, last.Value.(idKey))
	}
	return s.order.Len()
}

func (s *seenIDs) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.order.Len()
}
