#!/usr/bin/env bash
# make cluster: a Temporal server on PostgreSQL on this machine, the way a
# self-hosted production cluster runs (docs/operations.md, "A Temporal
# cluster on this machine"):
#   - a PostgreSQL of its own (initdb in .cluster/postgres, its own port and
#     user; never the system's service), installed with apt-get if missing;
#   - Temporal's two databases and schemas (deployments/temporal/setup-schema.sh,
#     advanced visibility, so search attributes work);
#   - the Temporal server, configured by deployments/temporal/cluster.yaml;
#   - the Web UI server (deployments/temporal/ui.yaml);
#   - the namespace and manualdag's search attributes (deployments/temporal/namespace.sh).
# Everything it starts is stopped on Ctrl-C, in order (UI, server, database),
# or on any failure. A second run reuses .cluster/: workflows survive.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

: "${TEMPORAL_SERVER:?set TEMPORAL_SERVER to the temporal-server binary (make cluster does)}"
: "${SQL_TOOL:?set SQL_TOOL to temporal-sql-tool (make cluster does)}"
: "${UI_SERVER:?set UI_SERVER to the Temporal UI server binary (make cluster does)}"
: "${TEMPORAL:?set TEMPORAL to the Temporal CLI (make cluster does)}"
STATE=${CLUSTER_STATE:-.cluster}
PG_PORT=${CLUSTER_PG_PORT:-55432}
NAMESPACE=${CLUSTER_NAMESPACE:-default}
RETENTION=${CLUSTER_RETENTION:-72h}
UI_PORT=${UI_PORT:-8233}
export CLUSTER_FRONTEND_PORT=${CLUSTER_FRONTEND_PORT:-7233}
export CLUSTER_METRICS_ADDRESS=${CLUSTER_METRICS_ADDRESS:-127.0.0.1:9091}
ADDRESS="127.0.0.1:$CLUSTER_FRONTEND_PORT"

# The database's user and password: this PostgreSQL listens on loopback
# only and lives in this checkout, so a fixed local password is enough.
export SQL_HOST=127.0.0.1 SQL_PORT=$PG_PORT SQL_USER=temporal SQL_PASSWORD=temporal

pids=()
names=()
sigs=() # the signal that stops each one quickly and cleanly
# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
	trap - EXIT INT TERM
	# Newest first: the UI and the server stop before their database.
	local i
	for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
		kill -0 "${pids[i]}" 2>/dev/null || continue
		echo "cluster: stopping ${names[i]} (pid ${pids[i]})"
		kill "-${sigs[i]}" "${pids[i]}" 2>/dev/null
		for _ in $(seq 1 60); do
			kill -0 "${pids[i]}" 2>/dev/null || break
			sleep 0.5
		done
		kill -0 "${pids[i]}" 2>/dev/null && {
			echo "cluster: ${names[i]} did not stop within 30 s; killing it"
			kill -KILL "${pids[i]}" 2>/dev/null
		}
		wait "${pids[i]}" 2>/dev/null
	done
	wait 2>/dev/null
	return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM
fail() {
	echo "cluster: $*" >&2
	exit 1
}
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# start NAME SIGNAL LOG CMD...: runs CMD in a session of its own (Ctrl-C
# reaches this script only, which then stops the children in order, each
# with SIGNAL).
start() {
	local name=$1 sig=$2 log=$3
	shift 3
	setsid "$@" >>"$log" 2>&1 &
	pids+=($!)
	names+=("$name")
	sigs+=("$sig")
}
# wait_for NAME LOG SECONDS CMD...: until CMD succeeds, or the last process
# started exits, or SECONDS pass.
wait_for() {
	local name=$1 log=$2 secs=$3 pid=${pids[-1]}
	shift 3
	for _ in $(seq 1 $((secs * 2))); do
		"$@" >/dev/null 2>&1 && return 0
		kill -0 "$pid" 2>/dev/null || fail "$name exited during start; last lines of $log:
$(tail -n 20 "$log")"
		sleep 0.5
	done
	fail "$name did not become ready within $secs s; see $log"
}

