#!/usr/bin/env bash
# Runs every test of the workspace against real servers, then the web client's
# tests in a real browser.
#
# What the tests need from the system (Debian's SQLite and libpq headers, a C
# compiler, PostgreSQL, Redis, nginx, Node.js, Chromium, ffmpeg) is installed
# when missing and we are root with apt-get; otherwise the script says exactly
# what to install. PostgreSQL
# and Redis are started on free ports in a temp dir and stopped afterwards.
# The integration suite runs three times: on SQLite, on PostgreSQL, and in
# production mode (PostgreSQL + Redis). The realtime cache's conformance suite
# (crates/realtime-cache/tests/conformance.rs) runs in the workspace run on both
# backends: in process, and on the Redis started here. The load generator runs
# every benchmark scenario for a few seconds and must lose nothing. The web client's JavaScript
# is type-checked by tsc against the definitions generated from the protocol
# crate (crates/protocol/tests/typescript.rs keeps them current), and the
# checked-in OpenAPI document (kept current by crates/web/src/openapi.rs's
# tests) is validated against the OpenAPI schema. The browser tests of roles,
# moderation, the group wait and the queue run twice: on SQLite, and in
# production mode with two instances.
#
#   scripts/test.sh                 everything
#   scripts/test.sh --setup-only    install what is missing, run nothing
set -euo pipefail
cd "$(dirname "$0")/.."

packages_needed() {
    command -v cc >/dev/null 2>&1 || echo gcc
    command -v pkg-config >/dev/null 2>&1 || echo pkg-config
    [ -f /usr/include/sqlite3.h ] || echo libsqlite3-dev
    [ -f /usr/include/postgresql/libpq-fe.h ] || echo libpq-dev
    ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || echo postgresql
    command -v redis-server >/dev/null 2>&1 || echo redis-server
    command -v nginx >/dev/null 2>&1 || echo nginx
    # The web client's browser tests.
    command -v node >/dev/null 2>&1 || echo nodejs
    command -v npm >/dev/null 2>&1 || echo npm
    [ -x /usr/bin/chromium ] || echo chromium
    command -v ffmpeg >/dev/null 2>&1 || echo ffmpeg
    # deploy/watchparty.service is checked with systemd's verifier.
    command -v systemd-analyze >/dev/null 2>&1 || echo systemd
}

missing=$(packages_needed | tr '\n' ' ')
if [ -n "${missing// /}" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "installing: $missing"
        apt-get update -qq
        # shellcheck disable=SC2086
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
    else
        echo "missing Debian packages: $missing" >&2
        echo "install them with: sudo apt-get install $missing" >&2
        exit 1
    fi
fi
if ! command -v cargo >/dev/null 2>&1; then
    echo "cargo is missing: install Rust (https://rustup.rs), then run this again" >&2
    exit 1
fi
[ "${1:-}" = "--setup-only" ] && exit 0

work=$(mktemp -d /tmp/watchparty-test.XXXXXX)
# shellcheck source=scripts/lib/services.sh
. scripts/lib/services.sh
cleanup() {
    stop_services
    rm -rf "$work"
}
trap cleanup EXIT
start_postgres
export WATCHPARTY_TEST_POSTGRES_URL="$postgres_url"
start_redis
# Set before any cargo test: the conformance suite's Redis variants and the
# production-mode tests read it (under CI a missing URL fails them).
export WATCHPARTY_TEST_REDIS_URL="$redis_url"

# The operations tests start the real binary.
cargo build --quiet -p watchparty --bin watchparty

status=0
echo "== the systemd unit"
scripts/check-systemd.sh || status=1
cargo test --workspace --no-fail-fast || status=1

# The single-instance suite again on the other backends: the integration
# binary (crates/testkit/tests/all) without its `instances` module, whose
# cluster and fault tests always run in production mode and ran above.
suite=(-p watchparty-testkit --test all --no-fail-fast -- --skip instances::)
echo "== the integration suite again, on PostgreSQL"
WATCHPARTY_TEST_BACKEND=postgres cargo test "${suite[@]}" || status=1
echo "== and in production mode: PostgreSQL + Redis"
WATCHPARTY_TEST_BACKEND=production cargo test "${suite[@]}" || status=1

echo "== the load generator against real servers, for seconds (scripts/bench.sh smoke)"
scripts/bench.sh smoke >"$work/bench-smoke.log" 2>&1 || { cat "$work/bench-smoke.log"; status=1; }
grep -h "^|" "$work/bench-smoke.log" | head -n 40 || true

echo "== the web client's types: tsc --checkJs against the generated crates/web/client/protocol.d.ts"
(cd browser-tests && npm ci --no-audit --no-fund --loglevel=error && npm run --silent typecheck) || status=1
echo "== the OpenAPI document: docs/openapi.json against the OpenAPI 3.1 schema (@apidevtools/swagger-parser)"
(cd browser-tests && npm run --silent openapi) || status=1
echo "== the web client in Chromium (playwright-core)"
(cd browser-tests && npm test) || status=1
# Roles and moderation cross instances: their browser tests again on two
# servers sharing PostgreSQL and Redis, the people spread over both.
echo "== the roles and moderation browser tests again in production mode (two instances, PostgreSQL + Redis)"
(cd browser-tests && WATCHPARTY_TEST_BACKEND=production npm run --silent test:roles) || status=1
# The group wait holds people on both instances: its test again likewise.
echo "== the group wait's browser tests again in production mode (two instances, PostgreSQL + Redis)"
(cd browser-tests && WATCHPARTY_TEST_BACKEND=production npm run --silent test:waits) || status=1
# The queue's advance reaches both pages across instances: its test again likewise.
echo "== the queue's browser tests again in production mode (two instances, PostgreSQL + Redis)"
(cd browser-tests && WATCHPARTY_TEST_BACKEND=production npm run --silent test:queue) || status=1
exit $status
