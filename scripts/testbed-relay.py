#!/usr/bin/env python3
"""Transparent delaying L2 relay for the synsurvey testbed.

Usage: testbed-relay.py READY_FILE STATS_FILE IFACE_A IFACE_B DELAY_MS

Runs inside the testbed's NAME-dly namespace, between the scanner's veth
(peer IFACE_A) and the target's veth (peer IFACE_B). Every frame arriving on
IFACE_A is sent out of IFACE_B at once; every frame arriving on IFACE_B is sent
out of IFACE_A DELAY_MS milliseconds later. Order is kept in both directions.
The frames are the real kernels' frames, byte for byte: the relay never looks
inside them.

Offloads stay transparent: the sockets use PACKET_VNET_HDR, so each frame
carries its virtio-net header (partial checksum, GSO) from the receiving
socket to the sending one, exactly as it would cross a plain veth pair.

Writes its pid to READY_FILE once both sockets are bound, and counters to
STATS_FILE (rewritten about once a second, and at exit) as key=value lines.
"""
import collections
import select
import socket
import sys
import time

import relaylib

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_STATISTICS = 6
PACKET_VNET_HDR = 15
PACKET_IGNORE_OUTGOING = 23
PACKET_OUTGOING = 4
VNET_HDR_LEN = 10
BUF = 1 << 18  # GSO/GRO frames may be up to 64 KiB (more with BIG TCP)
SOCK_BUF = 32 << 20
BATCH = range(256)  # frames taken from one socket before looking at the clock


def open_sock(iface):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.setsockopt(SOL_PACKET, PACKET_VNET_HDR, 1)
    relaylib.force_buffers(s, SOCK_BUF)
    try:
        # Do not hand the relay the frames it sends itself (no loops).
        s.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
        filtered = True
    except OSError:
        filtered = False
    s.bind((iface, ETH_P_ALL))
    s.setblocking(False)
    return s, filtered


def batch(recv, mv, filtered):
    """Reads up to BATCH frames with `recv` into `mv`, yielding each one's length
    while it is in `mv`. Frames the relay sent itself are skipped, where the
    socket could not be told to leave them out (`filtered` false)."""
    for _ in BATCH:
        try:
            r = recv(mv)
        except BlockingIOError:
            return
        if filtered:
            yield r
        elif r[1][2] != PACKET_OUTGOING:
            yield r[0]


def main():
    ready, stats_path, if_a, if_b, delay_ms = sys.argv[1:6]
    delay = int(delay_ms) / 1000.0
    sa, fa = open_sock(if_a)
    sb, fb = open_sock(if_b)
    fa_ = sa.fileno()
    fb_ = sb.fileno()
    buf = bytearray(BUF)
    mv = memoryview(buf)
    # b -> a: (due, [frames]) batches, due ascending; one batch per drain of
    # the socket (the frames of a batch arrived together).
    queue = collections.deque()
    queued = 0
    n_ab = n_ba = 0
    err_ab = err_ba = 0
    max_q = 0
    max_len = 0
    late_max = 0.0  # worst lateness of a delayed frame, seconds
    drops_a = drops_b = 0

    relaylib.exit_on_term()

    def write_stats():
        nonlocal drops_a, drops_b
        for s, which in ((sa, "a"), (sb, "b")):
            # PACKET_STATISTICS resets on read: accumulate.
            raw = s.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8)
            drops = int.from_bytes(raw[4:8], sys.byteorder)
            if which == "a":
                drops_a += drops
            else:
                drops_b += drops
        text = (
            f"frames_a_to_b={n_ab}\nframes_b_to_a={n_ba}\n"
            f"socket_drops_a={drops_a}\nsocket_drops_b={drops_b}\n"
            f"send_errors_a_to_b={err_ab}\nsend_errors_b_to_a={err_ba}\n"
            f"queued={queued}\nmax_queued={max_q}\nmax_frame={max_len}\n"
            f"max_late_us={int(late_max * 1e6)}\ndelay_ms={delay_ms}\n"
        )
        relaylib.write_atomic(stats_path, text)

    stats = relaylib.Stats(write_stats)
    relaylib.announce_ready(ready)

    poller = select.poll()
    poller.register(fa_, select.POLLIN)
    poller.register(fb_, select.POLLIN)
    mono = time.monotonic
    recv_a = sa.recvfrom_into if not fa else sa.recv_into
    recv_b = sb.recvfrom_into if not fb else sb.recv_into
    send_a = sa.send
    send_b = sb.send
    append = queue.append
    popleft = queue.popleft

    try:
        while True:
            now = mono()
            # Release every frame that is due, oldest first.
            while queue and queue[0][0] <= now:
                due, frames = popleft()
                if now - due > late_max:
                    late_max = now - due
                queued -= len(frames)
                for frame in frames:
                    try:
                        send_a(frame)
                    except OSError:
                        err_ba += 1
            stats.tick(now)
            if queue:
                timeout = max(0, int((queue[0][0] - now) * 1000) + 1)
                timeout = min(timeout, 1000)
            else:
                timeout = 1000
            try:
                events = poller.poll(timeout)
            except InterruptedError:
                continue
            for fd, _ev in events:
                if fd == fa_:
                    # a -> b: forward at once (a bounded batch, so that due
                    # frames are never held up by a busy inbound direction).
                    for n in batch(recv_a, mv, fa):
                        if n > max_len:
                            max_len = n
                        try:
                            send_b(mv[:n])
                        except OSError:
                            err_ab += 1
                        n_ab += 1
                else:
                    # b -> a: stamp with the time of arrival, send later.
                    t = mono() + delay
                    frames = []
                    keep = frames.append
                    for n in batch(recv_b, mv, fb):
                        if n > max_len:
                            max_len = n
                        keep(bytes(mv[:n]))
                    if frames:
                        append((t, frames))
                        n_ba += len(frames)
                        queued += len(frames)
                        if queued > max_q:
                            max_q = queued
    finally:
        stats.final()


if __name__ == "__main__":
    main()
