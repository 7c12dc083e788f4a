#!/usr/bin/env bash
# Registers RunManualDag's search attributes in a Temporal namespace, once per
# namespace (docs/operations.md, "Search attributes"). Runs work without them;
# with them the Web UI and `temporal workflow list --query` can filter runs by
# project, flow, business date, DAG id and outcome.
#
#   NAMESPACE=data-platform TEMPORAL_ADDRESS=temporal.internal:7233 deployments/temporal/search-attributes.sh
#
# The temporal CLI reads TEMPORAL_ADDRESS, TEMPORAL_TLS_*, TEMPORAL_API_KEY and
# TEMPORAL_PROFILE as usual. On Temporal Cloud, create them with
# `tcld namespace search-attributes add` or in the Cloud UI instead.
# The worker logs at start which ones its namespace lacks.
set -euo pipefail

TEMPORAL=${TEMPORAL:-temporal}
NAMESPACE=${NAMESPACE:-${TEMPORAL_NAMESPACE:-default}}

# name type: keep in step with workflows.SearchAttributeKeys.
attributes=(
	"DataWorksProject Keyword"
	"DataWorksFlow Keyword"
	"DataWorksBizdate Keyword"
	"DataWorksDagId Int"
	"DagOutcome Keyword"
	"DagFailedNodes Int"
)

existing=$("$TEMPORAL" operator search-attribute list --namespace "$NAMESPACE")
for a in "${attributes[@]}"; do
	read -r name type <<<"$a"
	if grep -qE "^[[:space:]]*${name}[[:space:]]" <<<"$existing"; then
		echo "$name: already registered"
		continue
	fi
	"$TEMPORAL" operator search-attribute create --namespace "$NAMESPACE" --name "$name" --type "$type"
	echo "$name ($type): registered"
done
