package main

import (
	"strings"
	"testing"
	"time"

	"github.com/manualdag/manualdag/dag"
	"github.com/manualdag/manualdag/workflows"
)

func TestExtendRequest(t *testing.T) {
	until := time.Date(2024, 6, 3, 6, 0, 0, 0, time.FixedZone("CST", 8*3600))
	for _, tc := range []struct {
		by, timeout, until string
		want               workflows.ExtendDeadlineRequest
		err                string
	}{
		{by: "2h", want: workflows.ExtendDeadlineRequest{By: dag.Duration(2 * time.Hour)}},
		{timeout: "36h", want: workflows.ExtendDeadlineRequest{Timeout: dag.Duration(36 * time.Hour)}},
		{until: "2024-06-03T06:00:00+08:00", want: workflows.ExtendDeadlineRequest{Until: until}},
		{err: "exactly one"},
		{by: "2h", timeout: "3h", err: "exactly one"},
		{by: "-1h", err: "positive duration"},
		{until: "tomorrow", err: "RFC 3339"},
	} {
		got, err := extendRequest(tc.by, tc.timeout, tc.until)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%+v: error %v, want %q", tc, err, tc.err)
			}
			continue
		}
		if err != nil || got.By != tc.want.By || got.Timeout != tc.want.Timeout || !got.Until.Equal(tc.want.Until) {
			t.Errorf("%+v: got %+v, %v", tc, got, err)
		}
	}
}

func TestRerunAndExtendUsage(t *testing.T) {
	for _, args := range [][]string{
		{"rerun"},
		{"rerun", "a", "b"},
		{"extend", "wf"},
		{"extend", "wf", "--by", "soon"},
	} {
		var out, errOut strings.Builder
		err := run(t.Context(), args, func(string) string { return "" }, &out, &errOut)
		if code := exitCode(err, &errOut); code != exitUsage {
			t.Errorf("%v: exit %d (%v), want %d", args, code, err, exitUsage)
		}
	}
}
