package emulator

import "fmt"

// Status is a node instance status: the 2018 API sends the number, the
// 2020 API the name.
type Status int

// Node instance statuses.
const (
	StatusNotRun            Status = 1
	StatusWaitTime          Status = 2
	StatusWaitResource      Status = 3
	StatusRunning           Status = 4
	StatusFailure           Status = 5
	StatusSuccess           Status = 6
	StatusChecking          Status = 7
	StatusCheckingCondition Status = 8
)

var statusNames = map[Status]string{
	StatusNotRun:            "NOT_RUN",
	StatusWaitTime:          "WAIT_TIME",
	StatusWaitResource:      "WAIT_RESOURCE",
	StatusRunning:           "RUNNING",
	StatusFailure:           "FAILURE",
	StatusSuccess:           "SUCCESS",
	StatusChecking:          "CHECKING",
	StatusCheckingCondition: "CHECKING_CONDITION",
}

// String returns the 2020 API name, e.g. "WAIT_RESOURCE".
func (s Status) String() string {
	if n, ok := statusNames[s]; ok {
		return n
	}
	return "UNKNOWN"
}

// MarshalText makes statuses readable in inspection JSON.
func (s Status) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Final reports whether the status is terminal.
func (s Status) Final() bool { return s == StatusFailure || s == StatusSuccess }

// UnmarshalText reads a name written by MarshalText.
func (s *Status) UnmarshalText(b []byte) error {
	for k, n := range statusNames {
		if n == string(b) {
			*s = k
			return nil
		}
	}
	return fmt.Errorf("unknown node status %q", b)
}
