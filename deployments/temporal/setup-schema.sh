#!/usr/bin/env bash
# Creates Temporal's two PostgreSQL databases (temporal, temporal_visibility)
# with their schemas, or brings existing ones up to the schema version of the
# tool: safe to run on every start. `make cluster` and the compose file's
# schema job run it; the schemas are the ones built into temporal-sql-tool
# (go.temporal.io/server/cmd/tools/sql), so the tool's version is the
# server's.
#
#   SQL_TOOL=temporal-sql-tool SQL_HOST=127.0.0.1 SQL_PORT=5432 \
#     SQL_USER=temporal SQL_PASSWORD=… deployments/temporal/setup-schema.sh
#
# SQL_HOST, SQL_PORT, SQL_USER and SQL_PASSWORD are read by the tool itself
# (and by deployments/temporal/cluster.yaml), so the password is never on a
# command line. The user needs the right to create databases.
set -euo pipefail

SQL_TOOL=${SQL_TOOL:-temporal-sql-tool}
export SQL_HOST=${SQL_HOST:-127.0.0.1} SQL_PORT=${SQL_PORT:-5432} SQL_USER=${SQL_USER:-temporal}
: "${SQL_PASSWORD:?set SQL_PASSWORD to the password of SQL_USER}"
export SQL_PASSWORD

for pair in "temporal temporal" "temporal_visibility visibility"; do
	read -r db schema <<<"$pair"
	# create-database succeeds when the database exists; setup-schema -v 0.0
	# only creates the version tables; update-schema applies what is newer
	# than the database's version.
	"$SQL_TOOL" --plugin postgres12 --db "$db" create-database
	"$SQL_TOOL" --plugin postgres12 --db "$db" setup-schema -v 0.0
	"$SQL_TOOL" --plugin postgres12 --db "$db" update-schema --schema-name "postgresql/v12/$schema"
	echo "setup-schema: $db is at the schema of postgresql/v12/$schema"
done
