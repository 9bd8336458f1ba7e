#!/usr/bin/env bash
# synsurvey send-rate benchmark: synsurvey, the kernel's sendmmsg ceiling and (where
# installed) zmap and masscan, side by side on one packet sink.
#
#   scripts/bench.sh [sink] [--runs R] [--ports P] [-T THREADS] [--xdp] [--ipv6] [--install-others]
#                    [--base BIN] [--sources LIST]
#   scripts/bench.sh recall [--runs R] [--open K] [-T THREADS]
#   scripts/bench.sh hitlist [--runs R] [--sizes N,N,...]
#   scripts/bench.sh dedup [SHAPE...]
#
# sink (default): every tool sends the same probes, 198.18.0.0/16 x ports 1-P
# (65536*P packets; zmap 2.x takes one port, so it gets -P P probes per address), with
# no rate cap, into a testbed sink; the packet count is read from the sink's nftables
# counter, never from the tool. Tools run interleaved, R times each; each prints ONE JSON
# line with the medians:
#   {"tool","version","packets","seconds","pps","ratio_to_synsurvey","runs","pps_runs"}
# "kernel-ceiling" is examples/txceiling.rs: prebuilt frames through the same sendmmsg
# path, nothing crafted: what the kernel allows on this machine at this moment.
# --xdp adds "synsurvey-xdp" (AF_XDP copy mode, one veth queue per thread).
# --base BIN adds "synsurvey-base": another synsurvey binary (an older build, to measure a
# change), run with the same flags, interleaved with this one.
# --sources LIST adds "synsurvey-sources": this build with -S LIST (several source
# addresses, e.g. 198.19.0.1,198.19.100.10-198.19.100.16; those the scan namespace does
# not own draw a warning, and the sink counts their probes all the same).
# --ipv6 adds "synsurvey-v6" (and "synsurvey-v6-xdp" with --xdp): the same number of
# probes to 2001:2::/112 x ports 1-P, interleaved with the IPv4 tools on the same
# (dual-stack) sinks. Every line also has "frame_bytes" (Ethernet frame without FCS, from
# the sink's byte counter) and "bytes_per_s": IPv6 frames are 20 bytes longer.
#
# hitlist: dry runs (nothing sent, no namespace) of N-line IPv6 hitlists (default 1M and
# 10M random addresses of 2001:2::/48, generated here): one JSON line per size with the
# median wall time and the peak RSS of the scanner (-d -I FILE -o /dev/null).
#
# dedup: no packets: benches/dedup.rs in release, duplicate suppression of synthetic
# reply indices of three scan shapes (1: one port x 2^32, 60M random replies; 2: 100
# ports x 2^32, 100M; 3: 65,535 ports x 65,536 addresses, 2,000 answering on every port),
# the new structure against the old 8 KiB pages: bytes held and ns per insert. Needs
# about 1.5 GiB of memory; no root.
#
# recall: a real-TCP-stack testbed (`testbed.sh up`) with K random open addresses on port
# 80; synsurvey scans 198.18.0.0/16:80 at full speed; prints found/open and pps.
#
# SAFETY: every tool runs inside the testbed's scan namespace and sends only to
# 198.18.0.0/16 (IPv6: 2001:2::/112), whose gateway is the sink (or the AnyIP target);
# nothing is sent from the root namespace. The hitlist dry runs open no socket. Needs root.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TESTBED="$ROOT/scripts/testbed.sh"
BIN="$ROOT/target/release/synsurvey"
CEIL="$ROOT/target/release/examples/txceiling"
MODE=sink
RUNS=3
PORTS=76
THREADS=2
XDP=0
INSTALL=0
OPEN=3000
IPV6=0
SIZES=1000000,10000000
BASE=
SOURCES=
NAME=bench$$

die() { echo "bench.sh: $*" >&2; exit 1; }
log() { echo "bench.sh: $*" >&2; }

if [[ ${1:-} == dedup ]]; then
    shift
    cd "$ROOT" && exec cargo bench --quiet --bench dedup -- "$@"
