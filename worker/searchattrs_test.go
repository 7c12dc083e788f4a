package main

import (
	"os"
	"strings"
	"testing"

	"github.com/manualdag/manualdag/internal/temporalclient"
	"github.com/manualdag/manualdag/workflows"
)

// The registration script for a real cluster lists every search attribute
// the workflow uses, with its type.
func TestSearchAttributesScript(t *testing.T) {
	b, err := os.ReadFile("../deployments/temporal/search-attributes.sh")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range workflows.SearchAttributeKeys() {
		if line := `"` + k.GetName() + " " + temporalclient.TypeName(k.GetValueType()) + `"`; !strings.Contains(string(b), line) {
			t.Errorf("deployments/temporal/search-attributes.sh lacks %s", line)
		}
	}
}
