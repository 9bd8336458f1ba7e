#!/usr/bin/env python3
"""802.1Q VLAN for the synsurvey testbed: a relay that pops and pushes one tag.

Usage: testbed-vlanrelay.py READY_FILE STATS_FILE IFACE_SCAN IFACE_TGT VID

Runs inside the testbed's NAME-dly namespace, between the scanner's veth (peer
IFACE_SCAN) and the target's veth (peer IFACE_TGT), as a switch port that
carries VLAN VID tagged toward the scanner and untagged toward the target:

  scanner -> target: a frame tagged VID goes on with the tag removed; a frame
      with another tag, or an untagged one, is dropped and counted. Untagged
      ARP and IPv6 neighbour discovery pass (the scanner's kernel resolves its
      gateway untagged, as on a trunk's native VLAN).
  target -> scanner: every frame gets the tag VID, ARP and neighbour discovery
      aside (they stay untagged).

The kernel takes a received tag out of the frame before a packet socket sees it
(skb_vlan_untag) and reports it in PACKET_AUXDATA: that is where the tag is read.
Offloads stay transparent as in testbed-relay.py (PACKET_VNET_HDR); a pushed tag
moves the checksum start 4 bytes on.

Writes its pid to READY_FILE once both sockets are bound, and counters to
STATS_FILE (about once a second, and at exit) as key=value lines.
"""
import select
import socket
import struct
import sys

import relaylib

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_AUXDATA = 8
PACKET_VNET_HDR = 15
PACKET_IGNORE_OUTGOING = 23
TP_STATUS_VLAN_VALID = 0x10
VNET_HDR_LEN = 10
VIRTIO_NET_HDR_F_NEEDS_CSUM = 1
BUF = 1 << 18
SOCK_BUF = 32 << 20
CMSG_SPACE = socket.CMSG_SPACE(20)


def open_sock(iface):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.setsockopt(SOL_PACKET, PACKET_VNET_HDR, 1)
    s.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
    s.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
    relaylib.force_buffers(s, SOCK_BUF)
    s.bind((iface, ETH_P_ALL))
    s.setblocking(False)
    return s


def received_tci(anc):
    """The VLAN TCI the kernel reported for a frame, or None if untagged."""
    for level, kind, data in anc:
        if level == SOL_PACKET and kind == PACKET_AUXDATA and len(data) >= 20:
            status, _l, _s, _m, _n, tci, _tpid = struct.unpack("IIIHHHH", data[:20])
            if status & TP_STATUS_VLAN_VALID:
                return tci
    return None


def is_neighbour_control(frame):
    """ARP, or an ICMPv6 router/neighbour solicitation, advertisement or redirect."""
    if len(frame) < 14:
        return False
    ethertype = frame[12] << 8 | frame[13]
    if ethertype == 0x0806:
        return True
    return ethertype == 0x86DD and len(frame) > 54 and frame[20] == 58 and 133 <= frame[54] <= 137


def push_tag(vnet, frame, vid):
    """vnet header and frame with an 802.1Q tag VID after the MAC addresses."""
    flags, gso_type, hdr_len, gso_size, csum_start, csum_off = struct.unpack("=BBHHHH", vnet)
    if flags & VIRTIO_NET_HDR_F_NEEDS_CSUM:
        csum_start += 4
    if gso_type:
        hdr_len += 4
    vnet = struct.pack("=BBHHHH", flags, gso_type, hdr_len, gso_size, csum_start, csum_off)
    return vnet + frame[:12] + struct.pack("!HH", 0x8100, vid) + frame[12:]


def main():
    ready, stats_path, if_scan, if_tgt, vid = sys.argv[1:6]
    vid = int(vid)
    scan = open_sock(if_scan)
    tgt = open_sock(if_tgt)
    c = {
        "tagged_in": 0,  # scanner -> target, tag VID popped
        "wrong_tag": 0,  # scanner -> target, another tag: dropped
        "untagged_dropped": 0,  # scanner -> target, untagged and not ARP/ND: dropped
        "untagged_control": 0,  # ARP/ND passed untagged, either way
        "tagged_out": 0,  # target -> scanner, tag VID pushed
        "send_errors": 0,
    }

    relaylib.exit_on_term()
    stats = relaylib.Stats(lambda: relaylib.write_counts(stats_path, c))
    relaylib.announce_ready(ready)

    def send(sock, data):
        try:
            sock.send(data)
        except OSError:
            c["send_errors"] += 1

    poller = select.poll()
    poller.register(scan.fileno(), select.POLLIN)
    poller.register(tgt.fileno(), select.POLLIN)
    try:
        while True:
            for fd, _ev in poller.poll(1000):
                src = scan if fd == scan.fileno() else tgt
                for _ in range(256):
                    try:
                        data, anc, _flags, _addr = src.recvmsg(BUF, CMSG_SPACE)
                    except BlockingIOError:
                        break
                    vnet, frame = data[:VNET_HDR_LEN], data[VNET_HDR_LEN:]
                    tci = received_tci(anc)
                    if src is scan:
                        if tci is None:
                            if is_neighbour_control(frame):
                                c["untagged_control"] += 1
                                send(tgt, data)
                            else:
                                c["untagged_dropped"] += 1
                        elif tci & 0x0FFF == vid:
                            c["tagged_in"] += 1
                            send(tgt, data)  # the kernel already took the tag out
                        else:
                            c["wrong_tag"] += 1
                    elif is_neighbour_control(frame):
                        c["untagged_control"] += 1
                        send(scan, data)
                    else:
                        c["tagged_out"] += 1
                        send(scan, push_tag(vnet, frame, vid))
            stats.tick()
    finally:
        stats.final()


if __name__ == "__main__":
    main()
