"""What the testbed's relays (testbed-relay.py, testbed-tunrelay.py,
testbed-vlanrelay.py) share: how they stop, say they are ready, and publish
their counters. Imported from the relay's own directory."""
import os
import signal


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
