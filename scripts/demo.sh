#!/usr/bin/env bash
# A real scan a newcomer can run on one machine: builds synsurvey, creates a target
# network in network namespaces (the Linux TCP stack answers for 198.18.0.0/16; a few
# addresses have port 80 open), scans 198.18.0.0/20 from the scanner namespace, prints the
# JSON lines and the metadata summary, and removes the namespaces. Needs root: run as
# another user, it runs itself again through sudo.
set -euo pipefail
source "$(dirname "$0")/lib/as-root.sh"
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo build --release --quiet
name=demo$$
trap 'bash scripts/testbed.sh down "$name" >/dev/null 2>&1 || true' EXIT
bash scripts/testbed.sh up "$name" --open 198.18.0.7,198.18.3.0/29,198.18.9.200 --silent 198.18.12.0/22 --ports 80
meta=$(mktemp)
# 198.18.0.0/15 is reserved for benchmarking and so on the built-in blocklist: the testbed
# lives there on purpose, hence --no-default-blocklist here and only here.
bash scripts/testbed.sh exec "$name" scan ./target/release/synsurvey \
    --no-default-blocklist 198.18.0.0/20 -p 80 -r 20000 -c 2 -m "$meta" "$@"
echo "--- metadata ($meta) ---" >&2
cat "$meta" >&2
