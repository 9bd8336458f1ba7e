#!/usr/bin/env bash
# synsurvey testbed: a realistic target network on one machine, built from
# network namespaces, with the real Linux TCP stack as the responder.
#
# SAFETY: everything that sends packets runs inside namespaces created here,
# toward addresses inside them only. Targets live in 198.18.0.0/16, the link
# between the namespaces in 198.19.0.0/16; with --ipv6, targets live in
# 2001:2::/64 and the links in 2001:2:0:ff::/64 (both inside the benchmarking
# prefix 2001:2::/48). Nothing is created in, routed to or sent from the root
# namespace: veth ends are created directly inside the namespaces, and no
# namespace gets a default route.
set -euo pipefail

PROG=$(basename "$0")
SCRIPT_DIR=$(cd "$(dirname "$(readlink -f "$0")")" && pwd)
RELAY_PY=$SCRIPT_DIR/testbed-relay.py
TUNRELAY_PY=$SCRIPT_DIR/testbed-tunrelay.py
VLANRELAY_PY=$SCRIPT_DIR/testbed-vlanrelay.py
STATE_ROOT=/run/synsurvey-testbed
SCAN_ADDR=198.19.0.1
GW_ADDR=198.19.0.2
LINK_PREFIX=30
TARGET_NET=198.18.0.0/16
# IPv6 (--ipv6): link k (1 to 4) is 2001:2:0:ff::(4k-4)/126, scanner ::(4k-3), target
# side ::(4k-2), as the IPv4 links are /30s of 198.19.0.0/16.
SCAN_ADDR6=2001:2:0:ff::1
GW_ADDR6=2001:2:0:ff::2
LINK_PREFIX6=126
TARGET_NET6=2001:2::/64
# Set by 'up --ipv6' / 'sink --ipv6'.
IPV6=0

usage() {
    cat <<EOF
Usage: $PROG COMMAND NAME [OPTIONS]

Commands:
  up NAME [--ipv6] [--open LIST] [--silent LIST] [--unreach LIST] [--ports P,P,...]
          [--loss PCT] [--scanners K] [--delay MS] [--rate-limit] [--tun | --vlan ID]
      Create namespaces NAME-scan (scanner) and NAME-tgt (target).
      veth0 in NAME-scan has $SCAN_ADDR/$LINK_PREFIX, veth1 in NAME-tgt has
      $GW_ADDR/$LINK_PREFIX; NAME-scan routes $TARGET_NET via $GW_ADDR.
      NAME-tgt owns every address of $TARGET_NET (AnyIP) and listens on
      the given ports (default 80). Responses, per destination address:
        in --open    SYN-ACK from the kernel's listener (real handshake)
        in --silent  nothing (dropped)
        in --unreach ICMP destination unreachable from the target's kernel
                     (IPv4: host-unreachable, IPv6: address-unreachable), with
                     the ICMP rate limits of the target namespace lifted
        otherwise    RST (listened port: nftables reject; other ports: kernel)
      LIST is a file (one address or CIDR per line, '#' comments allowed)
      or a comma-separated list of addresses/CIDRs inside $TARGET_NET
      ($TARGET_NET6 with --ipv6).
      --ipv6        an IPv6 target network instead: veth0 has $SCAN_ADDR6/$LINK_PREFIX6,
                    veth1 $GW_ADDR6/$LINK_PREFIX6 (nodad), NAME-scan routes
                    $TARGET_NET6 via $GW_ADDR6, and NAME-tgt owns every address of
                    $TARGET_NET6 (ip -6 route add local $TARGET_NET6 dev lo), listening
                    on [::]; the nftables sets hold ipv6_addr. The IPv4 link stays, the
                    IPv4 target network is not set up. Not with --delay.
      --loss PCT    drop PCT% of the target's TCP replies (nftables egress);
                    the SYN-ACKs dropped are recorded by address and port in the
                    sets lost1 (once) and lost2 (twice) of table netdev testbed_loss
      --scanners K  K scanner namespaces (1 to 4): NAME-scan, then NAME-scan2..K,
                    each on its own link 198.19.(K-1).0/30 to NAME-tgt (veth0 <->
                    vethK); for shards scanned from several hosts at once
      --delay MS    delay every frame the target sends toward the scanner
                    by MS ms (ARP included). Adds a third namespace NAME-dly
                    between the two: veth0 <-> a (NAME-dly) and b (NAME-dly)
                    <-> veth1, bridged by a delaying L2 relay
                    (scripts/testbed-relay.py; no netem needed). Frames
                    toward the target pass at once.
      --tun         an IP-layer link instead of the veth pair: tun0 in NAME-scan and
                    tun1 in NAME-tgt (no hardware address, no link header, as a
                    WireGuard or PPP link), joined by a relay
                    (scripts/testbed-tunrelay.py) that copies each IP packet from
                    one to the other. Same addresses; NAME-scan routes the target
                    network with 'dev tun0' (no gateway, no neighbours). Not with
                    --delay, --scanners, --loss or --vlan.
      --vlan ID     802.1Q VLAN ID (1-4094) between the scanner and the target:
                    veth0 <-> a (NAME-dly) and b (NAME-dly) <-> veth1, bridged by
                    a relay (scripts/testbed-vlanrelay.py) that passes toward the
                    target only frames tagged ID (tag removed) and tags every
                    frame toward the scanner; untagged ARP and IPv6 neighbour
                    discovery pass both ways. Counters: 'status' or
                    NAME's state dir vlanrelay.stats. Not with --delay or --scanners.
      --rate-limit [PPS]
                    make the target answer at most PPS SYNs per second
                    (default 1000, burst PPS/10) and drop the rest, like a
                    rate-limiting host or firewall; without this flag it
                    answers at any rate (tcp_syncookies=2)

  sink NAME [--queues Q] [--ipv6]
      Create namespaces NAME-scan and NAME-sink: a packet sink for
      benchmarks (--queues: Q transmit/receive queues per veth end, e.g.
      one per AF_XDP sender thread; default 1). NAME-scan routes $TARGET_NET via $GW_ADDR (permanent
      neighbour entry); NAME-sink counts and drops every frame arriving on
      veth1 (nftables netdev ingress). --ipv6: NAME-scan also has
      $SCAN_ADDR6/$LINK_PREFIX6 and routes $TARGET_NET6 via $GW_ADDR6 (permanent
      neighbour entry); ICMPv6 (the scan namespace's own neighbour discovery and
      MLD) is dropped without being counted.

  sink-count NAME [--bytes]
                      print the number of frames the sink has counted (--bytes:
                      "FRAMES BYTES", bytes from the IP header on, without the
                      14-byte Ethernet header)
  down NAME           tear down everything of NAME (idempotent)
  exec NAME scan|tgt|sink|dly CMD...
                      run CMD in one of the namespaces
  status NAME         print addresses, routes and nftables counters
  -h, --help          this text

Must run as root; needs ip (iproute2), nft (nftables) and, for 'up', python3.
EOF
}