fi
if [[ ${1:-} == sink || ${1:-} == recall || ${1:-} == hitlist ]]; then MODE=$1; shift; fi
while [[ $# -gt 0 ]]; do
    case $1 in
    --runs) RUNS=$2; shift 2 ;;
    --ports) PORTS=$2; shift 2 ;;
    -T) THREADS=$2; shift 2 ;;
    --xdp) XDP=1; shift ;;
    --ipv6) IPV6=1; shift ;;
    --sizes) SIZES=$2; shift 2 ;;
    --install-others) INSTALL=1; shift ;;
    --open) OPEN=$2; shift 2 ;;
    --base) BASE=$2; shift 2 ;;
    --sources) SOURCES=$2; shift 2 ;;
    -h | --help) sed -n '2,45p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option '$1' (see -h)" ;;
    esac
done
[[ $RUNS =~ ^[1-9][0-9]*$ && $PORTS =~ ^[1-9][0-9]*$ && $THREADS =~ ^[1-9][0-9]*$ && $OPEN =~ ^[1-9][0-9]*$ ]] ||
    die "--runs, --ports, -T and --open take positive whole numbers"
((PORTS <= 1000)) || die "--ports: at most 1000"
[[ $SIZES =~ ^[1-9][0-9]*(,[1-9][0-9]*)*$ ]] || die "--sizes: whole numbers, comma-separated"
[[ $(id -u) -eq 0 ]] || die "must run as root (network namespaces)"

if ((INSTALL)); then
    command -v zmap >/dev/null && command -v masscan >/dev/null || {
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq && apt-get install -y -qq zmap masscan >/dev/null
    }
fi

log "building (release)"
(cd "$ROOT" && cargo build --release --quiet --bin synsurvey --example txceiling)

TMP=$(mktemp -d)
cleanup() {
    bash "$TESTBED" down "$NAME" >/dev/null 2>&1 || true
    bash "$TESTBED" down "${NAME}q" >/dev/null 2>&1 || true
    rm -rf "$TMP"
}
trap cleanup EXIT

median() { sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
now() { date +%s.%N; }

# run_one TESTBED TOOL : one run of TOOL in TESTBED's scan namespace; appends
# "packets seconds" to $TMP/TOOL.
run_one() {
    local tb=$1 tool=$2 c0 c1 b0 b1 t0 t1 mac
    mac=$(ip -n "$tb-sink" -o link show veth1 | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p')
    local x=(bash "$TESTBED" exec "$tb" scan)
    local n=$((65536 * PORTS))
    read -r c0 b0 < <(bash "$TESTBED" sink-count "$tb" --bytes)
    t0=$(now)
    case $tool in
    synsurvey | synsurvey-xdp | synsurvey-v6 | synsurvey-v6-xdp | synsurvey-base | synsurvey-sources)
        local extra=() net=198.18.0.0/16 bin=$BIN
        [[ $tool == *-xdp ]] && extra=(--xdp)
        [[ $tool == synsurvey-v6* ]] && net=2001:2::/112
        [[ $tool == synsurvey-base ]] && bin=$BASE
        [[ $tool == synsurvey-sources ]] && extra=(-S "$SOURCES")
        "${x[@]}" "$bin" "$net" -p "1-$PORTS" -n "$n" -r 0 -T "$THREADS" \
            --no-default-blocklist --max-net-rate 0 -c 0 -q -o /dev/null "${extra[@]}" 2>"$TMP/$tool.err" ;;
    kernel-ceiling)
        "${x[@]}" "$CEIL" veth0 "$mac" "$THREADS" "$n" >/dev/null ;;
    zmap)
        "${x[@]}" zmap 198.18.0.0/16 -p 80 -P "$PORTS" -B 100G -T "$THREADS" -i veth0 \
            -G "$mac" -S 198.19.0.1 -b "$TMP/blocklist" -w "$TMP/allowlist" -c 0 \
            -o /dev/null -q --disable-syslog >/dev/null 2>"$TMP/zmap.err" ;;
    masscan)
        # masscan 1.3 does not exit after its --wait here (the countdown goes negative and
        # it keeps running), so its send time is when the sink has seen every packet (or
        # nothing more for 3 s); then it is stopped.
        "${x[@]}" masscan 198.18.0.0/16 -p "1-$PORTS" --rate 100000000 --adapter veth0 \
            --adapter-ip 198.19.0.1 --router-mac "$mac" --wait 1 \
            --excludefile "$TMP/blocklist" >/dev/null 2>"$TMP/masscan.err" &
        local pid=$! c prev=-1 still=0
        while :; do
            sleep 0.1
            c=$(bash "$TESTBED" sink-count "$tb")
            if ((c - c0 >= n)); then break; fi
            if ((c == prev)); then
                still=$((still + 1))
                ((still >= 30)) && break
            else
                still=0
                t1=$(now)
            fi
            prev=$c
        done
        ((c - c0 >= n)) && t1=$(now)
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true ;;
    esac
    [[ $tool == masscan ]] || t1=$(now)
    read -r c1 b1 < <(bash "$TESTBED" sink-count "$tb" --bytes)
    echo "$((c1 - c0)) $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", b-a}') $((b1 - b0))" >>"$TMP/$tool"
}

