package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/client"
	"go.uber.org/zap"

	"github.com/manualdag/manualdag/workflows"
)

// missingSearchAttributes lists RunManualDag's search attributes that the
// namespace lacks, or has with another type, as the commands that register
// them. The workflow upserts only the attributes a run started with, and
// starters set only the registered ones, so a namespace without them runs
// every DAG; the Web UI just cannot filter on them.
func missingSearchAttributes(ctx context.Context, c client.Client, namespace string) ([]string, error) {
	resp, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return nil, err
	}
	var cmds []string
	for _, k := range workflows.SearchAttributeKeys() {
		have, ok := resp.GetCustomAttributes()[k.GetName()]
		if ok && have == k.GetValueType() {
			continue
		}
		cmd := fmt.Sprintf("temporal operator search-attribute create --namespace %s --name %s --type %s",
			namespace, k.GetName(), typeName(k.GetValueType()))
		if ok {
			cmd += fmt.Sprintf(" (exists as %s: that attribute will not be set)", typeName(have))
		}
		cmds = append(cmds, cmd)
	}
	return cmds, nil
}

// typeName is the CLI's name of a search attribute type.
func typeName(t enums.IndexedValueType) string {
	switch t {
	case enums.INDEXED_VALUE_TYPE_KEYWORD:
		return "Keyword"
	case enums.INDEXED_VALUE_TYPE_INT:
		return "Int"
	case enums.INDEXED_VALUE_TYPE_TEXT:
		return "Text"
	case enums.INDEXED_VALUE_TYPE_DOUBLE:
		return "Double"
	case enums.INDEXED_VALUE_TYPE_BOOL:
		return "Bool"
	case enums.INDEXED_VALUE_TYPE_DATETIME:
		return "Datetime"
	case enums.INDEXED_VALUE_TYPE_KEYWORD_LIST:
		return "KeywordList"
	}
	return t.String()
}

// checkSearchAttributes says once, at start, what the namespace lacks.
func checkSearchAttributes(ctx context.Context, c client.Client, namespace string, logger *zap.Logger) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cmds, err := missingSearchAttributes(ctx, c, namespace)
	switch {
	case err != nil:
		logger.Warn("could not list the namespace's search attributes; runs go on, but the Web UI can filter on DataWorksProject, DataWorksFlow, DataWorksBizdate, DataWorksDagId, DagOutcome and DagFailedNodes only if they are registered (deployments/temporal/search-attributes.sh)",
			zap.String("namespace", namespace), zap.Error(err))
	case len(cmds) > 0:
		logger.Warn("search attributes missing in the namespace: DAG runs work without them, but the Web UI cannot filter on them. Register them once (deployments/temporal/search-attributes.sh): "+strings.Join(cmds, "; "),
			zap.String("namespace", namespace), zap.Strings("commands", cmds))
	default:
		logger.Info("search attributes registered", zap.String("namespace", namespace))
	}
}