# ---------------------------------------------------------------- PostgreSQL

# pg_bin is the folder of initdb and postgres: PG_BIN, else the newest
# Debian/Ubuntu server package, else the PATH.
pg_bin() {
	if [ -n "${PG_BIN:-}" ]; then
		echo "$PG_BIN"
		return
	fi
	local d
	d=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
	if [ -n "$d" ] && [ -x "$d/initdb" ]; then
		echo "$d"
	elif command -v initdb >/dev/null && command -v postgres >/dev/null; then
		dirname "$(command -v initdb)"
	fi
}
PG=$(pg_bin)
if [ -z "$PG" ]; then
	echo "cluster: PostgreSQL is not installed; installing it: apt-get install postgresql"
	sudo=()
	[ "$(id -u)" -eq 0 ] || sudo=(sudo -n)
	if command -v apt-get >/dev/null &&
		"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql; then
		PG=$(pg_bin)
	fi
	[ -n "$PG" ] || fail "PostgreSQL (12 or newer) is needed and could not be installed here (no apt-get, or no root and no password-less sudo).
Install it yourself (Debian/Ubuntu: sudo apt-get install postgresql; Fedora: sudo dnf install postgresql-server;
macOS: brew install postgresql) or set PG_BIN to the folder that holds initdb and postgres, then run make cluster again.
Only the programs are used: make cluster runs its own instance, never the system's service."
fi
pg_major=$("$PG/postgres" --version | sed -E 's/[^0-9]*([0-9]+).*/\1/')
[ "$pg_major" -ge 12 ] 2>/dev/null || fail "$PG/postgres is version $pg_major; Temporal's advanced visibility needs PostgreSQL 12 or newer (set PG_BIN)"

for p in "$PG_PORT" "$CLUSTER_FRONTEND_PORT" "${CLUSTER_FRONTEND_HTTP_PORT:-7243}" "${CLUSTER_HISTORY_PORT:-7234}" \
	"${CLUSTER_MATCHING_PORT:-7235}" "${CLUSTER_WORKER_PORT:-7239}" "${CLUSTER_FRONTEND_MEMBERSHIP_PORT:-6933}" \
	"${CLUSTER_HISTORY_MEMBERSHIP_PORT:-6934}" "${CLUSTER_MATCHING_MEMBERSHIP_PORT:-6935}" \
	"${CLUSTER_WORKER_MEMBERSHIP_PORT:-6939}" "${CLUSTER_METRICS_ADDRESS##*:}" "$UI_PORT"; do
	port_free "$p" || fail "port $p is already in use: stop what listens there (ss -ltnp | grep :$p), e.g. a make demo or an earlier make cluster, or move it (CLUSTER_PG_PORT, UI_PORT, CLUSTER_*_PORT: see deployments/temporal/cluster.yaml)"
done

mkdir -p "$STATE"
STATE=$(cd "$STATE" && pwd)
DATA=$STATE/postgres
# PostgreSQL refuses to run as root: as root, its files belong to the
# package's "postgres" user (or nobody), which runs it.
as_pg=()
if [ "$(id -u)" -eq 0 ]; then
	pg_user=postgres
	id "$pg_user" >/dev/null 2>&1 || pg_user=nobody
	as_pg=(setpriv --reuid="$pg_user" --regid="$(id -g "$pg_user")" --init-groups)
	setpriv --reuid="$pg_user" --regid="$(id -g "$pg_user")" --clear-groups test -x "$STATE" ||
		fail "PostgreSQL runs as $pg_user here (not as root), which cannot enter $STATE: make the folders above it world-executable (chmod o+x) or set CLUSTER_STATE to a folder it can reach"
