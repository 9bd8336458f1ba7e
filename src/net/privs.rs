//! Capabilities: reading them, and dropping all of them once the sockets are open.
//!
//! Linux credentials are per thread. [`drop_capabilities`] changes only the calling thread
//! (and threads it creates afterwards), so the scanner must call it on its main thread after
//! opening its sockets and *before* spawning sender/receiver threads. Open sockets keep
//! working: the kernel checks CAP_NET_RAW when a packet socket is created, not on each send.

use std::io;

/// `_LINUX_CAPABILITY_VERSION_3`: 64-bit capability sets passed as two 32-bit words.
const CAP_VERSION_3: u32 = 0x2008_0522;
/// Bit number of CAP_NET_RAW.
pub const CAP_NET_RAW: u32 = 13;
/// Bit number of CAP_NET_ADMIN.
pub const CAP_NET_ADMIN: u32 = 12;

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// The calling thread's capability sets, as bit masks (bit N = capability number N).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Caps {
    pub effective: u64,
    pub permitted: u64,
    pub inheritable: u64,
}

impl Caps {
    /// True if capability number `cap` is in the effective set.
    pub fn has_effective(&self, cap: u32) -> bool {
        cap < 64 && self.effective & (1u64 << cap) != 0
    }
}

/// Reads the calling thread's capability sets with capget(2).
pub fn capabilities() -> io::Result<Caps> {
    let mut hdr = CapHeader {
        version: CAP_VERSION_3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: `hdr` is a valid header and `data` has room for the two words version 3 uses.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_capget,
            &mut hdr as *mut CapHeader,
            data.as_mut_ptr(),
        )
    };
    if rc == -1 {
        return Err(io::Error::last_os_error());
    }
    let join = |lo: u32, hi: u32| u64::from(lo) | (u64::from(hi) << 32);
    Ok(Caps {
        effective: join(data[0].effective, data[1].effective),
        permitted: join(data[0].permitted, data[1].permitted),
        inheritable: join(data[0].inheritable, data[1].inheritable),
    })
}

/// Bit number of CAP_SYS_ADMIN (needed to create and enter network namespaces).
pub const CAP_SYS_ADMIN: u32 = 21;

/// Whether this process may build the namespace testbeds that the privileged tests use
/// (`ip netns add`, veth links, raw sockets): `Err` says what is missing. Tests call it to
/// skip, with this reason, where they cannot run (see `tests/common`).
pub fn testbed_privileges() -> Result<(), String> {
    let caps = capabilities().map_err(|e| format!("cannot read capabilities: {e}"))?;
    let missing: Vec<&str> = [
        (CAP_SYS_ADMIN, "CAP_SYS_ADMIN"),
        (CAP_NET_ADMIN, "CAP_NET_ADMIN"),
        (CAP_NET_RAW, "CAP_NET_RAW"),
    ]
    .iter()
    .filter(|(cap, _)| !caps.has_effective(*cap))
    .map(|&(_, name)| name)
    .collect();
    // /run/netns and the testbed's state under /run belong to root.
    // SAFETY: geteuid has no arguments and cannot fail.
    let euid = unsafe { libc::geteuid() };
    match (missing.is_empty(), euid) {
        (true, 0) => Ok(()),
        (true, uid) => Err(format!("running as uid {uid}, not root")),
        (false, uid) => Err(format!(
            "running as uid {uid} without {}",
            missing.join(", ")
        )),
    }
}

/// True if the calling thread has CAP_NET_RAW in its effective set (false if unreadable).
pub fn has_net_raw() -> bool {
    capabilities().is_ok_and(|c| c.has_effective(CAP_NET_RAW))
}

/// Drops every capability of the calling thread for good: clears the ambient set, then the
/// effective, permitted and inheritable sets (capset, version 3), then sets
/// PR_SET_NO_NEW_PRIVS so no later execve can grant any back.
///
/// Call after opening sockets and before spawning threads (credentials are per thread).
pub fn drop_capabilities() -> io::Result<()> {
    // SAFETY: prctl with integer arguments only; clearing the ambient set needs no privilege.
    let rc = unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
        )
    };
    // EINVAL: kernel older than 4.3 without ambient capabilities; nothing to clear then.
    if rc == -1 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINVAL) {
            return Err(e);
        }
    }
    let mut hdr = CapHeader {
        version: CAP_VERSION_3,
        pid: 0,
    };
    let data = [CapData::default(); 2];
    // SAFETY: `hdr` and `data` are valid for the version-3 layout; the kernel only reads data.
    let rc = unsafe { libc::syscall(libc::SYS_capset, &mut hdr as *mut CapHeader, data.as_ptr()) };
    if rc == -1 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: prctl with integer arguments only.
    let rc = unsafe {
        libc::prctl(
            libc::PR_SET_NO_NEW_PRIVS,
            1 as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
        )
    };
    if rc == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// True if every thread of this process holds no capability: `CapEff`, `CapPrm` and
/// `CapAmb` are zero in `/proc/self/task/*/status` for each task. This is what the metadata
/// reports, read from the kernel rather than remembered from a call that was believed to
/// succeed: a thread spawned before the drop keeps its own set, and would show here.
pub fn no_task_has_capabilities() -> bool {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return false;
    };
    let mut seen = 0;
    for task in tasks {
        let Ok(task) = task else { return false };
        // A thread that ended since the listing has no status left: it holds nothing.
        let status = match std::fs::read_to_string(task.path().join("status")) {
            Ok(s) => s,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(_) => return false,
        };
        let clear = ["CapEff:", "CapPrm:", "CapAmb:"].iter().all(|key| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
                == Some(0)
        });
        if !clear {
            return false;
        }
        seen += 1;
    }
    seen > 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status_field(status: &str, key: &str) -> Option<String> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key).map(|v| v.trim().to_string()))
    }

    #[test]
    fn capabilities_match_proc_status() {
        let caps = capabilities().expect("capget");
        let status = std::fs::read_to_string("/proc/thread-self/status").expect("status");
        let eff = u64::from_str_radix(&status_field(&status, "CapEff:").expect("CapEff"), 16)
            .expect("hex");
        assert_eq!(caps.effective, eff);
    }
}
