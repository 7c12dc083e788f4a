package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/manualdag/manualdag/workflows"
)

// registeredSearchAttributes asks the namespace which of RunManualDag's
// search attributes it has (with the right type). A run may only start with
// registered ones, and the workflow keeps exactly those up to date; when the
// list cannot be read, none are set and the run goes on without them.
func registeredSearchAttributes(ctx context.Context, c client.Client, namespace string, stderr io.Writer) func(temporal.SearchAttributeKey) bool {
	resp, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		fmt.Fprintf(stderr, "note: the namespace's search attributes could not be listed (%v); the run starts without them\n", err)
		return func(temporal.SearchAttributeKey) bool { return false }
	}
	have := resp.GetCustomAttributes()
	var missing []string
	for _, k := range workflows.SearchAttributeKeys() {
		if have[k.GetName()] != k.GetValueType() {
			missing = append(missing, k.GetName())
		}
	}
	if len(missing) > 0 {
		fmt.Fprintf(stderr, "note: namespace %q lacks the search attributes %s: the run works, but the Web UI cannot filter on them; register them with deployments/temporal/search-attributes.sh\n",
			namespace, strings.Join(missing, ", "))
	}
	return func(k temporal.SearchAttributeKey) bool {
		t, ok := have[k.GetName()]
		return ok && t == k.GetValueType()
	}
}
