#!/usr/bin/env bash
# synsurvey at Internet scale: as many targets as a one-port scan of all of IPv4, sent at
# full speed into a testbed sink, interrupted halfway and resumed.
#
#   scripts/scale.sh [--net CIDR] [--ports P] [-T THREADS] [--xdp]
#
# Default: 198.18.0.0/15 x ports 1-32768 = 2^32 targets (tens of minutes on 2 cores).
# A small check of the script itself: scripts/scale.sh --net 198.18.0.0/20 --ports 64.
# Prints one JSON line: targets, the probes the sink counted (nftables counter) against
# the metadata's packets_sent summed over both runs, wall time and Mpps, the scanner's
# peak RSS (VmHWM) and its VmRSS sampled every second (min and max over the run: flat
# means max/min close to 1), and dedup_peak_bytes.
#
# SAFETY: the scanner runs inside the testbed's scan namespace only; its frames go to the
# sink namespace, nothing is routed out of it and nothing is sent from the root namespace.
# --no-default-blocklist only because 198.18.0.0/15 (RFC 2544 benchmarking) is in the
# built-in blocklist, and --max-net-rate 0 because the sink is our own namespace (the
# per-/24 ceiling would hold this concentrated shape to 51,200 pps); the defaults are
# unchanged for every other use. Needs root.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TESTBED="$ROOT/scripts/testbed.sh"
BIN=${SYNSURVEY_BIN:-$ROOT/target/release/synsurvey}
NET=198.18.0.0/15
PORTS=32768
THREADS=2
NAME=scale$$
EXTRA=()
die() { echo "scale.sh: $*" >&2; exit 1; }
while [[ $# -gt 0 ]]; do
    case $1 in
    --net) NET=$2; shift 2 ;;
    --ports) PORTS=$2; shift 2 ;;
    -T) THREADS=$2; shift 2 ;;
    --xdp) EXTRA+=(--xdp); shift ;;
    -h | --help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option '$1' (see -h)" ;;
    esac
done
[[ $NET == 198.18.* || $NET == 198.19.* ]] || die "--net: inside 198.18.0.0/15 only"
[[ $PORTS =~ ^[1-9][0-9]*$ && $PORTS -le 65535 ]] || die "--ports: 1 to 65535"
[[ $(id -u) -eq 0 ]] || die "must run as root (network namespaces)"
[[ -n ${SYNSURVEY_BIN:-} ]] || (cd "$ROOT" && cargo build --release --quiet --bin synsurvey)

TMP=$(mktemp -d)
cleanup() { bash "$TESTBED" down "$NAME" >/dev/null 2>&1 || true; rm -rf "$TMP"; }
trap cleanup EXIT
bash "$TESTBED" sink "$NAME" --queues "$THREADS" >/dev/null
bits=${NET#*/}
TARGETS=$(((1 << (32 - bits)) * PORTS))
c0=$(bash "$TESTBED" sink-count "$NAME")
args=("$NET" -p "1-$PORTS" -r 0 -T "$THREADS" --no-default-blocklist --max-net-rate 0 -c 0 -q -o /dev/null
    --checkpoint "$TMP/ckpt" "${EXTRA[@]}")

# run ARGS... : one run in the scan namespace, RSS sampled every second into $TMP/rss;
# SIGINT once the sink has counted $STOP_AT probes (0: never).
run() {
    bash "$TESTBED" exec "$NAME" scan "$BIN" "$@" &
    local wrapper=$! pid=""
    # The scanner: the process named synsurvey whose command line names our checkpoint.
    while [[ -z $pid ]] && kill -0 "$wrapper" 2>/dev/null; do
        for p in $(pgrep -x synsurvey || true); do
            { tr '\0' ' ' <"/proc/$p/cmdline"; } 2>/dev/null | grep -qF "$TMP/ckpt" && pid=$p
        done
        sleep 0.05
    done
    while kill -0 "$wrapper" 2>/dev/null; do
        if [[ -n $pid && -r /proc/$pid/status ]]; then
            awk '/^VmRSS|^VmHWM/ {printf "%s ", $2} END {print ""}' "/proc/$pid/status" >>"$TMP/rss" || true
            if ((STOP_AT > 0)) && (($(bash "$TESTBED" sink-count "$NAME") - c0 >= STOP_AT)); then
                kill -INT "$pid" 2>/dev/null || true
                STOP_AT=0
            fi
        fi
        sleep 1
    done
    wait "$wrapper" || true
}

t0=$(date +%s.%N)
STOP_AT=$((TARGETS / 2))
run "${args[@]}" -m "$TMP/meta1.json"
STOP_AT=0
run --resume "$TMP/ckpt" -m "$TMP/meta2.json" -o /dev/null -q
t1=$(date +%s.%N)
c1=$(bash "$TESTBED" sink-count "$NAME")
python3 - "$TMP" "$TARGETS" "$((c1 - c0))" "$t0" "$t1" <<'EOF'
import json, sys
tmp, targets, counted, t0, t1 = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
m1 = json.load(open(f"{tmp}/meta1.json"))
m2 = json.load(open(f"{tmp}/meta2.json"))
rss = [l.split() for l in open(f"{tmp}/rss") if len(l.split()) == 2]
# Skip the first 3 s (start-up) when judging flatness, if the run was long enough.
rs = [int(r[0]) for r in (rss[3:] if len(rss) > 6 else rss)] or [0]
secs = t1 - t0
print(json.dumps({
    "targets": targets,
    "sink_counted": counted,
    "packets_sent": m1["packets_sent"] + m2["packets_sent"],
    "first_run_end": m1["end_reason"], "resumed_run_end": m2["end_reason"],
    "first_run_sent": m1["packets_sent"],
    "total_targets_scanned": m2["survey"]["totals"].get("targets_scanned") if "survey" in m2 else None,
    "seconds": round(secs, 1), "mpps": round(counted / secs / 1e6, 3),
    "rss_kib_min": min(rs), "rss_kib_max": max(rs),
    "vmhwm_kib": max(int(r[1]) for r in rss) if rss else None,
    "dedup_peak_bytes": max(m1["replies"]["dedup_peak_bytes"], m2["replies"]["dedup_peak_bytes"]),
}))
EOF
