package dag

import (
	"strconv"
	"strings"
)

// Status is the state of one node instance. The eight documented values are
// the exported constants; anything else the service sends is carried as-is
// (2020 strings verbatim, 2018 integers as "CODE_<n>") so that it can be
// reported instead of silently mapped onto a known state.
type Status string

// The documented node states. The 2018-06-01 API sends the integer in the
// comment, the 2020-05-18 API the name.
const (
	StatusNotRun            Status = "NOT_RUN"            // 1: upstream not all succeeded
	StatusWaitTime          Status = "WAIT_TIME"          // 2: waiting for its due time
	StatusWaitResource      Status = "WAIT_RESOURCE"      // 3: queued for resources
	StatusRunning           Status = "RUNNING"            // 4
	StatusFailure           Status = "FAILURE"            // 5: final
	StatusSuccess           Status = "SUCCESS"            // 6: final
	StatusChecking          Status = "CHECKING"           // 7: data-quality check running
	StatusCheckingCondition Status = "CHECKING_CONDITION" // 8: branch-condition check running
)

var statusByCode = map[int]Status{
	1: StatusNotRun,
	2: StatusWaitTime,
	3: StatusWaitResource,
	4: StatusRunning,
	5: StatusFailure,
	6: StatusSuccess,
	7: StatusChecking,
	8: StatusCheckingCondition,
}

const unknownCodePrefix = "CODE_"

// StatusFromCode parses the 2018-06-01 integer status. An undocumented code
// is kept as "CODE_<n>".
func StatusFromCode(code int) Status {
	if s, ok := statusByCode[code]; ok {
		return s
	}
	return Status(unknownCodePrefix + strconv.Itoa(code))
}

// Code returns the 2018-06-01 integer for a status, or 0 when it has none.
func (s Status) Code() int {
	for c, st := range statusByCode {
		if st == s {
			return c
		}
	}
	if n, err := strconv.Atoi(strings.TrimPrefix(string(s), unknownCodePrefix)); err == nil && strings.HasPrefix(string(s), unknownCodePrefix) {
		return n
	}
	return 0
}

// Known reports whether s is one of the eight documented values.
func (s Status) Known() bool {
	switch s {
	case StatusNotRun, StatusWaitTime, StatusWaitResource, StatusRunning,
		StatusFailure, StatusSuccess, StatusChecking, StatusCheckingCondition:
		return true
	}
	return false
}

// Terminal reports whether the node instance has reached a final state.
// NOT_RUN is not terminal even though a node blocked behind a failure stays
// NOT_RUN forever: deciding "blocked" needs the whole DAG, not one node.
// Unknown values are never terminal.
func (s Status) Terminal() bool { return s == StatusSuccess || s == StatusFailure }

// Active reports whether the node is on its way to a final state on its own:
// waiting for time or resources, running, or being checked. NOT_RUN is not
// active (it waits for its upstream), and neither is an unknown value.
func (s Status) Active() bool {
	switch s {
	case StatusWaitTime, StatusWaitResource, StatusRunning, StatusChecking, StatusCheckingCondition:
		return true
	}
	return false
}
