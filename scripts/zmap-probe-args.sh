#!/usr/bin/env bash
# Records the SYN probes ZMap sends for each --probe-args option set, as captured on the
# target side of a namespace testbed, into tests/fixtures/zmap-probe-args.txt: one probe
# frame per set (and one for ZMap's default, no --probe-args), in hex. tests/probe_args.rs
# compares synsurvey's probes with them byte for byte.
#
#   scripts/zmap-probe-args.sh [ZMAP] [OUT]
#
# ZMAP: a ZMap built from source that has --probe-args (default /work/zmap-head/sbin/zmap,
# as scripts/zmap-head.sh builds it). OUT: default tests/fixtures/zmap-probe-args.txt.
#
# SAFETY: ZMap runs inside the namespaces scripts/testbed.sh creates, toward
# 198.18.7.0/29 inside them; nothing is sent from the root namespace.
set -euo pipefail

ROOT=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
ZMAP=${1:-/work/zmap-head/sbin/zmap}
OUT=${2:-$ROOT/tests/fixtures/zmap-probe-args.txt}
TARGETS=198.18.7.0/29
OPEN=198.18.7.1,198.18.7.2,198.18.7.5
SETS=(default windows linux bsd smallest-probes)

die() { echo "zmap-probe-args.sh: $*" >&2; exit 2; }
[[ $EUID -eq 0 ]] || exec sudo -- "$0" "$@"
[[ -x $ZMAP ]] || die "no ZMap at $ZMAP (build one with scripts/zmap-head.sh)"
command -v tcpdump >/dev/null || die "tcpdump is not installed"

NAME=zpa$$
WORK=$(mktemp -d)
cleanup() {
    [[ -n ${TCPDUMP:-} ]] && kill "$TCPDUMP" 2>/dev/null || true
    bash "$ROOT/scripts/testbed.sh" down "$NAME" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

bash "$ROOT/scripts/testbed.sh" up "$NAME" --open "$OPEN" --ports 80 >/dev/null
MAC=$(ip -n "$NAME-tgt" -o link show veth1 | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p')
: >"$WORK/empty.conf"
: >"$WORK/empty.bl"
# An empty configuration file: ZMap reads /etc/zmap/zmap.conf otherwise (Debian's is 2.1.1's).
"$ZMAP" -C "$WORK/empty.conf" --help 2>&1 | grep -q -- --probe-args || die "$ZMAP has no --probe-args"
VERSION=$("$ZMAP" -C "$WORK/empty.conf" --version 2>/dev/null | head -n1)
# scripts/zmap-head.sh notes the source revision beside the binary.
REV=$(sed -n 's/^revision //p' "$(dirname "$ZMAP")/../VERSION" 2>/dev/null || true)

{
    echo "# The SYN probes of $VERSION${REV:+ (revision $REV)}, captured on the target side of a"
    echo "# namespace testbed by scripts/zmap-probe-args.sh: one Ethernet frame per option set,"
    echo "# in hex. 'default' is ZMap without --probe-args. Then: how many probes were"
    echo "# captured, whether they all had this TCP header length, and the open addresses found"
    echo "# (the testbed's open set is $OPEN of $TARGETS)."
    echo "# set frame_hex probes tcp_header_len found"
} >"$OUT.tmp"

for set in "${SETS[@]}"; do
    pcap=$WORK/$set.pcap
    ip netns exec "$NAME-tgt" tcpdump -i veth1 -n -U -Z root -s 128 -w "$pcap" \
        'tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn' 2>"$WORK/tcpdump.err" &
    TCPDUMP=$!
    for _ in $(seq 100); do
        grep -q 'listening on' "$WORK/tcpdump.err" && break
        sleep 0.05
    done
    args=()
    [[ $set == default ]] || args=("--probe-args=$set")
    ip netns exec "$NAME-scan" "$ZMAP" -C "$WORK/empty.conf" -q -i veth0 -G "$MAC" \
        -b "$WORK/empty.bl" -c 1 -p 80 -o "$WORK/$set.csv" "${args[@]}" "$TARGETS" \
        2>"$WORK/$set.err" || die "zmap ${args[*]} failed: $(tail -n3 "$WORK/$set.err")"
    sleep 0.3
    kill -INT "$TCPDUMP"
    wait "$TCPDUMP" || true
    TCPDUMP=
    found=$(grep -v saddr "$WORK/$set.csv" | sort -t. -k4n | paste -sd, -)
    python3 - "$pcap" "$set" "$found" >>"$OUT.tmp" <<'EOF'
import struct, sys
path, name, found = sys.argv[1:]
data = open(path, 'rb').read()
endian = '<' if data[:4] in (b'\xd4\xc3\xb2\xa1', b'\x4d\x3c\xb2\xa1') else '>'
frames, off = [], 24
while off + 16 <= len(data):
    incl = struct.unpack(endian + 'I', data[off + 8:off + 12])[0]
    frames.append(data[off + 16:off + 16 + incl])
    off += 16 + incl
if not frames:
    sys.exit(f'no probe captured for {name}')
tcp_lens = {(f[14 + 20 + 12] >> 4) * 4 for f in frames}
if len(tcp_lens) != 1:
    sys.exit(f'{name}: TCP header lengths differ between probes: {tcp_lens}')
print(name, frames[0].hex(), len(frames), tcp_lens.pop(), found or '-')
EOF
done
mv "$OUT.tmp" "$OUT"
echo "zmap-probe-args.sh: wrote $OUT"
