#!/usr/bin/env bash
# Checks deploy/watchparty.service with systemd's own verifier. The unit names
# the installed binary; the check points it at the one just built, since
# `systemd-analyze verify` insists that ExecStart exists.
set -euo pipefail
cd "$(dirname "$0")/.."
binary=${1:-$PWD/target/debug/watchparty}
[ -x "$binary" ] || { echo "build the binary first: cargo build -p watchparty" >&2; exit 1; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
sed "s#^ExecStart=/usr/local/bin/watchparty #ExecStart=$binary #" \
    deploy/watchparty.service >"$dir/watchparty.service"
grep -q "^ExecStart=$binary serve$" "$dir/watchparty.service" \
    || { echo "deploy/watchparty.service: ExecStart is not /usr/local/bin/watchparty serve" >&2; exit 1; }
# verify prints problems and exits non-zero on errors; warnings fail too.
output=$(systemd-analyze verify "$dir/watchparty.service" 2>&1) || { echo "$output" >&2; exit 1; }
if [ -n "$output" ]; then
    echo "$output" >&2
    exit 1
fi
echo "deploy/watchparty.service: systemd-analyze verify passed"
