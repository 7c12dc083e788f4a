package main

import (
	"context"
	"strings"
	"time"

	"go.temporal.io/sdk/client"
	"go.uber.org/zap"

	"github.com/manualdag/manualdag/internal/temporalclient"
	"github.com/manualdag/manualdag/workflows"
)

// checkSearchAttributes says once, at start, what the namespace lacks. The
// workflow upserts only the attributes a run started with, and starters set
// only the registered ones, so a namespace without them runs every DAG; the
// Web UI just cannot filter on them.
func checkSearchAttributes(ctx context.Context, c client.Client, namespace string, logger *zap.Logger) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	sa, err := temporalclient.ListSearchAttributes(ctx, c, namespace, workflows.SearchAttributeKeys())
	cmds := sa.CreateCommands()
	switch {
	case err != nil:
		logger.Warn("could not list the namespace's search attributes; runs go on, but the Web UI can filter on DataWorksProject, DataWorksFlow, DataWorksBizdate, DataWorksDagId, DagOutcome and DagFailedNodes only if they are registered (starter search-attributes --register, or deployments/temporal/search-attributes.sh)",
			zap.String("namespace", namespace), zap.Error(err))
	case len(cmds) > 0:
		logger.Warn("search attributes missing in the namespace: DAG runs work without them, but the Web UI cannot filter on them. Register them once (starter search-attributes --register, or deployments/temporal/search-attributes.sh): "+strings.Join(cmds, "; "),
			zap.String("namespace", namespace), zap.Strings("commands", cmds))
	default:
		logger.Info("search attributes registered", zap.String("namespace", namespace))
	}
}
