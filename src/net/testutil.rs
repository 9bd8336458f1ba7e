//! Test scaffolding: throwaway network namespaces joined by veth pairs.
//!
//! The safety rule for every kernel-facing test: packets are sent only inside namespaces the
//! test creates itself, only to hosts inside them, only within 198.18.0.0/15 (hosts in
//! 198.18.0.0/16, links in 198.19.0.0/16). Names include the pid and a counter so tests run
//! in parallel; [`Netns`] deletes its namespace on drop, also when the test panics. A test
//! that needs namespaces starts with `require_privileges!`: without root it says why and
//! is skipped, and under CI (`CI=true`) it fails instead.

use std::io::Write;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use super::netns::enter_netns;

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Whether a test that needs root may run here. Where it cannot, prints
/// `skipped: TEST: needs root to WHY (REASON)` on the real standard error (past the test
/// harness's capture, so that `cargo test` shows it) and returns false; under CI
/// (`CI=true`), where every test must run, it panics instead, so nothing is silently skipped.
pub fn privileged(why: &str) -> bool {
    let Err(reason) = crate::net::privs::testbed_privileges() else {
        return true;
    };
    let test = std::thread::current().name().unwrap_or("?").to_string();
    if in_ci() {
        panic!("{test} needs root to {why}, and CI must run it: {reason}");
    }
    let _ = writeln!(
        std::io::stderr(),
        "skipped: {test}: needs root to {why} ({reason})"
    );
    false
}

/// True when the `CI` variable says so, as CI services (and `.ci/run`) set it.
fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| matches!(v.to_ascii_lowercase().as_str(), "true" | "1"))
}

/// Runs `ip ARGS`, panicking with its stderr on failure.
pub fn ip(args: &[&str]) {
    run("ip", args);
}

/// Runs a command, panicking with its stderr on failure.
pub fn run(cmd: &str, args: &[&str]) {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd}: {e}"));
    assert!(
        out.status.success(),
        "{cmd} {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A network namespace that exists for the guard's lifetime.
pub struct Netns {
    pub name: String,
}

impl Netns {
    /// Creates `ssv-<tag>-<pid>-<n>`; panics if that is not possible.
    pub fn new(tag: &str) -> Self {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("ssv-{tag}-{}-{n}", std::process::id());
        ip(&["netns", "add", &name]);
        let ns = Self { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    /// Runs `ip -n NAME ARGS`.
    pub fn ip(&self, args: &[&str]) {
        let mut full = vec!["-n", self.name.as_str()];
        full.extend_from_slice(args);
        ip(&full);
    }

    /// Runs `ip netns exec NAME CMD ARGS`.
    pub fn exec(&self, cmd: &str, args: &[&str]) {
        let mut full = vec!["netns", "exec", self.name.as_str(), cmd];
        full.extend_from_slice(args);
        ip(&full);
    }

    /// Runs `f` on a new thread that has entered this namespace, and returns its result
    /// (re-raising its panic).
    pub fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        let name = self.name.clone();
        std::thread::spawn(move || {
            enter_netns(&name).unwrap_or_else(|e| panic!("enter_netns({name}): {e}"));
            f()
        })
        .join()
        .unwrap_or_else(|p| std::panic::resume_unwind(p))
    }

    /// Spawns a thread inside this namespace (the caller joins it).
    pub fn spawn<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> std::thread::JoinHandle<T> {
        let name = self.name.clone();
        std::thread::spawn(move || {
            enter_netns(&name).unwrap_or_else(|e| panic!("enter_netns({name}): {e}"));
            f()
        })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Best effort: deleting the namespace also destroys the veth ends inside it.
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// Two namespaces joined by a veth pair `va` (in `a`, 198.19.0.1/30) and `vb` (in `b`,
/// 198.19.0.2/30), both up, IPv6 disabled on them so no stray traffic appears.
pub struct Pair {
    pub a: Netns,
    pub b: Netns,
}

pub const A_IP: &str = "198.19.0.1";
pub const B_IP: &str = "198.19.0.2";

impl Pair {
    pub fn new(tag: &str) -> Self {
        let a = Netns::new(&format!("{tag}a"));
        let b = Netns::new(&format!("{tag}b"));
        ip(&[
            "link", "add", "va", "netns", &a.name, "type", "veth", "peer", "name", "vb", "netns",
            &b.name,
        ]);
        for (ns, dev, addr) in [(&a, "va", A_IP), (&b, "vb", B_IP)] {
            ns.exec(
                "sysctl",
                &["-q", "-w", &format!("net.ipv6.conf.{dev}.disable_ipv6=1")],
            );
            ns.ip(&["addr", "add", &format!("{addr}/30"), "dev", dev]);
            ns.ip(&["link", "set", dev, "up"]);
        }
        Self { a, b }
    }
}

/// The ones'-complement Internet checksum of `data`.
pub fn checksum(data: &[u8]) -> u16 {
    let mut sum = 0u32;
    for chunk in data.chunks(2) {
        let word = u16::from_be_bytes([chunk[0], *chunk.get(1).unwrap_or(&0)]);
        sum += u32::from(word);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Writes an Ethernet/IPv4/TCP frame into `buf` and returns its length. `payload` zero bytes
/// follow the 20-byte TCP header; the IPv4 checksum is correct, the TCP checksum is left 0.
#[allow(clippy::too_many_arguments)]
pub fn build_tcp_frame(
    buf: &mut [u8],
    dst_mac: [u8; 6],
    src_mac: [u8; 6],
    src: [u8; 4],
    dst: [u8; 4],
    sport: u16,
    dport: u16,
    flags: u8,
    payload: usize,
) -> usize {
    let total = 14 + 20 + 20 + payload;
    let f = &mut buf[..total];
    f.fill(0);
    f[0..6].copy_from_slice(&dst_mac);
    f[6..12].copy_from_slice(&src_mac);
    f[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    let ip = &mut f[14..34];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&((20 + 20 + payload) as u16).to_be_bytes());
    ip[4..6].copy_from_slice(&0x1234u16.to_be_bytes());
    ip[6] = 0x40; // DF
    ip[8] = 64;
    ip[9] = 6;
    ip[12..16].copy_from_slice(&src);
    ip[16..20].copy_from_slice(&dst);
    let c = checksum(ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    let tcp = &mut f[34..54];
    tcp[0..2].copy_from_slice(&sport.to_be_bytes());
    tcp[2..4].copy_from_slice(&dport.to_be_bytes());
    tcp[4..8].copy_from_slice(&0x0102_0304u32.to_be_bytes());
    tcp[12] = 5 << 4;
    tcp[13] = flags;
    tcp[14..16].copy_from_slice(&65535u16.to_be_bytes());
    total
}
