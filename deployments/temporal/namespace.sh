#!/usr/bin/env bash
# Waits until the Temporal server answers, registers the namespace if it
# does not exist, then RunManualDag's search attributes
# (search-attributes.sh, beside this file). What temporalio/auto-setup did on
# a server's first start; `make cluster` and the compose file's
# search-attributes job run it on every start (each step is skipped when done).
#
#   TEMPORAL_ADDRESS=127.0.0.1:7233 NAMESPACE=default RETENTION=72h deployments/temporal/namespace.sh
#
# TEMPORAL (the CLI, default temporal) reads TEMPORAL_ADDRESS, TEMPORAL_TLS_*
# and TEMPORAL_PROFILE as usual. WAIT bounds the wait for the server (120 s).
set -euo pipefail

TEMPORAL=${TEMPORAL:-temporal}
NAMESPACE=${NAMESPACE:-${TEMPORAL_NAMESPACE:-default}}
RETENTION=${RETENTION:-72h}
WAIT=${WAIT:-120}
here=$(dirname "$0")

for i in $(seq 1 "$WAIT"); do
	"$TEMPORAL" operator cluster health >/dev/null 2>&1 && break
	[ "$i" -lt "$WAIT" ] || {
		echo "namespace.sh: the Temporal server at ${TEMPORAL_ADDRESS:-its default address} did not answer within $WAIT s" >&2
		exit 1
	}
	sleep 1
done

if ! "$TEMPORAL" operator namespace describe --namespace "$NAMESPACE" >/dev/null 2>&1; then
	"$TEMPORAL" operator namespace create --namespace "$NAMESPACE" --retention "$RETENTION" >/dev/null
	echo "$NAMESPACE: namespace registered (retention $RETENTION)"
fi

# A new namespace reaches every service of the server within a few seconds.
for _ in $(seq 1 30); do
	if out=$(TEMPORAL=$TEMPORAL NAMESPACE=$NAMESPACE bash "$here/search-attributes.sh" 2>&1); then
		echo "$out"
		exit 0
	fi
	sleep 1
done
echo "namespace.sh: could not register the search attributes in $NAMESPACE:" >&2
echo "$out" >&2
exit 1
