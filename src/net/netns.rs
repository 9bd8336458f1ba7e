//! Network-namespace entry for the calling thread.
//!
//! Network namespaces are per thread on Linux: [`enter_netns`] moves only the calling thread,
//! and sockets it creates afterwards (packet, netlink, ...) belong to that namespace for their
//! whole life, even if used from other threads later. Used by the kernel-facing tests, which
//! run each in the namespaces of its own testbed (`ip netns add` creates `/run/netns/NAME`).

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// Directory where `ip netns` keeps its namespace handles.
pub const NETNS_RUN_DIR: &str = "/run/netns";

/// Moves the calling thread into the network namespace `/run/netns/NAME` (needs CAP_SYS_ADMIN).
pub fn enter_netns(name: &str) -> io::Result<()> {
    if name.is_empty() || name == "." || name == ".." || name.contains('/') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("invalid network namespace name {name:?}"),
        ));
    }
    enter_netns_path(&format!("{NETNS_RUN_DIR}/{name}"))
}

/// Moves the calling thread into the network namespace behind `path` (a `/run/netns/*` bind
/// mount or `/proc/PID/ns/net`).
pub fn enter_netns_path(path: &str) -> io::Result<()> {
    let cpath = CString::new(path)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "namespace path contains NUL"))?;
    // SAFETY: `cpath` is a valid NUL-terminated string for the duration of the call.
    let fd = syscall!(open(cpath.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC)).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("cannot open network namespace {path}: {e}"),
        )
    })?;
    // SAFETY: `fd` was just returned by open(2) and is owned by nobody else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: setns only changes the calling thread's namespace; `fd` is a valid descriptor.
    syscall!(setns(fd.as_raw_fd(), libc::CLONE_NEWNET))
        .map_err(|e| io::Error::new(e.kind(), format!("setns into {path} failed: {e}")))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_names_and_missing_namespaces() {
        for bad in ["", ".", "..", "a/b"] {
            let e = enter_netns(bad).expect_err(bad);
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        }
        let e = std::thread::spawn(|| enter_netns("ssv-does-not-exist-0"))
            .join()
            .expect("thread")
            .expect_err("missing namespace");
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
    }
}
