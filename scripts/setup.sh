#!/usr/bin/env bash
# Installs what building synsurvey and running its tests need on a fresh Debian/Ubuntu
# machine: iproute2 (namespaces, veth), nftables (ground truth and sinks), tcpdump (captures
# on the target side), python3 (the testbed's listener), iputils-ping, libcap2-bin (setcap
# and util-linux setpriv for the least-privilege tests), chromium (headless, to check the
# HTML report as a browser shows it), man-db, zsh and fish (to check the man page and the
# completion scripts). Needs root. Safe to run again.
# --bench also installs what scripts/bench.sh compares against and profiles with: zmap,
# masscan, ethtool, linux-perf.
set -euo pipefail
need=()
if [[ ${1:-} == --bench ]]; then
    for pair in zmap:zmap masscan:masscan ethtool:ethtool perf:linux-perf; do
        cmd=${pair%%:*} pkg=${pair##*:}
        command -v "$cmd" >/dev/null 2>&1 || need+=("$pkg")
    done
fi
for pair in ip:iproute2 nft:nftables tcpdump:tcpdump python3:python3 ping:iputils-ping setcap:libcap2-bin setpriv:util-linux \
    taskset:util-linux chromium:chromium man:man-db zsh:zsh fish:fish; do
    cmd=${pair%%:*} pkg=${pair##*:}
    command -v "$cmd" >/dev/null 2>&1 || need+=("$pkg")
done
if ((${#need[@]})); then
    if [ "$(id -u)" -ne 0 ]; then
        echo "setup.sh: missing ${need[*]}; run as root to install them" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${need[@]}" >/dev/null
fi
command -v cargo >/dev/null 2>&1 || { echo "setup.sh: cargo not found: install Rust (rustup)" >&2; exit 1; }