version_of() {
    case $1 in
    synsurvey-base) "$BASE" --version | awk '{print $2}' ;;
    synsurvey*) "$BIN" --version | awk '{print $2}' ;;
    kernel-ceiling) uname -r ;;
    zmap) zmap --version 2>&1 | head -n1 | awk '{print $NF}' ;;
    masscan) masscan --version 2>&1 | sed -n 's/.*version \([0-9.]*\).*/\1/p' | head -n1 ;;
    esac
}

machine() {
    log "machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1), kernel $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg)"
}

bench_sink() {
    # A blocklist for zmap and masscan that blocks nothing in 198.18.0.0/16 (their
    # defaults block the benchmarking range); an allowlist that pins zmap to it.
    echo "192.0.2.0/24" >"$TMP/blocklist"
    echo "198.18.0.0/16" >"$TMP/allowlist"
    local v6=()
    ((IPV6)) && v6=(--ipv6)
    bash "$TESTBED" sink "$NAME" "${v6[@]}" >/dev/null
    local tools=(synsurvey kernel-ceiling)
    ((IPV6)) && tools+=(synsurvey-v6)
    [[ -n $BASE ]] && tools+=(synsurvey-base)
    [[ -n $SOURCES ]] && tools+=(synsurvey-sources)
    command -v zmap >/dev/null && tools+=(zmap) || log "zmap not installed (--install-others)"
    command -v masscan >/dev/null && tools+=(masscan) || log "masscan not installed (--install-others)"
    if ((XDP)); then
        bash "$TESTBED" sink "${NAME}q" --queues "$THREADS" "${v6[@]}" >/dev/null
    fi
    machine
    local r t
    for r in $(seq 1 "$RUNS"); do
        for t in "${tools[@]}"; do
            run_one "$NAME" "$t"
        done
        ((XDP)) && run_one "${NAME}q" synsurvey-xdp
        ((XDP && IPV6)) && run_one "${NAME}q" synsurvey-v6-xdp
        log "run $r/$RUNS done, load $(cut -d' ' -f1-3 /proc/loadavg)"
    done
    ((XDP)) && tools+=(synsurvey-xdp)
    ((XDP && IPV6)) && tools+=(synsurvey-v6-xdp)
    machine
    local base
    base=$(awk '{print $1/$2}' "$TMP/synsurvey" | median)
    for t in "${tools[@]}"; do
        local pkts secs pps runs frame
        pkts=$(awk '{print $1}' "$TMP/$t" | median)
        secs=$(awk '{print $2}' "$TMP/$t" | median)
        pps=$(awk '{print $1/$2}' "$TMP/$t" | median)
        runs=$(awk '{printf "%s%.0f", (NR>1?",":""), $1/$2}' "$TMP/$t")
        # The sink counts bytes from the IP header on; a frame adds its Ethernet header.
        frame=$(awk '$1 > 0 {print $3/$1 + 14}' "$TMP/$t" | median)
        awk -v t="$t" -v v="$(version_of "$t")" -v p="$pkts" -v s="$secs" -v pps="$pps" \
            -v b="$base" -v n="$RUNS" -v all="$runs" -v f="${frame:-0}" 'BEGIN {
            printf "{\"tool\":\"%s\",\"version\":\"%s\",\"packets\":%d,\"seconds\":%.3f,\"pps\":%.0f,\"ratio_to_synsurvey\":%.3f,\"runs\":%d,\"pps_runs\":[%s],\"frame_bytes\":%.1f,\"bytes_per_s\":%.0f}\n",
                t, v, p, s, pps, pps / b, n, all, f, pps * f }'
    done
    grep -h "AF_XDP unavailable" "$TMP/synsurvey-xdp.err" 2>/dev/null | head -n 2 >&2 || true
    return 0
}

