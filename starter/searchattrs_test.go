package main

import (
	"strings"
	"testing"

	"github.com/manualdag/manualdag/internal/temporalclient"
	"github.com/manualdag/manualdag/workflows"
)

func TestPrintSearchAttributes(t *testing.T) {
	var out strings.Builder
	if n := printSearchAttributes(&out, temporalclient.SearchAttributes{}, nil); n != len(workflows.SearchAttributeKeys()) {
		t.Errorf("an empty namespace: %d missing", n)
	}
	if !strings.Contains(out.String(), "DataWorksDagId") || !strings.Contains(out.String(), "Int") || !strings.Contains(out.String(), "missing") {
		t.Errorf("table:\n%s", out.String())
	}
	out.Reset()
	if n := printSearchAttributes(&out, temporalclient.SearchAttributes{}, workflows.SearchAttributeKeys()); n != 0 || strings.Contains(out.String(), "missing") {
		t.Errorf("all just registered: %d missing\n%s", n, out.String())
	}
}

func TestSearchAttributesUsage(t *testing.T) {
	var stderr strings.Builder
	err := run(t.Context(), []string{"search-attributes", "extra"}, noEnv, &strings.Builder{}, &stderr)
	if code := exitCode(err, &stderr); code != exitUsage || !strings.Contains(stderr.String(), searchAttributesUsage) {
		t.Errorf("exit %d, stderr %q", code, stderr.String())
	}
}
