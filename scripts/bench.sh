#!/usr/bin/env bash
# Runs one benchmark scenario of docs/performance.md against freshly started
# servers on free ports, with watchparty-loadgen beside them.
#
#   scripts/bench.sh idle              1. idle capacity (SQLite)
#   scripts/bench.sh fanout            2. fan-out ladder (SQLite)
#   scripts/bench.sh join-storm        3. join storm (SQLite)
#   scripts/bench.sh chat-sqlite       4. many rooms with chat, on SQLite
#   scripts/bench.sh chat-postgres        ... and on PostgreSQL
#   scripts/bench.sh slow-consumers    5. slow consumers (SQLite)
#   scripts/bench.sh cluster           6. two instances + PostgreSQL + Redis
#   scripts/bench.sh evening           7. a typical evening of many rooms (SQLite)
#   scripts/bench.sh evening-cluster      ... on two instances + PostgreSQL + Redis
#   scripts/bench.sh soak              an hour of sockets coming and going
#                                      (docs/reliability.md; SQLite)
#   scripts/bench.sh floor             the floor alone: one thread writing to
#                                      1 000 loopback sockets, CPU per frame
#   scripts/bench.sh smoke             every scenario for seconds (CI)
#
# Extra arguments go to the generator (e.g. --viewers 1000 --rates 10;
# for floor, --sockets --frame-bytes --frames-per-write --secs). Fan-out,
# chat and cluster measure the floor for 3 s first (--floor-secs 0 skips it).
# Release builds are used, except for smoke, which checks that the
# generator works rather than measuring. The JSON results land in
# target/bench/.
set -euo pipefail
cd "$(dirname "$0")/.."

scenario=${1:-}
[ -n "$scenario" ] || { sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
shift

if [ "$scenario" = floor ]; then
    # No server and no services: the generator alone.
    cargo build --quiet --release -p watchparty-loadgen --bins
    # Two files per loopback pair.
    ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
    mkdir -p target/bench
    exec target/release/watchparty-loadgen floor "$@" \
        --json "target/bench/floor-$(date +%Y%m%d-%H%M%S).json"
fi

scripts/test.sh --setup-only
if [ "$scenario" = smoke ]; then
    profile_flag=() bin_dir=target/debug
else
    profile_flag=(--release) bin_dir=target/release
fi
cargo build --quiet "${profile_flag[@]}" -p watchparty -p watchparty-loadgen --bins

# Each process may hold up to 20 000 files; 15 000 sockets need most of them.
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

work=$(mktemp -d /tmp/watchparty-bench.XXXXXX)
# shellcheck source=scripts/lib/services.sh
. scripts/lib/services.sh
server_pids=()
cleanup() {
    for pid in "${server_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${server_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    stop_services
    rm -rf "$work"
}
trap cleanup EXIT

export WATCHPARTY_JWT_SECRET=bench-jwt-secret-bench-jwt-secret-0123
export WATCHPARTY_SESSION_KEY=bench-session-key-bench-session-key-0123456789-0123456789-abcdef
export RUST_LOG=${RUST_LOG:-info}
# The generator registers every simulated user from this one address; the
# server allows 100 registrations an hour per address by default.
export WATCHPARTY_MAX_REGISTRATIONS_PER_HOUR=${WATCHPARTY_MAX_REGISTRATIONS_PER_HOUR:-1000000000}
# ...and opens up to tens of thousands of sockets from it: no per-address cap.
export WATCHPARTY_MAX_CONNECTIONS_PER_ADDRESS=${WATCHPARTY_MAX_CONNECTIONS_PER_ADDRESS:-0}
servers=()

# start_server DATABASE_URL [REDIS_URL]: one instance, logging to $work.
start_server() {
    local port n=${#server_pids[@]}
    port=$(free_port)
    REDIS_URL=${2:-} "$bin_dir/watchparty" serve --bind "127.0.0.1:$port" --database-url "$1" \
        >"$work/server-$n.log" 2>&1 &
    server_pids+=($!)
    servers+=(--server "http://127.0.0.1:$port" --server-pid "$!")
    for _ in $(seq 200); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return
        sleep 0.1
    done
    cat "$work/server-$n.log" >&2
    echo "the server did not become ready" >&2
    return 1
}

mkdir -p target/bench
loadgen() {
    local name=$1
    shift
    "$bin_dir/watchparty-loadgen" "${servers[@]}" "$@" \
        --json "target/bench/$name-$(date +%Y%m%d-%H%M%S).json"
}

sqlite="sqlite://$work/bench.db"
case "$scenario" in
idle) start_server "$sqlite"; loadgen idle idle "$@" ;;
fanout) start_server "$sqlite"; loadgen fanout fanout "$@" ;;
join-storm) start_server "$sqlite"; loadgen join-storm join-storm "$@" ;;
chat-sqlite) start_server "$sqlite"; loadgen chat-sqlite chat --label SQLite "$@" ;;
chat-postgres)
    start_postgres
    start_server "$postgres_url"
    loadgen chat-postgres chat --label PostgreSQL "$@"
    ;;
slow-consumers) start_server "$sqlite"; loadgen slow-consumers slow-consumers "$@" ;;
soak) start_server "$sqlite"; loadgen soak soak "$@" ;;
cluster)
    start_postgres
    start_redis
    start_server "$postgres_url" "$redis_url"
    start_server "$postgres_url" "$redis_url"
    loadgen cluster --redis-pid "$redis_pid" cluster "$@"
    ;;
evening) start_server "$sqlite"; loadgen evening evening --label SQLite "$@" ;;
evening-cluster)
    start_postgres
    start_redis
    start_server "$postgres_url" "$redis_url"
    start_server "$postgres_url" "$redis_url"
    loadgen evening-cluster --redis-pid "$redis_pid" evening --label "2 × PostgreSQL + Redis" "$@"
    ;;
smoke)
    # Seconds-long runs that must lose nothing: the generator still works.
    start_postgres
    start_redis
    start_server "$sqlite"
    loadgen smoke-idle --strict idle --connections 60 --rooms 6 --idle-secs 1
    # The floor is measured briefly where it is shown, and skipped once.
    loadgen smoke-fanout --strict fanout --viewers 30 --rates 20 --secs 1 --floor-secs 0.5
    loadgen smoke-join-storm --strict join-storm --joins 40 --rates 100 --rooms 1,4
    loadgen smoke-chat --strict chat --rooms 4 --viewers 3 --rate 20 --secs 1 --control-every 1 \
        --floor-secs 0
    loadgen smoke-slow --strict slow-consumers --viewers 40 --baseline-secs 1 --secs 2
    loadgen smoke-soak --strict soak --connections 40 --rooms 4 --secs 3 --sample-secs 1
    loadgen smoke-evening --strict evening --rooms 3 --viewers 4 --secs 2 --chat-per-minute 30 \
        --seek-every 1
    servers=()
    start_server "$postgres_url" "$redis_url"
    start_server "$postgres_url" "$redis_url"
    loadgen smoke-cluster --strict --redis-pid "$redis_pid" cluster --viewers 20 --rate 10 --secs 1 \
        --floor-secs 0.5
    ;;
*) echo "unknown scenario: $scenario (run scripts/bench.sh without arguments for the list)" >&2; exit 2 ;;
esac
