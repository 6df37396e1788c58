#!/usr/bin/env bash
# The crate graph is the architecture (docs/architecture.md). This fails when
# the web crate reaches storage or Redis directly, or the domain crate does IO.
set -euo pipefail
cd "$(dirname "$0")/.."

status=0
web=$(cargo tree -p watchparty-web -e normal --depth 1 --prefix none)
bad=$(grep -oE '^(diesel|fred|redis|deadpool-redis|deadpool-diesel|r2d2|watchparty-persistence|watchparty-realtime-cache) ' <<<"$web" | sort -u | tr '\n' ' ' || true)
if [ -n "$bad" ]; then
    echo "watchparty-web depends directly on: $bad(consumers express intent only)" >&2
    status=1
fi
domain=$(cargo tree -p watchparty-domain -e normal --prefix none)
bad=$(grep -oE '^(tokio|actix[a-z-]*|diesel|fred|redis|reqwest|hyper) ' <<<"$domain" | sort -u | tr '\n' ' ' || true)
if [ -n "$bad" ]; then
    echo "watchparty-domain depends on: $bad(it must stay pure)" >&2
    status=1
fi
bin=$(cargo tree -p watchparty -e normal --depth 1 --prefix none)
bad=$(grep -oE '^(diesel|fred|redis|watchparty-persistence|watchparty-realtime-cache) ' <<<"$bin" | sort -u | tr '\n' ' ' || true)
if [ -n "$bad" ]; then
    echo "the binary depends directly on: $bad(it only wires the service and the web edge)" >&2
    status=1
fi
loadgen=$(cargo tree -p watchparty-loadgen -e normal --depth 1 --prefix none)
bad=$(grep -oE '^watchparty-[a-z-]+ ' <<<"$loadgen" | grep -v '^watchparty-loadgen ' | sort -u | tr '\n' ' ' || true)
if [ -n "$bad" ]; then
    echo "the load generator depends on: $bad(it knows only the public contract)" >&2
    status=1
fi
[ $status = 0 ] && echo "crate boundaries hold"
exit $status
