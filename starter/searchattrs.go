package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

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
		fmt.Fprintf(stderr, "note: namespace %q lacks the search attributes %s: the run works, but the Web UI cannot filter on them; register them with starter search-attributes --register\n",
			namespace, strings.Join(names, ", "))
	}
	return sa.Registered
}

const searchAttributesUsage = "usage: starter search-attributes [--register]"

// searchAttributesCmd shows which of RunManualDag's search attributes the
// namespace has, and with --register adds the missing ones (what the
// Kubernetes Job of deployments/k8s/components/search-attributes runs).
// Exit 0: all registered; 1: some missing (without --register); 2: one
// exists under another type; 3: Temporal unreachable or refused.
func searchAttributesCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var conn connection
	var register bool
	fs := conn.newFlagSet("starter search-attributes", getenv, stderr)
	fs.BoolVar(&register, "register", false, "add the missing ones to the namespace (once per namespace; not on Temporal Cloud: use tcld or the Cloud UI)")
	if _, err := parseFlags(fs, args, 0, searchAttributesUsage); err != nil {
		return err
	}
	c, err := conn.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	sa, err := temporalclient.ListSearchAttributes(ctx, c, conn.namespace, workflows.SearchAttributeKeys())
	if err != nil {
		return infraErr(err)
	}
	var added []temporal.SearchAttributeKey
	if register {
		if err := sa.ConflictError(); err != nil {
			return usageErr("%v", err)
		}
		if added, err = sa.Register(ctx, c.OperatorService()); err != nil {
			return infraErr(err)
		}
	}
	missing := printSearchAttributes(stdout, sa, added)
	if missing > 0 {
		return dagFailedErr(fmt.Errorf("namespace %q lacks %d of manualdag's search attributes: run starter search-attributes --register (or deployments/temporal/search-attributes.sh)", conn.namespace, missing))
	}
	return nil
}

// printSearchAttributes prints one row per attribute and returns how many
// are still missing.
func printSearchAttributes(w io.Writer, sa temporalclient.SearchAttributes, added []temporal.SearchAttributeKey) int {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tTYPE\tSTATUS")
	missing := 0
	for _, k := range workflows.SearchAttributeKeys() {
		status := "registered"
		switch {
		case slices.ContainsFunc(added, func(a temporal.SearchAttributeKey) bool { return a.GetName() == k.GetName() }):
			status = "registered now"
		case !sa.Registered(k):
			missing++
			status = "missing"
			if have, ok := sa.Have(k.GetName()); ok {
				status = "exists as " + temporalclient.TypeName(have)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", k.GetName(), temporalclient.TypeName(k.GetValueType()), status)
	}
	_ = tw.Flush()
	return missing
}
