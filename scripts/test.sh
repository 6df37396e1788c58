#!/usr/bin/env bash
# Runs every test of the workspace against real servers.
#
# What the tests need from the system (Debian's SQLite and libpq headers, a C
# compiler, PostgreSQL) is installed when missing and we are root with apt-get;
# otherwise the script says exactly what to install. PostgreSQL is started on a
# free port in a temp dir and stopped afterwards. The integration suite runs
# twice: on SQLite, then on PostgreSQL.
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
chmod 755 "$work"
pg_data="$work/pg"
pg_bin=$(dirname "$(ls /usr/lib/postgresql/*/bin/initdb | sort -V | tail -n 1)")
as_pg() {
    # PostgreSQL refuses to run as root.
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
cleanup() {
    as_pg "$pg_bin/pg_ctl" -D "$pg_data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

free_port() {
    local port
    while :; do
        port=$((20000 + RANDOM % 30000))
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { echo "$port"; return; }
    done
}

pg_port=$(free_port)
mkdir -p "$pg_data"
[ "$(id -u)" = 0 ] && chown postgres "$work" "$pg_data"
as_pg "$pg_bin/initdb" -D "$pg_data" -A trust -U postgres >"$work/initdb.log" 2>&1 ||
    { cat "$work/initdb.log" >&2; echo "PostgreSQL: initdb failed" >&2; exit 1; }
as_pg "$pg_bin/pg_ctl" -D "$pg_data" -l "$work/pg.log" -w \
    -o "-p $pg_port -k $work -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=400" start >/dev/null ||
    { cat "$work/pg.log" >&2; echo "PostgreSQL did not start" >&2; exit 1; }
export WATCHPARTY_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$pg_port/postgres"
echo "PostgreSQL on port $pg_port"

# The operations tests start the real binary.
cargo build --quiet -p watchparty --bin watchparty

status=0
cargo test --workspace --no-fail-fast || status=1
echo "== the integration suite again, on PostgreSQL"
WATCHPARTY_TEST_BACKEND=postgres cargo test -p watchparty-testkit --no-fail-fast || status=1
exit $status
