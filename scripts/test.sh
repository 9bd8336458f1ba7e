#!/usr/bin/env bash
# The test command: installs prerequisites, checks formatting (`cargo fmt --check`) and
# lints (`cargo clippy -D warnings`), then runs every test (unit, integration and
# namespace tests that send real packets between namespaces they create). Needs root for
# the namespace tests: run as another user, it runs itself again through sudo. Optimised
# build (profile `ci`, see Cargo.toml): the rate and recall tests measure real packet
# rates; clippy uses the same profile, so the test run reuses its build of the
# dependencies.
set -euo pipefail
source "$(dirname "$0")/lib/as-root.sh"
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ "$(id -u)" -ne 0 ]; then
    echo "test.sh: the namespace tests need root (they create network namespaces), and there is no sudo" >&2
    exit 1
fi
cargo fmt --all --check
cargo clippy --profile ci --all-targets --quiet -- -D warnings
cargo test --profile ci --all-targets --no-fail-fast "$@"
