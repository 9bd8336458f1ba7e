//! Operating-system interface: the one module of the crate that uses `libc` and `unsafe`.
//!
//! Everything the rest of synsurvey needs from the Linux kernel goes through here, behind
//! safe functions that return [`std::io::Result`]:
//!
//! * [`tx`]: [`PacketTx`], a send-only `AF_PACKET` raw socket, and [`TxBatch`], preallocated
//!   frames that go out with one `sendmmsg(2)` call per batch.
//! * [`rx`]: [`PacketRx`], an `AF_PACKET` socket that only ever queues frames accepted by a
//!   classic BPF filter, and [`RxBatch`] for `recvmmsg(2)`.
//! * [`bpf`]: [`reply_filter`], the classic BPF program that keeps only SYN-ACK and RST
//!   replies to the scanner's address and source-port range.
//! * [`route`]: route, interface and neighbour discovery over rtnetlink (no shelling out).
//! * [`privs`]: reading and dropping capabilities.
//! * [`netns`]: moving the calling thread into a named network namespace.
//! * [`inotify`]: being told when a file changes (the opt-out lists).
//!
//! Conventions (after socket2): the [`syscall!`] macro turns a `-1` return into
//! [`std::io::Error::last_os_error`], every `unsafe` block carries a `// SAFETY:` comment, and
//! nothing here panics on input that comes from the user or the network.
//!
//! The kernel-facing tests of this module are in `tests/net.rs`: like every test that sends
//! packets, they run in namespace testbeds of `scripts/testbed.sh` (through `tests/common`)
//! and send only to addresses of hosts inside them, within 198.18.0.0/15; nothing is sent
//! from the namespace the test process started in.

/// Calls a `libc` function and turns a `-1` return into `Err(io::Error::last_os_error())`.
///
/// `syscall!(socket(a, b, c))` expands to `libc::socket(a, b, c)` inside `unsafe`; the caller
/// must still justify the call with a `// SAFETY:` comment on the macro use.
macro_rules! syscall {
    ($fn:ident ( $($arg:expr),* $(,)? )) => {{
        #[allow(unused_unsafe)]
        let res = unsafe { libc::$fn($($arg),*) };
        if res == -1 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(res)
        }
    }};
}

/// `AsFd` and `AsRawFd` for a socket type that owns its descriptor in a field `fd`.
macro_rules! fd_owner {
    ($t:ty) => {
        impl std::os::fd::AsFd for $t {
            fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
                self.fd.as_fd()
            }
        }

        impl std::os::fd::AsRawFd for $t {
            fn as_raw_fd(&self) -> std::os::fd::RawFd {
                self.fd.as_raw_fd()
            }
        }
    };
}

pub(crate) mod bpf;
pub(crate) mod inotify;
pub(crate) mod netns;
pub mod privs;
pub(crate) mod route;
pub(crate) mod rx;
mod sockopt;
pub(crate) mod tx;
pub(crate) mod xdp;

pub use bpf::{for_link, reply_filter, reply_filter6, Framing};
pub use netns::enter_netns;
pub use privs::{capabilities, drop_capabilities, has_net_raw, Caps};
pub use route::{
    interface, is_local, neighbour_mac, resolve_neighbour, route_to, Interface, Route,
};
pub use rx::{PacketRx, RxBatch, RxStats};
pub use tx::{PacketTx, TxBatch};

/// Re-exported so callers can hold a filter program without naming `libc` themselves.
pub use libc::sock_filter;

/// The error for a socket that could not be opened, with the remedy when it is privileges.
pub fn open_error(what: &str, e: std::io::Error) -> anyhow::Error {
    if e.kind() == std::io::ErrorKind::PermissionDenied {
        anyhow::anyhow!(
            "cannot open the {what}: {e}; raw sockets need CAP_NET_RAW: run as root, or grant the binary \
             `setcap cap_net_raw,cap_net_admin=ep` (see docs/privileges.md)"
        )
    } else {
        anyhow::anyhow!("cannot open the {what}: {e}")
    }
}
