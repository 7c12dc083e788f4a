package main

import (
	"bytes"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/manualdag/manualdag/dag"
)

// The start log says which build runs; under the default API version it
// warns once that a cancel cannot stop DataWorks and that there are no logs
// or reruns; each deprecated variable is warned about once.
func TestLogStart(t *testing.T) {
	for _, tc := range []struct {
		name     string
		env      map[string]string
		wantWarn []string
	}{
		{"default API", nil, []string{"DataWorks API 2018-06-01 (the default) has no StopInstance"}},
		{"2020-05-18", map[string]string{"MANUALDAG_DATAWORKS_API_VERSION": dag.APIVersion2020}, nil},
		{"old variable names", map[string]string{"DATAWORKS_API_VERSION": dag.APIVersion2020, "DATAWORKS_REGION": "cn-beijing"},
			[]string{"DATAWORKS_REGION is deprecated: rename it MANUALDAG_DATAWORKS_REGION",
				"DATAWORKS_API_VERSION is deprecated: rename it MANUALDAG_DATAWORKS_API_VERSION"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := parseConfig(nil, envOf(tc.env), &bytes.Buffer{})
			if err != nil {
				t.Fatal(err)
			}
			core, logs := observer.New(zapcore.InfoLevel)
			logStart(zap.New(core), cfg, "AKID")
			start := logs.FilterMessage("worker starting").All()
			if len(start) != 1 || start[0].ContextMap()["version"] == "" {
				t.Errorf("start line %+v: want one, with the version", start)
			}
			var warns []string
			for _, e := range logs.FilterLevelExact(zapcore.WarnLevel).All() {
				warns = append(warns, e.Message)
			}
			if len(warns) != len(tc.wantWarn) {
				t.Fatalf("warnings %q, want %d", warns, len(tc.wantWarn))
			}
			for i, w := range tc.wantWarn {
				if !strings.HasPrefix(warns[i], w) {
					t.Errorf("warning %d %q, want it to start %q", i, warns[i], w)
				}
			}
		})
	}
}

func TestVersionFlag(t *testing.T) {
	var stdout, stderr bytes.Buffer
	// -version needs no valid configuration: it answers before any check.
	err := run(t.Context(), []string{"-version"}, envOf(map[string]string{"MANUALDAG_DATAWORKS_QPS": "lots"}), &stdout, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(stdout.String(), "worker devel") && !strings.HasPrefix(stdout.String(), "worker v") {
		t.Errorf("stdout %q", stdout.String())
	}
}
