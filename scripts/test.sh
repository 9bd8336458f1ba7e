#!/usr/bin/env bash
# The test command: installs prerequisites, then runs every test (unit, integration and
# namespace tests that send real packets between namespaces they create). Needs root for
# the namespace tests. Optimised build (profile `ci`, see Cargo.toml): the rate and recall
# tests measure real packet rates.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ "$(id -u)" -ne 0 ]; then
    echo "test.sh: the namespace tests need root (they create network namespaces)" >&2
    exit 1
fi
cargo test --profile ci --all-targets --no-fail-fast "$@"