bench_recall() {
    # K distinct random addresses of 198.18.0.0/16, open on port 80.
    python3 - "$OPEN" >"$TMP/open" <<'EOF'
import random, sys
k = int(sys.argv[1])
for i in random.sample(range(1, 65535), k):
    print(f"198.18.{i >> 8}.{i & 255}")
EOF
    bash "$TESTBED" up "$NAME" --open "$TMP/open" --ports 80 >/dev/null
    machine
    local r
    for r in $(seq 1 "$RUNS"); do
        bash "$TESTBED" exec "$NAME" scan "$BIN" 198.18.0.0/16 -p 80 -r 0 -T "$THREADS" \
            --no-default-blocklist --max-net-rate 0 -c 3 -q -o "$TMP/out.json" -m "$TMP/meta.json" 2>/dev/null || true
        python3 - "$TMP/open" "$TMP/out.json" "$TMP/meta.json" <<'EOF'
import json, sys
open_ = set(l.strip() for l in open(sys.argv[1]) if l.strip())
found = set()
for line in open(sys.argv[2]):
    r = json.loads(line)
    if r.get("classification") == "synack" and r.get("success"):
        found.add(r["saddr"])
meta = json.load(open(sys.argv[3]))
print(json.dumps({"mode": "recall", "found": len(found & open_), "open": len(open_),
                  "recall": round(len(found & open_) / len(open_), 5),
                  "false_positives": len(found - open_),
                  "packets": meta.get("packets_sent"),
                  "pps": meta.get("send_rate_achieved_pps")}))
EOF
    done
}

# Dry runs of IPv6 hitlists: time and peak RSS of the scanner for each size in $SIZES.
bench_hitlist() {
    machine
    local size
    for size in ${SIZES//,/ }; do
        log "generating a $size-line hitlist in 2001:2::/48"
        python3 - "$size" >"$TMP/hitlist" <<'EOF'
import ipaddress, random, sys
rng = random.Random(5180)
base = int(ipaddress.IPv6Address("2001:2::"))
out = sys.stdout
for _ in range(int(sys.argv[1])):
    # A random address of 2001:2::/48 (80 random bits; a repeat is vanishingly rare).
    out.write(str(ipaddress.IPv6Address(base | rng.getrandbits(80))) + "\n")
EOF
        local r
        : >"$TMP/hitlist.runs"
        for r in $(seq 1 "$RUNS"); do
            /usr/bin/time -f "%e %M" -o "$TMP/time" "$BIN" -d -q --no-default-blocklist \
                -S 2001:2:0:ff::1 -I "$TMP/hitlist" -p 80 -o /dev/null 2>"$TMP/hitlist.err" ||
                die "dry run of $size lines failed: $(head -c 500 "$TMP/hitlist.err")"
            cat "$TMP/time" >>"$TMP/hitlist.runs"
        done
        local secs rss
        secs=$(awk '{print $1}' "$TMP/hitlist.runs" | median)
        rss=$(awk '{print $2}' "$TMP/hitlist.runs" | median)
        awk -v n="$size" -v s="$secs" -v k="$rss" -v r="$RUNS" -v b="$(stat -c %s "$TMP/hitlist")" 'BEGIN {
            printf "{\"mode\":\"hitlist-dry-run\",\"lines\":%d,\"file_bytes\":%d,\"seconds\":%.2f,\"peak_rss_mib\":%.1f,\"bytes_per_address\":%.1f,\"runs\":%d}\n",
                n, b, s, k / 1024, k * 1024 / n, r }'
    done
}

case $MODE in
sink) bench_sink ;;
recall) bench_recall ;;
hitlist) bench_hitlist ;;
esac
