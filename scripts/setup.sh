#!/usr/bin/env bash
# Installs what building synsurvey and running its tests need on a fresh Debian/Ubuntu
# machine: iproute2 (namespaces, veth), nftables (ground truth and sinks), tcpdump (captures
# on the target side), python3 (the testbed's listener), iputils-ping, libcap2-bin (setcap
# and util-linux setpriv for the least-privilege tests), zmap (the oracle of
# tests/zmap_oracle.rs), Slurm with munge (slurmctld, slurmd, the clients, munged:
# tests/slurm.rs runs scripts/slurm/ on a one-node cluster of its own; no service is
# configured or started here), chromium (headless, to check the HTML report as a browser
# shows it), man-db, zsh and fish (to check the man page and the completion scripts).
# Needs root. Safe to run again.
# --bench also installs what scripts/bench.sh compares against and profiles with:
# masscan, ethtool, linux-perf.
set -euo pipefail
need=()
if [[ ${1:-} == --bench ]]; then
    for pair in masscan:masscan ethtool:ethtool perf:linux-perf; do
        cmd=${pair%%:*} pkg=${pair##*:}
        command -v "$cmd" >/dev/null 2>&1 || need+=("$pkg")
    done
fi
for pair in ip:iproute2 nft:nftables tcpdump:tcpdump python3:python3 ping:iputils-ping setcap:libcap2-bin setpriv:util-linux \
    taskset:util-linux zmap:zmap slurmctld:slurmctld slurmd:slurmd sbatch:slurm-client munged:munge \
    chromium:chromium man:man-db zsh:zsh fish:fish; do
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
# scripts/test.sh checks formatting and lints: rustfmt and clippy, added where rustup manages
# the toolchain (rustup's proxies exist without the component, so ask cargo itself).
for component in fmt clippy; do
    if ! cargo "$component" --version >/dev/null 2>&1; then
        name=$([ "$component" = fmt ] && echo rustfmt || echo clippy)
        command -v rustup >/dev/null 2>&1 || { echo "setup.sh: cargo $component not found: install $name" >&2; exit 1; }
        rustup component add "$name"
    fi
done