fi
if [ ! -s "$DATA/PG_VERSION" ]; then
	echo "cluster: creating a PostgreSQL $pg_major instance in $DATA (first run only)"
	rm -rf "$DATA" && mkdir -p "$DATA" && chmod 700 "$DATA"
	pwfile=$STATE/.pgpass-init
	(umask 077 && printf '%s\n' "$SQL_PASSWORD" >"$pwfile")
	if [ ${#as_pg[@]} -gt 0 ]; then chown "$pg_user:" "$DATA" "$pwfile"; fi
	"${as_pg[@]}" "$PG/initdb" -D "$DATA" -U "$SQL_USER" --pwfile="$pwfile" --auth-local=trust --auth-host=scram-sha-256 \
		-E UTF8 --locale=C >"$STATE/initdb.log" 2>&1
	rc=$?
	rm -f "$pwfile"
	[ $rc -eq 0 ] || fail "initdb failed; see $STATE/initdb.log:
$(tail -n 20 "$STATE/initdb.log")"
fi
echo "cluster: starting PostgreSQL $pg_major on 127.0.0.1:$PG_PORT (data $DATA)"
# SIGINT: PostgreSQL's fast shutdown (SIGTERM would wait for every client).
start PostgreSQL INT "$STATE/postgres.log" "${as_pg[@]}" "$PG/postgres" -D "$DATA" -p "$PG_PORT" -k "$DATA" \
	-c listen_addresses=127.0.0.1 -c max_connections=200 -c shared_buffers=128MB
wait_for PostgreSQL "$STATE/postgres.log" 60 pg_isready -q -h 127.0.0.1 -p "$PG_PORT"

echo "cluster: Temporal schemas (deployments/temporal/setup-schema.sh)"
SQL_TOOL=$SQL_TOOL deployments/temporal/setup-schema.sh >"$STATE/schema.log" 2>&1 ||
	fail "the schema setup failed; see $STATE/schema.log:
$(tail -n 20 "$STATE/schema.log")"

# ---------------------------------------------------------------- Temporal

echo "cluster: starting the Temporal server on $ADDRESS (deployments/temporal/cluster.yaml)"
start "Temporal server" TERM "$STATE/temporal.log" "$TEMPORAL_SERVER" --root . --config deployments/temporal --env cluster --allow-no-auth start
wait_for "Temporal server" "$STATE/temporal.log" 120 "$TEMPORAL" operator cluster health --address "$ADDRESS"
server_pid=${pids[-1]}

out=$(TEMPORAL="$TEMPORAL" TEMPORAL_ADDRESS="$ADDRESS" NAMESPACE="$NAMESPACE" RETENTION="$RETENTION" WAIT=30 \
	deployments/temporal/namespace.sh 2>&1) || fail "could not set up namespace $NAMESPACE (deployments/temporal/namespace.sh):
$out"
echo "cluster: namespace $NAMESPACE and its search attributes (deployments/temporal/namespace.sh):"
grep -v "have been added" <<<"$out" | sed 's/^/  /'

echo "cluster: starting the Web UI on http://127.0.0.1:$UI_PORT"
export UI_PORT TEMPORAL_GRPC_ADDRESS=$ADDRESS
start "Web UI" TERM "$STATE/ui.log" "$UI_SERVER" --root . --config deployments/temporal --env ui start
wait_for "Web UI" "$STATE/ui.log" 60 curl -sf "http://127.0.0.1:$UI_PORT/"

cat <<EOF

cluster: running (state in $STATE; a second make cluster reuses it)
  Temporal frontend  $ADDRESS  namespace $NAMESPACE   pid $server_pid  log $STATE/temporal.log
  Web UI             http://127.0.0.1:$UI_PORT/namespaces/$NAMESPACE/workflows   log $STATE/ui.log
  PostgreSQL $pg_major     127.0.0.1:$PG_PORT  user $SQL_USER  databases temporal, temporal_visibility   log $STATE/postgres.log
  server metrics     http://$CLUSTER_METRICS_ADDRESS/metrics
  A worker against it:  TEMPORAL_ADDRESS=$ADDRESS bin/worker   (make build)
  Wipe it:              make cluster-clean
Press Ctrl-C to stop everything.
EOF
wait -n "${pids[@]}"
fail "a process stopped by itself; see the logs in $STATE"
