#!/usr/bin/env bash
# make demo: a local DataWorks (the emulator), a Temporal dev server with its
# Web UI, the manualdag worker, and two sample DAG runs through the starter.
# Everything it starts is stopped on Ctrl-C or on any failure.
# DEMO_THEN=command runs that command once both runs are done, then stops
# everything and exits with its status (make screenshot uses it).
# MANUALDAG_DATAWORKS_API_VERSION=2018-06-01 (default), 2020-05-18 or 2024-05-18
# picks the API the worker speaks; under 2024-05-18 the runs name the project and
# flows by their numeric ids (internal/emulator/sample-project.yaml). The old
# name DATAWORKS_API_VERSION is still read, with a deprecation warning.
set -uo pipefail
cd "$(dirname "$0")/.."

: "${TEMPORAL:?set TEMPORAL to the Temporal CLI (make demo does)}"
: "${BIN:?set BIN to the folder of the built binaries (make demo does)}"
STATE=.demo
TEMPORAL_PORT=${TEMPORAL_PORT:-7233}
UI_PORT=${UI_PORT:-8233}
EMULATOR_PORT=${EMULATOR_PORT:-8089}
METRICS_PORT=${METRICS_PORT:-9090}
UI="http://localhost:${UI_PORT}"

pids=()
cleanup() {
	trap - EXIT INT TERM
	if [ ${#pids[@]} -gt 0 ]; then
		echo "demo: stopping worker, emulator and Temporal dev server"
		kill -TERM "${pids[@]}" 2>/dev/null
		wait "${pids[@]}" 2>/dev/null
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
fail() {
	echo "demo: $*" >&2
	exit 1
}
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# wait_for NAME PID LOG CMD...: until CMD succeeds, the process is alive, or 60 s pass.
wait_for() {
	local name=$1 pid=$2 log=$3
	shift 3
	for _ in $(seq 1 120); do
		"$@" >/dev/null 2>&1 && return 0
		kill -0 "$pid" 2>/dev/null || fail "$name exited during start; last lines of $log:
$(tail -n 20 "$log")"
		sleep 0.5
	done
	fail "$name did not become ready within 60 s; see $log"
}

for p in "$TEMPORAL_PORT" "$UI_PORT" "$EMULATOR_PORT" "$METRICS_PORT"; do
	port_free "$p" || fail "port $p is already in use: stop what listens there (ss -ltnp | grep :$p) or set TEMPORAL_PORT/UI_PORT/EMULATOR_PORT/METRICS_PORT"
done
rm -rf "$STATE" && mkdir -p "$STATE"

# The old name is read as the worker reads it (internal/envvar): the new name
# wins, the old one is warned about; the worker then sees the new name only.
api_version=${MANUALDAG_DATAWORKS_API_VERSION:-}
if [ -n "${DATAWORKS_API_VERSION:-}" ]; then
	if [ -n "$api_version" ]; then
		echo "demo: DATAWORKS_API_VERSION is ignored because MANUALDAG_DATAWORKS_API_VERSION is set: remove the old name" >&2
	else
		echo "demo: DATAWORKS_API_VERSION is deprecated: rename it MANUALDAG_DATAWORKS_API_VERSION (the old name will stop working in a future release)" >&2
		api_version=$DATAWORKS_API_VERSION
	fi
	unset DATAWORKS_API_VERSION
fi
api_version=${api_version:-2018-06-01}

# The search attributes the workflow sets (deployments/temporal/search-attributes.sh
# registers them on a real cluster).
search_attributes=(
	--search-attribute DataWorksProject=Keyword --search-attribute DataWorksFlow=Keyword
	--search-attribute DataWorksBizdate=Keyword --search-attribute DataWorksDagId=Int
	--search-attribute DagOutcome=Keyword --search-attribute DagFailedNodes=Int
)
echo "demo: starting the Temporal dev server (Web UI ${UI})"
"$TEMPORAL" server start-dev --ip 127.0.0.1 --port "$TEMPORAL_PORT" --ui-port "$UI_PORT" "${search_attributes[@]}" \
	--db-filename "$STATE/temporal.db" --log-level warn >"$STATE/temporal.log" 2>&1 &
pids+=($!)
wait_for "Temporal dev server" $! "$STATE/temporal.log" \
	"$TEMPORAL" operator cluster health --address "127.0.0.1:$TEMPORAL_PORT"

# Demo credentials for the emulator only; a real worker takes them from the
# Alibaba credential chain.
export ALIBABA_CLOUD_ACCESS_KEY_ID=demo-access-key-id
export ALIBABA_CLOUD_ACCESS_KEY_SECRET=demo-access-key-secret

echo "demo: starting the DataWorks emulator on 127.0.0.1:${EMULATOR_PORT} (time x60: a 30-minute flow takes 30 s)"
"$BIN/dataworks-emulator" -addr "127.0.0.1:$EMULATOR_PORT" \
	-time-scale 60 -access-key "$ALIBABA_CLOUD_ACCESS_KEY_ID:$ALIBABA_CLOUD_ACCESS_KEY_SECRET" >"$STATE/emulator.log" 2>&1 &
pids+=($!)
wait_for "DataWorks emulator" $! "$STATE/emulator.log" curl -sf "http://127.0.0.1:$EMULATOR_PORT/_emulator/stats"

echo "demo: starting the worker (log: $STATE/worker.log)"
TEMPORAL_ADDRESS="127.0.0.1:$TEMPORAL_PORT" MANUALDAG_DATAWORKS_ENDPOINT="127.0.0.1:$EMULATOR_PORT" MANUALDAG_DATAWORKS_SCHEME=http \
	MANUALDAG_DATAWORKS_API_VERSION="$api_version" \
	MANUALDAG_LOG_FORMAT=console MANUALDAG_METRICS_ADDRESS="127.0.0.1:$METRICS_PORT" "$BIN/worker" >"$STATE/worker.log" 2>&1 &
pids+=($!)
wait_for "worker" $! "$STATE/worker.log" curl -sf "http://127.0.0.1:$METRICS_PORT/readyz"

export TEMPORAL_ADDRESS="127.0.0.1:$TEMPORAL_PORT" MANUALDAG_UI_URL="$UI"
project=demo_project flow_ok=daily_sales flow_broken=daily_sales_broken
if [ "$api_version" = 2024-05-18 ]; then
	project=10021 flow_ok=1002101 flow_broken=1002102
fi
# The emulator runs 60 times faster than DataWorks, so the demo polls faster
# than the default policy would.
poll=(--poll-initial 2s --poll-max 5s --blocked-grace 10s --list-settle 5s)

echo
echo "demo: 1/2 a flow that succeeds (API $api_version): starter run --project $project --flow $flow_ok --wait"
"$BIN/starter" run --project "$project" --flow "$flow_ok" --param env=demo "${poll[@]}" --wait
rc=$?
[ $rc -eq 0 ] || fail "the succeeding flow ended with exit code $rc (expected 0)"

echo
echo "demo: 2/2 a flow where one node fails and blocks two (API $api_version): starter run --project $project --flow $flow_broken --wait"
"$BIN/starter" run --project "$project" --flow "$flow_broken" "${poll[@]}" --wait
rc=$?
[ $rc -eq 1 ] || fail "the failing flow ended with exit code $rc (expected 1: DAG failed)"

if [ -n "${DEMO_THEN:-}" ]; then
	echo
	echo "demo: running $DEMO_THEN"
	bash -c "$DEMO_THEN"
	exit $?
fi

echo
echo "demo: both reports above. Temporal Web UI: ${UI}/namespaces/default/workflows"
echo "demo: the failed runs only: ${UI}/namespaces/default/workflows?query=DagOutcome%3D%22FAILED%22"
echo "demo: worker metrics http://127.0.0.1:${METRICS_PORT}/metrics, health /healthz and /readyz"
echo "demo: logs in $STATE/. Press Ctrl-C to stop everything."
wait "${pids[0]}"
