#!/usr/bin/env python3
"""IP-layer link for the synsurvey testbed: two tun devices joined by this relay.

Usage: testbed-tunrelay.py READY_FILE STATS_FILE SCAN_NETNS TGT_NETNS

Creates tun0 in the network namespace SCAN_NETNS and tun1 in TGT_NETNS (paths
such as /run/netns/NAME-scan), both without packet information (IFF_NO_PI), so
that each read or write is one bare IP packet, as on a WireGuard or PPP link.
Every packet the scanner's kernel sends out of tun0 is written into tun1, and
the other way round, unchanged. The devices are not persistent: they go away
with the relay.

Writes its pid to READY_FILE once both devices exist (the caller then gives
them addresses and routes), and counters to STATS_FILE (about once a second,
and at exit) as key=value lines.
"""
import ctypes
import fcntl
import os
import select
import struct
import sys

import relaylib

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
CLONE_NEWNET = 0x40000000
BUF = 1 << 16


def enter_netns(path):
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(path, os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, "setns(%s): %s" % (path, os.strerror(err)))
    finally:
        os.close(fd)


def open_tun(name):
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    return fd


def main():
    ready, stats_path, scan_ns, tgt_ns = sys.argv[1:5]
    # The device is created in the namespace of the thread that opens it.
    enter_netns(scan_ns)
    scan = open_tun("tun0")
    enter_netns(tgt_ns)
    tgt = open_tun("tun1")
    counts = {"packets_scan_to_tgt": 0, "packets_tgt_to_scan": 0, "write_errors": 0}

    relaylib.exit_on_term()
    stats = relaylib.Stats(lambda: relaylib.write_counts(stats_path, counts))
    relaylib.announce_ready(ready)

    other = {scan: (tgt, "packets_scan_to_tgt"), tgt: (scan, "packets_tgt_to_scan")}
    poller = select.poll()
    poller.register(scan, select.POLLIN)
    poller.register(tgt, select.POLLIN)
    try:
        while True:
            for fd, _ev in poller.poll(1000):
                to, key = other[fd]
                for _ in range(256):
                    try:
                        pkt = os.read(fd, BUF)
                    except BlockingIOError:
                        break
                    try:
                        os.write(to, pkt)
                        counts[key] += 1
                    except OSError:
                        counts["write_errors"] += 1
            stats.tick()
    finally:
        stats.final()


if __name__ == "__main__":
    main()
