#!/usr/bin/env bash
# make screenshot: runs the demo (scripts/demo.sh), then photographs the
# Temporal Web UI in headless Chromium: the workflow list filtered by a search
# attribute, and the failed run. Writes docs/screenshots/*.png. Not part of
# make test: it installs Debian's chromium (apt-get, as root) and
# playwright-core from npm into the git-ignored .screenshot/.
set -euo pipefail
cd "$(dirname "$0")/.."

: "${TEMPORAL:?set TEMPORAL to the Temporal CLI (make screenshot does)}"
: "${BIN:?set BIN to the folder of the built binaries (make screenshot does)}"
PLAYWRIGHT_CORE_VERSION=${PLAYWRIGHT_CORE_VERSION:-1.64.1}

if [ ! -x /usr/bin/chromium ]; then
	echo "screenshot: installing Debian's chromium"
	if [ "$(id -u)" -ne 0 ]; then
		echo "screenshot: /usr/bin/chromium is missing; install it (apt-get install chromium) or run as root" >&2
		exit 1
	fi
	DEBIAN_FRONTEND=noninteractive apt-get install -y chromium >/dev/null ||
		{ apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium >/dev/null; }
fi
if [ ! -d .screenshot/node_modules/playwright-core ]; then
	echo "screenshot: installing playwright-core@${PLAYWRIGHT_CORE_VERSION} into .screenshot/"
	mkdir -p .screenshot
	# playwright-core drives the system chromium; it downloads no browser.
	npm install --silent --no-audit --no-fund --prefix .screenshot "playwright-core@${PLAYWRIGHT_CORE_VERSION}"
fi
mkdir -p docs/screenshots

UI_PORT=${UI_PORT:-8233}
export UI_PORT
DEMO_THEN="node scripts/screenshot.cjs http://127.0.0.1:${UI_PORT} docs/screenshots" exec ./scripts/demo.sh
