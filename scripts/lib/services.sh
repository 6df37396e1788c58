# Sourced by scripts/test.sh and scripts/bench.sh: PostgreSQL and Redis on
# free ports inside a work directory, stopped by stop_services.
#
#   work=$(mktemp -d ...); start_postgres; start_redis; ...; stop_services
#
# start_postgres sets postgres_url, start_redis sets redis_url and redis_pid.

free_port() {
    # Below the kernel's ephemeral range, so no client connection (a load
    # test leaves thousands in TIME_WAIT) can hold the port we pick.
    local port low
    low=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
    while :; do
        port=$((10000 + RANDOM % (low - 10000)))
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { echo "$port"; return; }
    done
}

as_pg() {
    # PostgreSQL refuses to run as root.
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start_postgres() {
    pg_data="$work/pg"
    pg_bin=$(dirname "$(ls /usr/lib/postgresql/*/bin/initdb | sort -V | tail -n 1)")
    local port
    port=$(free_port)
    chmod 755 "$work"
    mkdir -p "$pg_data"
    [ "$(id -u)" = 0 ] && chown postgres "$work" "$pg_data"
    as_pg "$pg_bin/initdb" -D "$pg_data" -A trust -U postgres >"$work/initdb.log" 2>&1 ||
        { cat "$work/initdb.log" >&2; echo "PostgreSQL: initdb failed" >&2; return 1; }
    as_pg "$pg_bin/pg_ctl" -D "$pg_data" -l "$work/pg.log" -w \
        -o "-p $port -k $work -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=400" start >/dev/null ||
        { cat "$work/pg.log" >&2; echo "PostgreSQL did not start" >&2; return 1; }
    postgres_url="postgres://postgres@127.0.0.1:$port/postgres"
    echo "PostgreSQL on port $port"
}

start_redis() {
    local port
    port=$(free_port)
    redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
        --dir "$work" --pidfile "$work/redis.pid" --logfile "$work/redis.log" ||
        { echo "Redis did not start" >&2; return 1; }
    for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
    redis-cli -p "$port" ping >/dev/null || { cat "$work/redis.log" >&2; echo "Redis does not answer" >&2; return 1; }
    redis_url="redis://127.0.0.1:$port"
    redis_pid=$(cat "$work/redis.pid")
    echo "Redis on port $port"
}

stop_services() {
    if [ -n "${pg_data:-}" ]; then
        as_pg "$pg_bin/pg_ctl" -D "$pg_data" -m immediate stop >/dev/null 2>&1 || true
    fi
    [ -f "$work/redis.pid" ] && kill "$(cat "$work/redis.pid")" 2>/dev/null || true
}
