"""What the testbed's relays (testbed-relay.py, testbed-tunrelay.py,
testbed-vlanrelay.py) share: how they stop, say they are ready, size their
sockets' buffers and publish their counters. Imported from the relay's own
directory."""
import os
import signal
import socket
import time

SO_RCVBUFFORCE = 33
SO_SNDBUFFORCE = 32


def exit_on_term():
    """SIGTERM and SIGINT end the relay through SystemExit, so that `finally`
    blocks (the last counters) still run."""

    def on_term(_sig, _frm):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)


def write_atomic(path, text):
    """Replaces `path` with `text` in one rename: a reader never sees half a file."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


def write_counts(path, counts):
    """The counters as key=value lines."""
    write_atomic(path, "".join("%s=%d\n" % (k, v) for k, v in counts.items()))


def announce_ready(path):
    """Writes this process's pid to `path`: the caller waits for it."""
    write_atomic(path, str(os.getpid()) + "\n")


def force_buffers(sock, size):
    """Receive and send buffers of `size` bytes: past net.core.rmem_max and
    wmem_max where the relay may (root), else as large as those allow."""
    for opt, fallback in ((SO_RCVBUFFORCE, socket.SO_RCVBUF), (SO_SNDBUFFORCE, socket.SO_SNDBUF)):
        try:
            sock.setsockopt(socket.SOL_SOCKET, opt, size)
        except OSError:
            sock.setsockopt(socket.SOL_SOCKET, fallback, size)


class Stats:
    """Publishes a relay's counters through `write` (a function that writes
    them): at once, then about once a second from the relay's loop (`tick`),
    and a last time at exit (`final`)."""

    def __init__(self, write):
        self.write = write
        write()
        self.due = time.monotonic() + 1.0

    def tick(self, now=None):
        """Writes the counters if a second has passed since the last time."""
        now = time.monotonic() if now is None else now
        if now >= self.due:
            self.write()
            self.due = now + 1.0

    def final(self):
        try:
            self.write()
        except OSError:
            pass  # the state directory may be gone already
