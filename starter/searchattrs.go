package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/manualdag/manualdag/internal/temporalclient"
	"github.com/manualdag/manualdag/workflows"
)

// registeredSearchAttributes says which of RunManualDag's search attributes
// a run may start with, and notes on stderr what the namespace lacks. The
// workflow keeps exactly the registered ones up to date; when the list
// cannot be read, none are set and the run goes on without them.
func registeredSearchAttributes(ctx context.Context, c client.Client, namespace string, stderr io.Writer) func(temporal.SearchAttributeKey) bool {
	sa, err := temporalclient.ListSearchAttributes(ctx, c, namespace, workflows.SearchAttributeKeys())
	if err != nil {
		fmt.Fprintf(stderr, "note: %v; the run starts without search attributes\n", err)
		return sa.Registered
	}
	if missing := sa.Missing(); len(missing) > 0 {
		names := make([]string, len(missing))
		for i, k := range missing {
			names[i] = k.GetName()
		}
		fmt.Fprintf(stderr, "note: namespace %q lacks the search attributes %s: the run works, but the Web UI cannot filter on them; register them with deployments/temporal/search-attributes.sh\n",
			namespace, strings.Join(names, ", "))
	}
	return sa.Registered
}