die() {
    echo "$PROG: error: $*" >&2
    exit 1
}

need_root() {
    [[ $(id -u) -eq 0 ]] || die "must run as root (network namespaces and nftables need it)"
}

need_cmd() {
    local c
    for c in "$@"; do
        command -v "$c" >/dev/null 2>&1 || die "required command '$c' not found (install it: iproute2 for ip/tc, nftables for nft, python3)"
    done
}

check_name() {
    [[ ${1:-} =~ ^[A-Za-z0-9_][A-Za-z0-9_-]{0,31}$ ]] ||
        die "invalid testbed name '${1:-}' (1-32 characters of [A-Za-z0-9_-])"
}

ns_exists() {
    [[ -e /run/netns/$1 ]] || ip netns list 2>/dev/null | awk '{print $1}' | grep -qx -- "$1"
}

nsx() { # nsx NS CMD... : run CMD inside namespace NS
    local ns=$1
    shift
    ip netns exec "$ns" "$@"
}

# Validate one address or CIDR: must lie inside 198.18.0.0/16.
check_target_cidr() {
    local item=$1 addr len o1 o2 o3 o4
    if [[ $item =~ ^([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})(/([0-9]{1,2}))?$ ]]; then
        o1=${BASH_REMATCH[1]} o2=${BASH_REMATCH[2]} o3=${BASH_REMATCH[3]} o4=${BASH_REMATCH[4]}
        len=${BASH_REMATCH[6]:-32}
    else
        die "not an IPv4 address or CIDR: '$item'"
    fi
    for addr in "$o1" "$o2" "$o3" "$o4"; do
        ((10#$addr <= 255)) || die "bad octet in '$item'"
    done
    ((10#$len >= 16 && 10#$len <= 32)) && ((10#$o1 == 198 && 10#$o2 == 18)) ||
        die "'$item' is not inside $TARGET_NET (the testbed only targets that range)"
}

# Expand a FILE|CIDR,... argument to a comma-separated nft element list.
read_list() {
    local arg=$1 line item out=()
    local -a items=()
    if [[ -f $arg ]]; then
        while IFS= read -r line || [[ -n $line ]]; do
            line=${line%%#*}
            line=${line//[[:space:]]/}
            [[ -n $line ]] && items+=("$line")
        done <"$arg"
    elif [[ -n $arg ]]; then
        IFS=',' read -r -a items <<<"$arg"
    fi
    if ((IPV6)); then
        # One interpreter for the whole list: a list may hold thousands of items.
        printf '%s\n' "${items[@]+"${items[@]}"}" | check_target_cidrs6
        return
    fi
    for item in "${items[@]+"${items[@]}"}"; do
        item=${item//[[:space:]]/}
        [[ -z $item ]] && continue
        check_target_cidr "$item"
        out+=("$item")
    done
    local IFS=,
    echo "${out[*]+"${out[*]}"}"
}

# Read IPv6 addresses or CIDRs, one a line, on stdin; print them as a comma-separated
# nft element list, or fail naming the first one that is malformed or outside
# $TARGET_NET6.
check_target_cidrs6() {
    "$(python_bin)" -c '
import ipaddress, sys
net = ipaddress.ip_network(sys.argv[1])
out = []
for item in sys.stdin.read().split():
    try:
        n = ipaddress.ip_network(item, strict=False)
    except ValueError:
        sys.exit("not an IPv6 address or CIDR: %r" % item)
    if n.version != 6 or not n.subnet_of(net):
        sys.exit("%r is not inside %s (the testbed only targets that range)" % (item, net))
    out.append(str(n) if n.prefixlen < 128 else str(n.network_address))
print(",".join(out))
' "$TARGET_NET6" || die "bad --open/--silent/--unreach list"
}

# Create two namespaces joined by veth0 (in $1) <-> veth1 (in $2). With a
# third namespace $3, veth0 <-> a (in $3) and b (in $3) <-> veth1 instead,
# with no address in $3: the delay relay bridges a and b. $4: transmit and
# receive queues of veth0 and veth1 (default 1; AF_XDP binds one socket per queue).
make_pair() {
    local a=$1 b=$2 mid=${3:-} q=${4:-1} ns
    for ns in "$a" "$b" ${mid:+"$mid"}; do
        new_ns "$ns"
    done
    # Both ends are created directly inside the namespaces, never in the
    # root namespace.
    if [[ -z $mid ]]; then
        ip link add veth0 numtxqueues "$q" numrxqueues "$q" netns "$a" type veth \
            peer name veth1 numtxqueues "$q" numrxqueues "$q" netns "$b"
    else
        ip link add veth0 netns "$a" type veth peer name a netns "$mid"
        ip link add name b netns "$mid" type veth peer name veth1 netns "$b"
        # Promiscuous: the relay's sockets see every frame, whatever its
        # destination MAC (they would see OTHERHOST frames anyway).
        ip -n "$mid" link set dev a promisc on
        ip -n "$mid" link set dev b promisc on
        ip -n "$mid" link set dev a up
        ip -n "$mid" link set dev b up
    fi
    address_link "$a" veth0 "$b" veth1 "$SCAN_ADDR" "$GW_ADDR" "$SCAN_ADDR6" "$GW_ADDR6" via
}

# Starts creating testbed $1 (of the mode $2: up or sink): refuses if one of its
# namespaces exists already, and from here on a failure removes whatever was made.
begin_testbed() {
    local name=$1 p
    for p in "$name-scan" "$name-tgt" "$name-sink" "$name-dly"; do
        ns_exists "$p" && die "namespace '$p' already exists (run: $PROG down $name)"
    done
    CREATING=$name
    trap fail_cleanup EXIT
    mkdir -p "$STATE_ROOT/$name"
    echo "$2" >"$STATE_ROOT/$name/mode"
}

# A new namespace $1 with its loopback up and IPv6 set as ns_ipv6 says.
new_ns() {
    ip netns add "$1"
    ns_ipv6 "$1"
    ip -n "$1" link set lo up
}

# Addresses both ends of a link, brings them up and routes the target network from the
# scanner's end: $1 and $2 the scanner's namespace and device, $3 and $4 the gateway's,
# $5 and $6 their IPv4 addresses, $7 and $8 their IPv6 ones (with --ipv6), $9 'via'
# (through the gateway) or 'dev' (an IP-layer link: straight out of the device).
address_link() {
    local a=$1 da=$2 b=$3 db=$4 s4=$5 g4=$6 s6=$7 g6=$8 how=$9 via4=() via6=()
    if [[ $how == via ]]; then
        via4=(via "$g4")
        via6=(via "$g6")
    fi
    ip -n "$a" addr add "$s4/$LINK_PREFIX" dev "$da"
    ip -n "$b" addr add "$g4/$LINK_PREFIX" dev "$db"
    if ((IPV6)); then
        ip -n "$a" -6 addr add "$s6/$LINK_PREFIX6" dev "$da" nodad
        ip -n "$b" -6 addr add "$g6/$LINK_PREFIX6" dev "$db" nodad
    fi
    ip -n "$a" link set "$da" up
    ip -n "$b" link set "$db" up
    ip -n "$a" route add "$TARGET_NET" "${via4[@]}" dev "$da"
    if ((IPV6)); then
        ip -n "$a" -6 route add "$TARGET_NET6" "${via6[@]}" dev "$da"
    fi
}

# An IP-layer link between namespaces $1 (tun0) and $2 (tun1): the tun relay creates
# both devices (it holds them open: they live as long as it does), then they get the
# addresses and routes of the veth pair, with the target network routed 'dev tun0'.
make_tun_pair() {
    local a=$1 b=$2 py=$3 ns
    for ns in "$a" "$b"; do
        new_ns "$ns"
    done
    rm -f "$state/tunrelay.ready"
    ip netns exec "$a" "$py" "$TUNRELAY_PY" "$state/tunrelay.ready" "$state/tunrelay.stats" \
        "/run/netns/$a" "/run/netns/$b" </dev/null >"$state/tunrelay.log" 2>&1 &
    echo $! >"$state/tunrelay.pid"
    wait_ready tunrelay
    address_link "$a" tun0 "$b" tun1 "$SCAN_ADDR" "$GW_ADDR" "$SCAN_ADDR6" "$GW_ADDR6" dev
}

# IPv6 in a new namespace: off without --ipv6 (no DAD/MLD/RS chatter on the link, which
# would also pollute the sink's counters); with it on, addresses usable at once (no
# DAD, link-local ones included) and no router solicitations: nothing here is a router.
ns_ipv6() {
    local ns=$1
    if ((IPV6)); then
        nsx "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=0 net.ipv6.conf.default.disable_ipv6=0 \
            net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 \
            net.ipv6.conf.all.accept_ra=0 net.ipv6.conf.default.accept_ra=0 \
            net.ipv6.conf.all.router_solicitations=0 net.ipv6.conf.default.router_solicitations=0
    else
        nsx "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 2>/dev/null || true
    fi
}

# Scanner k's IPv6 link addresses (k = 1 to 4): 2001:2:0:ff::(4k-3) and ::(4k-2).
scan_addr6() { printf '2001:2:0:ff::%x' $((4 * $1 - 3)); }
gw_addr6() { printf '2001:2:0:ff::%x' $((4 * $1 - 2)); }

# Another scanner namespace NAME-scanK on its own link to the target namespace:
# veth0 198.19.(K-1).1/30 in NAME-scanK <-> vethK 198.19.(K-1).2/30 in NAME-tgt.
# The target answers it over the connected route (for shards run from several hosts).
add_scanner() {
    local name=$1 k=$2 ns=$1-scan$2 net=198.19.$(($2 - 1))
    new_ns "$ns"
    ip link add veth0 netns "$ns" type veth peer name "veth$k" netns "$name-tgt"
    address_link "$ns" veth0 "$name-tgt" "veth$k" "$net.1" "$net.2" \
        "$(scan_addr6 "$k")" "$(gw_addr6 "$k")" via
    keep_neighbours "$ns"
}

# Keep the gateway's neighbour entry (ARP, and NDP with --ipv6) reachable for an hour.
keep_neighbours() {
    nsx "$1" sysctl -qw net.ipv4.neigh.veth0.base_reachable_time_ms=3600000 \
        net.ipv4.neigh.veth0.gc_stale_time=3600
    if ((IPV6)); then
        nsx "$1" sysctl -qw net.ipv6.neigh.veth0.base_reachable_time_ms=3600000 \
            net.ipv6.neigh.veth0.gc_stale_time=3600
    fi
}

python_bin() {
    local py
    py=$(command -v python3)
    # Resolve wrappers such as pyenv shims to the real interpreter, so the
    # stored pid is the interpreter's and start-up is fast.
    "$py" -c 'import sys; print(sys.executable)' 2>/dev/null || echo "$py"
}

LISTENER_PY='
import os, resource, selectors, socket, sys
ready = sys.argv[1]
# One socket a port: thousands of ports need more descriptors than a soft limit of 1024.
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
if soft != resource.RLIM_INFINITY and soft < len(sys.argv) + 16:
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
family, any_addr = (socket.AF_INET6, "::") if sys.argv[2] == "6" else (socket.AF_INET, "0.0.0.0")
sel = selectors.DefaultSelector()
for p in sys.argv[3:]:
    s = socket.socket(family, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((any_addr, int(p)))
    s.listen(65535)
    s.setblocking(False)
    sel.register(s, selectors.EVENT_READ)
with open(ready + ".tmp", "w") as f:
    f.write(str(os.getpid()) + "\n")
os.rename(ready + ".tmp", ready)
while True:
    for key, _ in sel.select():
        try:
            while True:
                c, _ = key.fileobj.accept()
                c.close()
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            pass
'

# Send one UDP datagram to the gateway so the scan namespace resolves it
# (ARP, or NDP for an IPv6 GW_ADDR), then wait until the neighbour entry is REACHABLE.
warm_neighbour() {
    local scan=$1 py=$2 delay=${3:-0} GW_ADDR=${4:-$GW_ADDR} i af=AF_INET
    [[ $GW_ADDR == *:* ]] && af=AF_INET6
    # Every 0.5 s (or every delay + 0.5 s) a new datagram, for 2 s plus
    # three delays: the ARP reply may come back delayed.
    local every=$(((delay + 500) / 50)) tries=$(((3 * delay + 2000) / 50))
    for i in $(seq 1 "$tries"); do
        if ((i % every == 1)); then
            nsx "$scan" "$py" -c "import socket; socket.socket(socket.$af, socket.SOCK_DGRAM).sendto(b'warm', ('$GW_ADDR', 9))"
        fi
        if ip -n "$scan" neigh show "$GW_ADDR" dev veth0 | grep -q REACHABLE; then
            return 0
        fi
        sleep 0.05
    done
    die "scan namespace could not resolve the gateway $GW_ADDR (ARP/NDP)"
}

# wait_ready WHAT: wait until the background program WHAT (listener, relay)
# started by cmd_up has written $state/WHAT.ready.
wait_ready() {
    local what=$1 i
    for i in $(seq 1 100); do
        [[ -e $state/$what.ready ]] && return 0
        kill -0 "$(cat "$state/$what.pid")" 2>/dev/null ||
            die "$what exited: $(tr '\n' ' ' <"$state/$what.log")"
        sleep 0.05
    done
    die "$what did not start within 5 s"
}

CREATING=""
fail_cleanup() {
    local rc=$?
    if [[ $rc -ne 0 && -n $CREATING ]]; then
        echo "$PROG: setup of '$CREATING' failed; tearing it down" >&2
        do_down "$CREATING" >/dev/null 2>&1 || true
    fi
}

cmd_up() {
    local name=${1:-}
    check_name "$name"
    shift
    local open_arg="" silent_arg="" unreach_arg="" ports_arg="80" loss="" delay="" ratelimit="" scanners=1
    local tun=0 vlan=""
    while [[ $# -gt 0 ]]; do
        case $1 in
        --ipv6) IPV6=1; shift ;;
        --unreach) unreach_arg=${2?--unreach needs an argument}; shift 2 ;;
        --scanners) scanners=${2?--scanners needs an argument}; shift 2 ;;
        --open) open_arg=${2?--open needs an argument}; shift 2 ;;
        --silent) silent_arg=${2?--silent needs an argument}; shift 2 ;;
        --ports) ports_arg=${2?--ports needs an argument}; shift 2 ;;
        --loss) loss=${2?--loss needs an argument}; shift 2 ;;
        --delay) delay=${2?--delay needs an argument}; shift 2 ;;
        --tun) tun=1; shift ;;
        --vlan) vlan=${2?--vlan needs an argument}; shift 2 ;;
        --rate-limit)
            if [[ ${2:-} =~ ^[0-9]+$ ]]; then
                ratelimit=$2
                shift 2
            else
                ratelimit=1000
                shift
            fi
            ;;
        -h | --help) usage; exit 0 ;;
        *) die "up: unknown option '$1' (see -h)" ;;
        esac
    done
    need_root
    need_cmd ip nft python3

    local open silent unreach p
    open=$(read_list "$open_arg")
    silent=$(read_list "$silent_arg")
    unreach=$(read_list "$unreach_arg")
    local -a ports=()
    IFS=',' read -r -a ports <<<"$ports_arg"
    ((${#ports[@]} > 0)) || die "--ports: empty list"
    for p in "${ports[@]}"; do
        [[ $p =~ ^[0-9]{1,5}$ ]] && ((10#$p >= 1 && 10#$p <= 65535)) || die "--ports: bad port '$p'"
    done
    local loss_per10k=""
    if [[ -n $loss ]]; then
        [[ $loss =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "--loss: not a percentage: '$loss'"
        loss_per10k=$(awk -v l="$loss" 'BEGIN { v = int(l * 100 + 0.5); if (v > 10000) v = 10000; print v }')
    fi
    if [[ -n $delay ]]; then
        [[ $delay =~ ^[0-9]+$ ]] && ((10#$delay <= 60000)) ||
            die "--delay: not a whole number of ms in 0..60000: '$delay'"
        delay=$((10#$delay))
        [[ -r $RELAY_PY ]] || die "--delay: relay program $RELAY_PY missing"
    fi

    [[ $scanners =~ ^[1-4]$ ]] || die "--scanners: give 1 to 4, not '$scanners'"
    [[ $scanners == 1 || -z $delay ]] || die "--scanners and --delay do not go together"
    ((IPV6 == 0)) || [[ -z $delay ]] || die "--ipv6 and --delay do not go together (yet)"
    if ((tun)); then
        [[ -z $delay && -z $loss && -z $vlan && $scanners == 1 ]] ||
            die "--tun does not go with --delay, --loss, --vlan or --scanners"
        [[ -r $TUNRELAY_PY ]] || die "--tun: relay program $TUNRELAY_PY missing"
        [[ -c /dev/net/tun ]] || die "--tun: /dev/net/tun missing (no tun module?)"
    fi
    if [[ -n $vlan ]]; then
        [[ $vlan =~ ^[0-9]{1,4}$ ]] && ((10#$vlan >= 1 && 10#$vlan <= 4094)) ||
            die "--vlan: not a VLAN id in 1..4094: '$vlan'"
        vlan=$((10#$vlan))
        [[ -z $delay && $scanners == 1 ]] || die "--vlan does not go with --delay or --scanners"
        [[ -r $VLANRELAY_PY ]] || die "--vlan: relay program $VLANRELAY_PY missing"
    fi
    local scan=$name-scan tgt=$name-tgt dly="" state=$STATE_ROOT/$name
    [[ -n $delay || -n $vlan ]] && dly=$name-dly
    begin_testbed "$name" up

    local py
    py=$(python_bin)
    if ((tun)); then
        make_tun_pair "$scan" "$tgt" "$py"
    else
        make_pair "$scan" "$tgt" "$dly"
    fi
    local k
    for ((k = 2; k <= scanners; k++)); do
        add_scanner "$name" "$k"
    done

    # Scan side: keep the gateway's neighbour entry reachable for a long time.
    ((tun)) || keep_neighbours "$scan"
    if [[ -n $delay ]]; then
        # ARP answers come back delayed too: let neighbour probes wait for
        # them rather than declare the peer unreachable.
        local rt=$((2 * delay + 1000))
        nsx "$scan" sysctl -qw net.ipv4.neigh.veth0.retrans_time_ms=$rt
        nsx "$tgt" sysctl -qw net.ipv4.neigh.veth1.retrans_time_ms=$rt
    fi

    # Target side: own all of the target network, answer any SYN rate (the tcp
    # sysctls under ipv4 hold for IPv6 too).
    # fam: the nft address match of the family; net: its target network.
    local fam=ip net=$TARGET_NET addr_type=ipv4_addr unreach_how="icmp type host-unreachable"
    if ((IPV6)); then
        fam=ip6 net=$TARGET_NET6 addr_type=ipv6_addr unreach_how="icmpv6 type addr-unreachable"
        ip -n "$tgt" -6 route add local "$TARGET_NET6" dev lo
    else
        ip -n "$tgt" route add local "$TARGET_NET" dev lo
    fi
    nsx "$tgt" sysctl -qw net.ipv4.tcp_syncookies=2 net.core.somaxconn=65535 \
        net.ipv4.tcp_max_syn_backlog=65535
    if [[ -n $unreach ]]; then
        # Without this the kernel sends a handful of unreachables and drops the rest.
        # The global limit (icmp_msgs_*) covers ICMPv6 too.
        nsx "$tgt" sysctl -qw net.ipv4.icmp_ratelimit=0 net.ipv4.icmp_msgs_per_sec=1000000 \
            net.ipv4.icmp_msgs_burst=1000000
        if ((IPV6)); then
            nsx "$tgt" sysctl -qw net.ipv6.icmp.ratelimit=0
        fi
    fi

    [[ -z $ratelimit ]] || ((ratelimit > 0)) || die "--rate-limit: PPS must be > 0"
    local rl_rule=""
    local burst=$((${ratelimit:-0} / 10))
    ((burst >= 1)) || burst=1
    ((burst <= 1000)) || burst=1000
    [[ -n $ratelimit ]] && rl_rule="$fam daddr $net tcp flags & (syn | ack) == syn limit rate over $ratelimit/second burst $burst packets counter drop comment \"rate-limited\""
    local open_el="" silent_el="" unreach_el=""
    [[ -n $open ]] && open_el="elements = { $open }"
    [[ -n $silent ]] && silent_el="elements = { $silent }"
    [[ -n $unreach ]] && unreach_el="elements = { $unreach }"
    local ports_csv
    ports_csv=$(IFS=,; echo "${ports[*]}")
    nsx "$tgt" nft -f - <<EOF
table inet testbed {
    set open {
        type $addr_type
        flags interval
        auto-merge
        $open_el
    }
    set silent {
        type $addr_type
        flags interval
        auto-merge
        $silent_el
    }
    set unreach {
        type $addr_type
        flags interval
        auto-merge
        $unreach_el
    }
    set ports {
        type inet_service
        elements = { $ports_csv }
    }
    chain input {
        type filter hook input priority filter; policy accept;
        $fam daddr $net tcp flags & (syn | ack) == syn counter comment "syn-in"
        $fam daddr @silent counter drop comment "silent"
        $fam daddr @unreach meta l4proto tcp counter reject with $unreach_how comment "unreach"
        $rl_rule
        $fam daddr $net tcp dport @ports $fam daddr != @open counter reject with tcp reset comment "closed"
        $fam daddr $net tcp dport @ports $fam daddr @open counter accept comment "open"
    }
}
EOF
    if [[ -n $loss_per10k ]]; then
        local pick="numgen random mod 10000 < $loss_per10k"
        ((loss_per10k < 10000)) || pick=""
        ((loss_per10k > 0)) || pick="numgen random mod 10000 > 9999" # never
        # The dropped SYN-ACKs are recorded by (address, port): once in lost1, a second
        # time in lost2. With -P 2, lost2 holds exactly what no scanner can find.
        local key="$fam saddr . tcp sport" l4="ip protocol"
        if ((IPV6)); then l4="ip6 nexthdr"; fi
        nsx "$tgt" nft -f - <<EOF
table netdev testbed_loss {
    set lost1 { type $addr_type . inet_service; flags dynamic; size 262144; }
    set lost2 { type $addr_type . inet_service; flags dynamic; size 262144; }
    chain egress {
        type filter hook egress device "veth1" priority filter; policy accept;
        meta protocol $fam $l4 tcp $pick goto lose
    }
    chain lose {
        tcp flags & (syn | ack) == syn | ack $key @lost1 add @lost2 { $key }
        tcp flags & (syn | ack) == syn | ack add @lost1 { $key }
        counter drop comment "loss"
    }
}
EOF
    fi
    if [[ -n $vlan ]]; then
        # The VLAN relay: pops tag $vlan toward the target, pushes it toward the scanner.
        rm -f "$state/vlanrelay.ready"
        ip netns exec "$dly" "$py" "$VLANRELAY_PY" "$state/vlanrelay.ready" \
            "$state/vlanrelay.stats" a b "$vlan" </dev/null >"$state/vlanrelay.log" 2>&1 &
        echo $! >"$state/vlanrelay.pid"
        wait_ready vlanrelay
        echo "$vlan" >"$state/vlan"
    fi
    if [[ -n $delay ]]; then
        # The delay relay: a -> b at once, b -> a after $delay ms.
        rm -f "$state/relay.ready"
        ip netns exec "$dly" "$py" "$RELAY_PY" "$state/relay.ready" "$state/relay.stats" \
            a b "$delay" </dev/null >"$state/relay.log" 2>&1 &
        echo $! >"$state/relay.pid"
        wait_ready relay
        echo "$delay" >"$state/delay"
    fi

    # Listener: accept-and-close loop on 0.0.0.0:PORT for every port.
    rm -f "$state/listener.ready"
    ip netns exec "$tgt" "$py" -c "$LISTENER_PY" "$state/listener.ready" "$( ((IPV6)) && echo 6 || echo 4)" "${ports[@]}" \
        </dev/null >"$state/listener.log" 2>&1 &
    echo $! >"$state/listener.pid"
    wait_ready listener
    echo "$ports_csv" >"$state/ports"

    ((tun)) || warm_neighbour "$scan" "$py" "${delay:-0}"
    for ((k = 2; k <= scanners; k++)); do
        warm_neighbour "$name-scan$k" "$py" 0 "198.19.$((k - 1)).2"
    done
    if ((IPV6)); then
        echo 6 >"$state/family"
        for ((k = 1; k <= scanners; k++)); do
            p=$name-scan$k
            ((k > 1)) || p=$scan
            ((tun)) || warm_neighbour "$p" "$py" 0 "$(gw_addr6 "$k")"
        done
    fi

    CREATING=""
    trap - EXIT
    local via=""
    ((tun)) && via=", over tun0 <-> tun1 (IP-layer link)"
    [[ -n $vlan ]] && via=", over VLAN $vlan via $dly"
    if ((IPV6)); then
        echo "testbed $name up: $scan ($SCAN_ADDR6) -> $tgt ($GW_ADDR6, owns $TARGET_NET6), ports $ports_csv$via"
    else
        echo "testbed $name up: $scan ($SCAN_ADDR) -> $tgt ($GW_ADDR), ports $ports_csv${delay:+, replies delayed ${delay} ms via $dly}$via"
    fi
}

cmd_sink() {
    local name=${1:-} queues=1
    check_name "$name"
    shift
    while [[ $# -gt 0 ]]; do
        case $1 in
        --queues) queues=${2?--queues needs an argument}; shift 2 ;;
        --ipv6) IPV6=1; shift ;;
        *) die "sink: unknown option '$1' (see -h)" ;;
        esac
    done
    [[ $queues =~ ^[0-9]{1,3}$ ]] && ((queues >= 1 && queues <= 64)) || die "--queues: 1 to 64"
    need_root
    need_cmd ip nft
    local scan=$name-scan sink=$name-sink state=$STATE_ROOT/$name p
    begin_testbed "$name" sink

    make_pair "$scan" "$sink" "" "$queues"
    local mac
    mac=$(ip -n "$sink" -o link show veth1 | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p')
    [[ -n $mac ]] || die "could not read the MAC address of veth1 in $sink"
    ip -n "$scan" neigh replace "$GW_ADDR" lladdr "$mac" dev veth0 nud permanent
    if ((IPV6)); then
        ip -n "$scan" -6 neigh replace "$GW_ADDR6" lladdr "$mac" dev veth0 nud permanent
        echo 6 >"$state/family"
    fi

    # ICMPv6 (neighbour discovery, MLD of the scan namespace's own stack) is not a probe.
    nsx "$sink" nft -f - <<EOF
table netdev sink {
    counter frames {
    }
    chain ingress {
        type filter hook ingress device "veth1" priority filter; policy drop;
        meta protocol ip6 meta l4proto ipv6-icmp drop
        counter name "frames" drop
    }
}
EOF
    # Frames must arrive one by one; veth does no GRO unless asked to, but
    # turn the offloads off where ethtool is available.
    if command -v ethtool >/dev/null 2>&1; then
        nsx "$scan" ethtool -K veth0 gro off gso off tso off >/dev/null 2>&1 || true
        nsx "$sink" ethtool -K veth1 gro off gso off tso off >/dev/null 2>&1 || true
    fi
    CREATING=""
    trap - EXIT
    echo "sink $name up: $scan ($SCAN_ADDR$( ((IPV6)) && echo ", $SCAN_ADDR6")) -> $sink (counts and drops everything)"
}

cmd_sink_count() {
    local name=${1:-} bytes=${2:-}
    check_name "$name"
    [[ -z $bytes || $bytes == --bytes ]] || die "sink-count: unknown option '$bytes'"
    need_root
    need_cmd ip nft
    ns_exists "$name-sink" || die "no sink named '$name' (namespace $name-sink missing)"
    local n
    n=$(nsx "$name-sink" nft list counter netdev sink frames |
        sed -n 's/.*packets \([0-9]*\) bytes \([0-9]*\).*/\1 \2/p' | head -n1)
    [[ -n $n ]] || die "could not read the sink counter of '$name'"
    if [[ -n $bytes ]]; then echo "$n"; else echo "${n% *}"; fi
}

kill_ns_procs() {
    local ns=$1 pids i
    pids=$(ip netns pids "$ns" 2>/dev/null || true)
    [[ -z $pids ]] && return 0
    # shellcheck disable=SC2086
    kill -TERM $pids 2>/dev/null || true
    for i in $(seq 1 20); do
        pids=$(ip netns pids "$ns" 2>/dev/null || true)
        [[ -z $pids ]] && return 0
        sleep 0.05
    done
    # shellcheck disable=SC2086
    kill -KILL $pids 2>/dev/null || true
}

do_down() {
    local name=$1 state=$STATE_ROOT/$1 ns pid what
    for what in listener:tgt relay:dly vlanrelay:dly tunrelay:tgt; do
        [[ -f $state/${what%%:*}.pid ]] || continue
        pid=$(cat "$state/${what%%:*}.pid" 2>/dev/null || true)
        # Only if that pid still is ours (inside our namespace).
        if [[ -n $pid ]] && [[ $(ip netns identify "$pid" 2>/dev/null || true) == "$name-${what##*:}" ]]; then
            kill -TERM "$pid" 2>/dev/null || true
        fi
    done
    for ns in "$name-scan" "$name-scan2" "$name-scan3" "$name-scan4" "$name-tgt" "$name-sink" "$name-dly"; do
        if ns_exists "$ns"; then
            # Processes started inside the testbed's own namespaces
            # (listener, captures, scanners) are ended by pid.
            kill_ns_procs "$ns"
            ip netns del "$ns" 2>/dev/null || true
        fi
    done
    rm -rf "$state"
    local left=""
    for ns in "$name-scan" "$name-scan2" "$name-scan3" "$name-scan4" "$name-tgt" "$name-sink" "$name-dly"; do
        if ns_exists "$ns"; then
            sleep 0.2
            kill_ns_procs "$ns"
            ip netns del "$ns" || left+=" $ns"
        fi
    done
    [[ -z $left ]] || die "down $name: could not delete namespace(s)$left"
}

cmd_down() {
    local name=${1:-}
    check_name "$name"
    need_root
    need_cmd ip
    do_down "$name"
}

cmd_exec() {
    local name=${1:-} role=${2:-}
    check_name "$name"
    [[ $# -ge 3 ]] || die "usage: $PROG exec NAME scan|tgt|sink|dly CMD..."
    case $role in
    scan | scan2 | scan3 | scan4 | tgt | sink | dly) ;;
    *) die "exec: role must be scan, scan2..scan4, tgt, sink or dly, not '$role'" ;;
    esac
    shift 2
    need_root
    need_cmd ip
    ns_exists "$name-$role" || die "namespace '$name-$role' does not exist"
    exec ip netns exec "$name-$role" "$@"
}

# "WHAT: pid N" and $3 (what else to say about it), or "WHAT: pid N NOT RUNNING", for
# the process whose pid is in $1/WHAT.pid (WHAT is $2).
show_process() {
    local pid
    pid=$(cat "$1/$2.pid")
    if kill -0 "$pid" 2>/dev/null; then
        echo "$2: pid $pid$3"
    else
        echo "$2: pid $pid NOT RUNNING"
    fi
}

cmd_status() {
    local name=${1:-} ns
    check_name "$name"
    need_root
    need_cmd ip nft
    local state=$STATE_ROOT/$name found=0
    echo "testbed $name (mode: $(cat "$state/mode" 2>/dev/null || echo unknown))"
    if [[ -f $state/listener.pid ]]; then
        show_process "$state" listener ", ports $(cat "$state/ports" 2>/dev/null || echo '?')"
    fi
    local what about
    for what in relay vlanrelay tunrelay; do
        [[ -f $state/$what.pid ]] || continue
        about=""
        if [[ $what == relay ]]; then
            about=", delay $(cat "$state/delay" 2>/dev/null || echo '?') ms"
        fi
        show_process "$state" "$what" "$about"
        [[ -f $state/$what.stats ]] && sed 's/^/  /' "$state/$what.stats"
    done
    for ns in "$name-scan" "$name-scan2" "$name-scan3" "$name-scan4" "$name-tgt" "$name-sink" "$name-dly"; do
        ns_exists "$ns" || continue
        found=1
        echo "== $ns"
        ip -n "$ns" -br addr show
        ip -n "$ns" route show
        ip -n "$ns" route show table local | grep -F "${TARGET_NET%/*}" || true
        if [[ -f $state/family ]]; then
            ip -n "$ns" -6 route show
            ip -n "$ns" -6 route show table local | grep -F "${TARGET_NET6%%::*}::" || true
        fi
        ip -n "$ns" neigh show
        nsx "$ns" nft list ruleset
    done
    ((found)) || die "testbed '$name' does not exist"
}

main() {
    local cmd=${1:-}
    [[ $# -gt 0 ]] && shift
    case $cmd in
    up) cmd_up "$@" ;;
    sink) cmd_sink "$@" ;;
    sink-count) cmd_sink_count "$@" ;;
    down) cmd_down "$@" ;;
    exec) cmd_exec "$@" ;;
    status) cmd_status "$@" ;;
    -h | --help | help) usage ;;
    "") usage >&2; exit 2 ;;
    *) echo "$PROG: unknown command '$cmd'" >&2; usage >&2; exit 2 ;;
    esac
}

main "$@"
