//! Shared helpers for synsurvey's integration tests.
//!
//! The centre piece is [`Testbed`], a wrapper around `scripts/testbed.sh`
//! that builds a target network out of network namespaces (the real Linux
//! TCP stack answers the scanner's SYNs) and tears it down on drop.
//!
//! Safety: every packet a test sends must be sent from inside a testbed's
//! scan namespace (use [`Testbed::exec_scan`]), toward 198.18.0.0/16 (an IPv6
//! testbed, [`TestbedOpts::ipv6`]: toward 2001:2::/64). Never run the scanner in
//! the root namespace.
#![allow(dead_code)]

use std::collections::HashSet;
use std::ffi::OsStr;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::marker::PhantomData;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::sync::{Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub mod accounting;
mod rng;
pub use accounting::Accounting;
pub use rng::SplitMix64;

use pcap_file::pcap::PcapReader;
use pcap_file::DataLink;
pub use synsurvey::output::DryRunRecord;
use synsurvey::wire::{ethernet, ipv4, tcp, EthernetFrame, Ipv4Packet, Ipv6Packet, TcpPacket};

/// Address of `veth0` in the scan namespace (the scanner's source address).
pub const SCAN_ADDR: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 1);
/// Address of `veth1` on the other side: the scan namespace's gateway.
pub const GATEWAY_ADDR: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 2);
/// Every address of this network is a host of the target namespace.
pub const TARGET_NET: &str = "198.18.0.0/16";
/// IPv6 testbeds: the scanner's source address (`veth0`, a /126 link inside
/// 2001:2:0:ff::/64).
pub const SCAN_ADDR6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0xff, 0, 0, 0, 1);
/// IPv6 testbeds: the scan namespace's gateway (`veth1`). The target's kernel sends its
/// ICMPv6 errors from this address (it cannot send them from an AnyIP address).
pub const GATEWAY_ADDR6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0xff, 0, 0, 0, 2);
/// IPv6 testbeds: the address of scanner `k` (1 to 4, see [`Testbed::exec_scanner`]) on
/// its own /126 link, 2001:2:0:ff::(4k-3); [`SCAN_ADDR6`] for k = 1.
pub fn scan_addr6(k: u8) -> Ipv6Addr {
    assert!((1..=4).contains(&k), "scanner {k}: 1 to 4");
    Ipv6Addr::new(0x2001, 2, 0, 0xff, 0, 0, 0, 4 * u16::from(k) - 3)
}
/// IPv6 testbeds: every address of this network is a host of the target namespace.
pub const TARGET_NET6: &str = "2001:2::/64";
/// Interface of the scan namespace.
pub const SCAN_IFACE: &str = "veth0";
/// Interface of the target (or sink) namespace.
pub const TGT_IFACE: &str = "veth1";

/// Whether a test that needs root may run here. Where it cannot, prints
/// `skipped: TEST: needs root to WHY (REASON)` on the real standard error (past the test
/// harness's capture, so that `cargo test` shows it) and returns false; under CI
/// (`CI=true`), where every test must run, it panics instead, so nothing is silently
/// skipped. Use it through [`require_privileges!`].
pub fn privileged(why: &str) -> bool {
    let Err(reason) = synsurvey::net::privs::testbed_privileges() else {
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
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| matches!(v.to_ascii_lowercase().as_str(), "true" | "1"))
}

/// Returns from the test, after saying why, where it cannot run unprivileged:
/// `require_privileges!("create network namespaces")` as a test's first line.
#[allow(unused_macros)]
macro_rules! require_privileges {
    ($why:expr) => {
        if !$crate::common::privileged($why) {
            return;
        }
    };
}
#[allow(unused_imports)]
pub(crate) use require_privileges;

/// `scripts/testbed.sh` of this checkout.
pub fn testbed_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/testbed.sh")
}

/// The synsurvey binary built for these tests.
pub fn synsurvey() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_synsurvey"))
}

/// What the target network looks like.
#[derive(Clone, Debug)]
pub struct TestbedOpts {
    /// An IPv6 target network: 2001:2::/64 behind the gateway [`GATEWAY_ADDR6`], the
    /// scanner at [`SCAN_ADDR6`]. The address lists then hold IPv6 addresses/CIDRs
    /// inside 2001:2::/64. Not with `delay_ms`.
    pub ipv6: bool,
    /// Addresses/CIDRs (inside 198.18.0.0/16) that answer SYN-ACK on `ports`.
    pub open: Vec<String>,
    /// Addresses/CIDRs that never answer anything.
    pub silent: Vec<String>,
    /// Addresses/CIDRs whose TCP SYNs the target's kernel answers with an ICMP destination
    /// unreachable (IPv4: host unreachable, type 3 code 1; IPv6: address unreachable,
    /// type 1 code 3), ICMP rate limits lifted.
    pub unreach: Vec<String>,
    /// Ports with a listener (default `[80]`). Every other port answers RST.
    pub ports: Vec<u16>,
    /// Drop this percentage of the target's TCP replies (nftables egress); the SYN-ACKs
    /// dropped are recorded (see [`Testbed::lost_synacks`]).
    pub loss_pct: Option<f64>,
    /// Delay every frame the target sends toward the scanner (replies and
    /// ARP) by this many ms. The testbed then has a third namespace,
    /// `NAME-dly` (see [`Testbed::dly_ns`]), where a relay forwards frames
    /// toward the target at once and frames from it after the delay.
    pub delay_ms: Option<u32>,
    /// Answer at most this many SYNs per second, drop the rest.
    pub rate_limit_pps: Option<u32>,
    /// Scanner namespaces (1 to 4), each on its own link to the target; see
    /// [`Testbed::exec_scanner`].
    pub scanners: u8,
    /// An IP-layer link instead of the veth pair: `tun0` in the scan namespace, `tun1`
    /// in the target namespace, joined by a relay that copies IP packets (no link
    /// header, no hardware address). Captures then run on `tun1`.
    pub tun: bool,
    /// 802.1Q VLAN between scanner and target: a relay in `NAME-dly` (see
    /// [`Testbed::dly_ns`]) passes toward the target only frames tagged with this id
    /// (untagging them) and tags every frame toward the scanner; ARP and neighbour
    /// discovery pass untagged. Its counters: [`Testbed::relay_stats_of`]`("vlanrelay")`.
    pub vlan: Option<u16>,
}

impl Default for TestbedOpts {
    fn default() -> Self {
        TestbedOpts {
            ipv6: false,
            open: Vec::new(),
            silent: Vec::new(),
            unreach: Vec::new(),
            ports: vec![80],
            loss_pct: None,
            delay_ms: None,
            rate_limit_pps: None,
            scanners: 1,
            tun: false,
            vlan: None,
        }
    }
}

impl TestbedOpts {
    /// The default testbed on which the addresses or CIDRs `open` answer: an IPv6 one
    /// if they are IPv6 (written with a `:`).
    pub fn open<A: ToString>(open: impl IntoIterator<Item = A>) -> TestbedOpts {
        let open: Vec<String> = open.into_iter().map(|a| a.to_string()).collect();
        TestbedOpts {
            ipv6: open.iter().any(|a| a.contains(':')),
            open,
            ..Default::default()
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Target,
    Sink,
}

/// One testbed (a pair of namespaces), torn down on drop.
#[derive(Debug)]
pub struct Testbed {
    pub name: String,
    kind: Kind,
    ipv6: bool,
    /// The link is `tun0` <-> `tun1` ([`TestbedOpts::tun`]).
    tun: bool,
    /// Released after `Drop::drop` has torn the namespaces down.
    _lock: Option<SharedGuard>,
}

/// Result of a TCP connect attempt from the scan namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectOutcome {
    /// Handshake completed (SYN-ACK received).
    Open,
    /// Connection refused (RST received).
    Refused,
    /// An ICMP destination unreachable about this connection arrived (seen on a raw
    /// socket of the scan namespace; the kernel itself keeps retrying).
    Unreachable,
    /// No answer within the timeout.
    Timeout,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A short unique testbed name: `ss<pid><letters>`, e.g. `ss12345a`.
fn unique_name() -> String {
    let mut n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let mut letters = Vec::new();
    loop {
        letters.push(b'a' + (n % 26) as u8);
        n /= 26;
        if n == 0 {
            break;
        }
        n -= 1;
    }
    letters.reverse();
    format!(
        "ss{}{}",
        std::process::id(),
        String::from_utf8(letters).unwrap()
    )
}

/// Runs `testbed.sh ARGS`, panicking with its output if it fails.
fn run_script<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let args: Vec<_> = args
        .into_iter()
        .map(|a| a.as_ref().to_os_string())
        .collect();
    let out = Command::new("bash")
        .arg(testbed_script())
        .args(&args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", testbed_script().display()));
    if !out.status.success() {
        panic!(
            "testbed.sh {:?} failed ({}):\n--- stderr ---\n{}--- stdout ---\n{}",
            args,
            out.status,
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
    }
    out
}

fn write_list(items: &[String]) -> tempfile::NamedTempFile {
    let mut f = tempfile::Builder::new()
        .prefix("synsurvey-testbed-")
        .suffix(".txt")
        .tempfile()
        .expect("create temp file");
    for item in items {
        writeln!(f, "{item}").unwrap();
    }
    f.flush().unwrap();
    f
}

impl Testbed {
    /// A testbed of a new name, not set up yet. A previous run that was SIGKILLed with the
    /// same pid may have left namespaces of this name behind: they are removed first. From
    /// here on, Drop cleans up whatever the script leaves behind.
    fn fresh(kind: Kind, ipv6: bool) -> Testbed {
        let name = unique_name();
        let _ = Command::new("bash")
            .arg(testbed_script())
            .args(["down", &name])
            .stdin(Stdio::null())
            .output();
        Testbed {
            name,
            kind,
            ipv6,
            tun: false,
            _lock: shared(),
        }
    }

    /// Creates a scan namespace and a target namespace as described by
    /// `opts`. Panics (with the script's stderr) if that fails, e.g. when not
    /// running as root.
    pub fn up(opts: TestbedOpts) -> Testbed {
        let mut tb = Testbed::fresh(Kind::Target, opts.ipv6);
        tb.tun = opts.tun;

        let mut args: Vec<String> = vec!["up".into(), tb.name.clone()];
        if opts.ipv6 {
            args.push("--ipv6".into());
        }
        // Kept until the script has read them.
        let mut lists = Vec::new();
        for (flag, items) in [
            ("--open", &opts.open),
            ("--silent", &opts.silent),
            ("--unreach", &opts.unreach),
        ] {
            if !items.is_empty() {
                let file = write_list(items);
                args.push(flag.into());
                args.push(file.path().to_str().unwrap().into());
                lists.push(file);
            }
        }
        assert!(!opts.ports.is_empty(), "TestbedOpts.ports is empty");
        args.push("--ports".into());
        args.push(
            opts.ports
                .iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join(","),
        );
        if let Some(loss) = opts.loss_pct {
            args.push("--loss".into());
            args.push(format!("{loss}"));
        }
        if let Some(delay) = opts.delay_ms {
            args.push("--delay".into());
            args.push(delay.to_string());
        }
        if opts.scanners > 1 {
            args.push("--scanners".into());
            args.push(opts.scanners.to_string());
        }
        if opts.tun {
            args.push("--tun".into());
        }
        if let Some(vlan) = opts.vlan {
            args.push("--vlan".into());
            args.push(vlan.to_string());
        }
        if let Some(pps) = opts.rate_limit_pps {
            args.push("--rate-limit".into());
            args.push(pps.to_string());
        }
        run_script(&args);
        drop(lists);
        tb
    }

    /// Creates a scan namespace whose gateway is a sink that counts and drops
    /// every frame (see [`Testbed::sink_count`]).
    pub fn sink() -> Testbed {
        Self::sink_with_queues(1)
    }

    /// A sink whose veth ends have `queues` transmit and receive queues (AF_XDP binds one
    /// socket per queue).
    pub fn sink_with_queues(queues: u32) -> Testbed {
        let tb = Testbed::fresh(Kind::Sink, false);
        run_script(["sink", tb.name.as_str(), "--queues", &queues.to_string()]);
        tb
    }

    /// A sink reached over IPv4 and IPv6 alike: the scan namespace also routes
    /// 2001:2::/64 to it from [`SCAN_ADDR6`]. The scan namespace's own ICMPv6 (neighbour
    /// discovery, MLD) is not counted.
    pub fn sink_ipv6(queues: u32) -> Testbed {
        let tb = Testbed::fresh(Kind::Sink, true);
        run_script([
            "sink",
            tb.name.as_str(),
            "--queues",
            &queues.to_string(),
            "--ipv6",
        ]);
        tb
    }

    /// Whether this is an IPv6 testbed.
    pub fn is_ipv6(&self) -> bool {
        self.ipv6
    }

    /// The scanner's namespace.
    pub fn scan_ns(&self) -> String {
        format!("{}-scan", self.name)
    }

    /// The other namespace: the target (or, for a sink, the sink).
    pub fn tgt_ns(&self) -> String {
        match self.kind {
            Kind::Target => format!("{}-tgt", self.name),
            Kind::Sink => format!("{}-sink", self.name),
        }
    }

    /// The delay relay's namespace (exists only with `delay_ms`).
    pub fn dly_ns(&self) -> String {
        format!("{}-dly", self.name)
    }

    /// Frames the sink has seen arrive on its interface so far.
    pub fn sink_count(&self) -> u64 {
        assert_eq!(self.kind, Kind::Sink, "sink_count on a non-sink testbed");
        let out = run_script(["sink-count", self.name.as_str()]);
        let s = String::from_utf8_lossy(&out.stdout);
        s.trim()
            .parse()
            .unwrap_or_else(|_| panic!("sink-count printed {s:?}"))
    }

    /// A command that runs `args` inside the scan namespace
    /// (`ip netns exec <scan ns> args...`). Add more with `.arg()`.
    pub fn exec_scan<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        ns_command(&self.scan_ns(), args)
    }

    /// A command that runs `args` inside scanner namespace `k` (1 is [`Testbed::scan_ns`]).
    /// Scanner `k` has the address 198.19.(k-1).1 and, on an IPv6 testbed,
    /// [`scan_addr6`]`(k)`.
    pub fn exec_scanner<I, S>(&self, k: u8, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        if k <= 1 {
            return self.exec_scan(args);
        }
        ns_command(&format!("{}-scan{k}", self.name), args)
    }

    /// A command that runs `args` inside the target (or sink) namespace.
    pub fn exec_tgt<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        ns_command(&self.tgt_ns(), args)
    }

    /// Output of `testbed.sh status` (addresses, routes, nft counters).
    pub fn status(&self) -> String {
        let out = run_script(["status", self.name.as_str()]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Packet count of the target's nftables rule with this comment:
    /// `"syn-in"` (pure SYNs to 198.18.0.0/16), `"silent"`, `"rate-limited"`,
    /// `"closed"` (answered by nft with RST), `"open"` (passed to the
    /// listener; every packet, not only SYNs), `"unreach"` (answered with an ICMP
    /// unreachable), or `"loss"` (replies dropped). On an IPv6 testbed the same rules
    /// match IPv6 (2001:2::/64).
    pub fn counter(&self, comment: &str) -> u64 {
        assert_eq!(self.kind, Kind::Target, "counter on a sink testbed");
        let out = output_ok(&mut self.exec_tgt(["nft", "-j", "list", "ruleset"]));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("nft json");
        for item in v["nftables"].as_array().expect("nftables array") {
            let rule = &item["rule"];
            if rule["comment"].as_str() != Some(comment) {
                continue;
            }
            for e in rule["expr"].as_array().into_iter().flatten() {
                if let Some(p) = e["counter"]["packets"].as_u64() {
                    return p;
                }
            }
        }
        panic!(
            "no nft rule with comment {comment:?} and a counter in {}",
            self.tgt_ns()
        );
    }

    /// The (target address, port) pairs whose SYN-ACK the `loss_pct` rule dropped at
    /// least `times` times (1 or 2; the testbed records no more). With two probes per
    /// target (`-P 2`), `lost_synacks(2)` is exactly what no scanner can find.
    pub fn lost_synacks(&self, times: u8) -> std::collections::BTreeSet<(IpAddr, u16)> {
        assert!(
            times == 1 || times == 2,
            "lost_synacks: 1 or 2, not {times}"
        );
        let set = format!("lost{times}");
        // No such set: the testbed has no loss_pct.
        let out = output_ok(&mut self.exec_tgt([
            "nft",
            "-j",
            "list",
            "set",
            "netdev",
            "testbed_loss",
            &set,
        ]));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("nft json");
        let mut lost = std::collections::BTreeSet::new();
        for item in v["nftables"].as_array().expect("nftables array") {
            for e in item["set"]["elem"].as_array().into_iter().flatten() {
                // A plain element, or one wrapped with its own expressions.
                let c = e.get("concat").or_else(|| e["elem"]["val"].get("concat"));
                let c = c.unwrap_or_else(|| panic!("unexpected element {e}"));
                let addr: IpAddr = c[0].as_str().expect("address").parse().expect("address");
                let port = c[1].as_u64().expect("port") as u16;
                lost.insert((addr, port));
            }
        }
        lost
    }

    /// Tries a TCP connect from the scan namespace (1 s timeout).
    pub fn connect(&self, addr: impl Into<IpAddr>, port: u16) -> ConnectOutcome {
        self.connect_timeout(addr, port, Duration::from_secs(1))
    }

    /// Tries a TCP connect from the scan namespace.
    pub fn connect_timeout(
        &self,
        addr: impl Into<IpAddr>,
        port: u16,
        timeout: Duration,
    ) -> ConnectOutcome {
        self.connect_timed(addr, port, timeout).0
    }

    /// Tries a TCP connect from the scan namespace; also returns how long
    /// the `connect()` call itself took (measured in the scan namespace,
    /// without the time to start the helper).
    pub fn connect_timed(
        &self,
        addr: impl Into<IpAddr>,
        port: u16,
        timeout: Duration,
    ) -> (ConnectOutcome, Duration) {
        assert_eq!(self.kind, Kind::Target, "connect on a sink testbed");
        let addr = addr.into();
        // A connect that times out may have drawn an ICMP destination unreachable, which
        // the kernel takes as a soft error and keeps retrying: a raw ICMP socket opened
        // before the connect sees it (the unreachable quotes our SYN: address and port).
        const PY: &str = r#"
import errno, ipaddress, socket, sys, time
dst, port, timeout = ipaddress.ip_address(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
v6 = dst.version == 6
fam = socket.AF_INET6 if v6 else socket.AF_INET
raw = socket.socket(fam, socket.SOCK_RAW, socket.IPPROTO_ICMPV6 if v6 else socket.IPPROTO_ICMP)
raw.setblocking(False)
s = socket.socket(fam, socket.SOCK_STREAM)
s.settimeout(timeout)
t = time.monotonic()
try:
    s.connect((str(dst), port))
    r = "open"
except ConnectionRefusedError:
    r = "refused"
except (socket.timeout, TimeoutError):
    r = "timeout"
except OSError as e:
    r = "unreachable" if e.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH) else "error"
took = time.monotonic() - t
def quotes_us(m):
    if v6:  # ICMPv6 (no IP header on a raw socket): type 1, then the original IPv6 packet
        return m[0] == 1 and m[32:48] == dst.packed and m[48 + 2:48 + 4] == port.to_bytes(2, "big")
    ihl = (m[0] & 15) * 4  # ICMP after the IPv4 header: type 3, then the original packet
    if len(m) < ihl + 8 + 20 or m[ihl] != 3:
        return False
    q = m[ihl + 8:]
    return q[16:20] == dst.packed and q[(q[0] & 15) * 4 + 2:(q[0] & 15) * 4 + 4] == port.to_bytes(2, "big")
if r == "timeout":
    try:
        while r == "timeout":
            if quotes_us(raw.recv(2048)):
                r = "unreachable"
    except BlockingIOError:
        pass
print(r, took)
"#;
        let out = self
            .exec_scan(["python3", "-c", PY])
            .arg(addr.to_string())
            .arg(port.to_string())
            .arg(format!("{}", timeout.as_secs_f64()))
            .stdin(Stdio::null())
            .output()
            .expect("run python3 in the scan namespace");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let unexpected = || -> ! {
            panic!(
                "connect {addr}:{port}: unexpected output {:?}, stderr: {}",
                stdout.trim(),
                String::from_utf8_lossy(&out.stderr)
            )
        };
        let mut words = stdout.split_whitespace();
        let outcome = match words.next() {
            Some("open") => ConnectOutcome::Open,
            Some("refused") => ConnectOutcome::Refused,
            Some("timeout") => ConnectOutcome::Timeout,
            Some("unreachable") => ConnectOutcome::Unreachable,
            _ => unexpected(),
        };
        let secs: f64 = match words.next().map(str::parse) {
            Some(Ok(s)) => s,
            _ => unexpected(),
        };
        (outcome, Duration::from_secs_f64(secs))
    }

    /// Counters of the delay relay (`frames_a_to_b`, `frames_b_to_a`,
    /// `socket_drops_a`, ...), as it last wrote them (about once a second).
    /// Empty without `delay_ms`.
    pub fn relay_stats(&self) -> std::collections::HashMap<String, u64> {
        self.relay_stats_of("relay")
    }

    /// Counters of the testbed's relay `what`: `relay` (delay), `vlanrelay` (`tagged_in`,
    /// `wrong_tag`, `untagged_dropped`, `untagged_control`, `tagged_out`, ...) or
    /// `tunrelay` (`packets_scan_to_tgt`, `packets_tgt_to_scan`), as last written (about
    /// once a second).
    pub fn relay_stats_of(&self, what: &str) -> std::collections::HashMap<String, u64> {
        let path = Path::new("/run/synsurvey-testbed")
            .join(&self.name)
            .join(format!("{what}.stats"));
        let text = std::fs::read_to_string(path).unwrap_or_default();
        text.lines()
            .filter_map(|l| l.split_once('='))
            .filter_map(|(k, v)| Some((k.to_owned(), v.parse().ok()?)))
            .collect()
    }

    /// Fetches `url` from the target namespace with python3's urllib; `Err` on any failure.
    pub fn fetch(&self, url: &str) -> Result<String, String> {
        const PY: &str = r#"
import sys, urllib.request
try:
    sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=3).read().decode())
except Exception as e:
    sys.stdout.write("ERROR %s: %s" % (type(e).__name__, e))
    sys.exit(3)
"#;
        let o = self
            .exec_tgt(["python3", "-c", PY, url])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&o.stdout).into_owned();
        if o.status.success() {
            Ok(text)
        } else {
            Err(text)
        }
    }

    /// Runs `run` (a scan that must fail before its first probe) while capturing the SYNs
    /// that reach the target, and checks that it failed with one line of error (see
    /// [`error_line`]), wrote nothing on standard output and sent nothing. Returns the line.
    pub fn fails_before_sending(&self, run: impl FnOnce() -> Output) -> String {
        let cap = self.capture_syns();
        let out = run();
        let seen = cap.stop_raw();
        let line = error_line(&out);
        assert!(out.stdout.is_empty(), "output before failing: {line}");
        let probes = parse_pcap_any(&seen).into_iter().flatten().count();
        assert_eq!(probes, 0, "probes sent before failing: {line}");
        line
    }

    /// Starts capturing pure SYNs arriving at the target side of the link
    /// (`tcpdump` on veth1 in the target/sink namespace). Returns once
    /// tcpdump is actually capturing. On an IPv6 testbed it captures IPv6 SYNs (read
    /// them with [`Capture::stop6`]).
    pub fn capture_syns(&self) -> Capture<'_> {
        self.capture_syns_on(if self.tun { "tun1" } else { TGT_IFACE })
    }

    /// Like [`Testbed::capture_syns`], on another interface of the target namespace
    /// (`vethK` faces scanner `K`).
    pub fn capture_syns_on(&self, iface: &str) -> Capture<'_> {
        // libpcap's tcp[] does not reach into IPv6: the TCP header follows the fixed
        // header (the scanner and the kernel send no extension headers), flags at 40+13.
        let filter = if self.ipv6 {
            "ip6 and ip6[6] == 6 and ip6[53] & 0x12 == 0x02"
        } else {
            "tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn"
        };
        self.capture_in_snap(&self.tgt_ns(), iface, 128, filter)
    }

    /// Starts capturing every TCP segment of the family, both ways, whole (up to 600
    /// bytes), on the target side of the link: the probes and the target's answers. Read
    /// the frames with [`Capture::stop_frames`].
    pub fn capture_tcp(&self) -> Capture<'_> {
        let filter = if self.ipv6 {
            "ip6 and ip6[6] == 6"
        } else {
            "ip and tcp"
        };
        self.capture_in_snap(&self.tgt_ns(), TGT_IFACE, 600, filter)
    }

    /// Starts tcpdump on `iface` of namespace `ns` (one of this testbed's) with the
    /// libpcap filter `filter` (`""`: every frame). Returns once it is capturing.
    pub fn capture_in(&self, ns: &str, iface: &str, filter: &str) -> Capture<'_> {
        self.capture_in_snap(ns, iface, 128, filter)
    }

    /// [`Testbed::capture_in`], keeping `snaplen` bytes of each frame.
    fn capture_in_snap(&self, ns: &str, iface: &str, snaplen: u32, filter: &str) -> Capture<'_> {
        let dir = tempfile::Builder::new()
            .prefix("synsurvey-capture-")
            .tempdir()
            .expect("temp dir");
        let path = dir.path().join("syns.pcap");
        let mut child = ns_command(
            ns,
            [
                "tcpdump",
                "-i",
                iface,
                "-n",
                "-U",
                "--immediate-mode",
                "-B",
                "65536",
                "-Z",
                "root",
                "-s",
                &snaplen.to_string(),
                "-w",
            ],
        )
        .arg(&path)
        .args((!filter.is_empty()).then_some(filter))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn tcpdump (is it installed? apt-get install -y tcpdump)");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel::<String>();
        let reader = std::thread::spawn(move || {
            let mut all = String::new();
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                all.push_str(&line);
                all.push('\n');
                let _ = tx.send(line);
            }
            all
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut seen = String::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    seen.push_str(&line);
                    seen.push('\n');
                    if line.contains("listening on") {
                        break;
                    }
                }
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("tcpdump did not start capturing ({e:?}); stderr:\n{seen}");
                }
            }
        }
        Capture {
            child: Some(child),
            path,
            _dir: dir,
            reader: Some(reader),
            _tb: PhantomData,
        }
    }

    fn down(&self) -> Result<(), String> {
        let out = Command::new("bash")
            .arg(testbed_script())
            .args(["down", &self.name])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }
}

impl Drop for Testbed {
    fn drop(&mut self) {
        if let Err(e) = self.down() {
            eprintln!("warning: testbed.sh down {} failed: {e}", self.name);
        }
    }
}

fn ns_command<I, S>(ns: &str, args: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut c = Command::new("ip");
    c.args(["netns", "exec", ns]).args(args);
    c
}

/// A SYN seen on the wire by a [`Capture`]: IPv4 ([`SeenSyn`]) or IPv6 ([`SeenSyn6`]).
#[derive(Clone, Debug, PartialEq)]
pub struct SeenSyn<A = Ipv4Addr> {
    /// Capture timestamp, seconds since the epoch.
    pub time: f64,
    pub saddr: A,
    pub daddr: A,
    pub sport: u16,
    pub dport: u16,
    pub seq: u32,
}

impl SeenSyn<IpAddr> {
    /// The same SYN with addresses of the family `A`, or `None` if it is of the other one.
    fn of_family<A: FamilyAddr>(self) -> Option<SeenSyn<A>> {
        let SeenSyn {
            time,
            saddr,
            daddr,
            sport,
            dport,
            seq,
        } = self;
        Some(SeenSyn {
            time,
            saddr: A::from_ip(saddr)?,
            daddr: A::from_ip(daddr)?,
            sport,
            dport,
            seq,
        })
    }
}

/// The address type of one family (`Ipv4Addr`, `Ipv6Addr`), for the readers that keep the
/// SYNs of one family: [`parse_pcap_of`], [`Capture::stop_of`].
pub trait FamilyAddr: Copy + std::str::FromStr {
    /// Bits in an address.
    const BITS: u32;
    /// Whether this is IPv6 (for [`TestbedOpts::ipv6`]).
    const IPV6: bool;
    /// The scanner's address on a testbed of this family ([`SCAN_ADDR`], [`SCAN_ADDR6`]).
    const SCAN: Self;
    /// `addr` if it is of this family.
    fn from_ip(addr: IpAddr) -> Option<Self>;
    /// The address as a number, and back.
    fn to_bits(self) -> u128;
    fn from_bits(bits: u128) -> Self;
}

impl FamilyAddr for Ipv4Addr {
    const BITS: u32 = 32;
    const IPV6: bool = false;
    const SCAN: Ipv4Addr = SCAN_ADDR;
    fn from_ip(addr: IpAddr) -> Option<Ipv4Addr> {
        match addr {
            IpAddr::V4(a) => Some(a),
            IpAddr::V6(_) => None,
        }
    }
    fn to_bits(self) -> u128 {
        u32::from(self).into()
    }
    fn from_bits(bits: u128) -> Ipv4Addr {
        u32::try_from(bits).expect("an IPv4 address").into()
    }
}

impl FamilyAddr for Ipv6Addr {
    const BITS: u32 = 128;
    const IPV6: bool = true;
    const SCAN: Ipv6Addr = SCAN_ADDR6;
    fn from_ip(addr: IpAddr) -> Option<Ipv6Addr> {
        match addr {
            IpAddr::V6(a) => Some(a),
            IpAddr::V4(_) => None,
        }
    }
    fn to_bits(self) -> u128 {
        self.into()
    }
    fn from_bits(bits: u128) -> Ipv6Addr {
        bits.into()
    }
}

/// An IPv6 SYN seen on the wire by a [`Capture`] of an IPv6 testbed.
pub type SeenSyn6 = SeenSyn<Ipv6Addr>;

/// A running tcpdump in a testbed's target namespace; see
/// [`Testbed::capture_syns`].
pub struct Capture<'a> {
    child: Option<Child>,
    path: PathBuf,
    _dir: tempfile::TempDir,
    reader: Option<JoinHandle<String>>,
    _tb: PhantomData<&'a Testbed>,
}

impl Capture<'_> {
    /// Waits until the capture holds a first probe (tcpdump writes each packet at once).
    pub fn wait_for_first(&self, timeout: Duration) {
        let t = std::time::Instant::now();
        // A pcap file starts with a 24-byte header; anything more is a packet.
        while std::fs::metadata(&self.path).map_or(0, |m| m.len()) <= 24 {
            assert!(t.elapsed() < timeout, "no probe reached the target");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Stops the capture and returns the (IPv4) SYNs seen, in capture order.
    /// Panics if tcpdump reports packets dropped by the kernel (the capture
    /// would not be ground truth).
    pub fn stop(self) -> Vec<SeenSyn> {
        self.stop_of()
    }

    /// Stops the capture and returns the IPv6 SYNs seen, in capture order; as
    /// [`Capture::stop`].
    pub fn stop6(self) -> Vec<SeenSyn6> {
        self.stop_of()
    }

    /// [`Capture::stop`] for the family of `A`.
    pub fn stop_of<A: FamilyAddr>(self) -> Vec<SeenSyn<A>> {
        let bytes = self.stop_raw();
        parse_pcap_of(&bytes).into_iter().flatten().collect()
    }

    /// Stops the capture and returns every frame captured (the capture's filter says
    /// which: pure SYNs, or every TCP segment for [`Testbed::capture_tcp`]), as captured,
    /// in capture order: for tests of the probe's bytes.
    pub fn stop_frames(self) -> Vec<Vec<u8>> {
        let bytes = self.stop_raw();
        let mut reader = PcapReader::new(&bytes[..]).expect("pcap file");
        let mut frames = Vec::new();
        while let Some(packet) = reader.next_packet() {
            frames.push(packet.expect("pcap record").data.into_owned());
        }
        frames
    }

    /// Stops tcpdump, checks that it dropped nothing, returns the pcap file.
    pub fn stop_raw(mut self) -> Vec<u8> {
        // Let frames still in flight on the veth pair arrive.
        std::thread::sleep(Duration::from_millis(200));
        let mut child = self.child.take().unwrap();
        signal(child.id(), libc::SIGINT);
        let deadline = Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(st) = child.try_wait().expect("wait tcpdump") {
                break st;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("tcpdump did not exit within 10 s of SIGINT");
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let stderr = self.reader.take().unwrap().join().unwrap_or_default();
        assert!(status.success(), "tcpdump failed ({status}):\n{stderr}");
        for line in stderr.lines() {
            if let Some(n) = line.strip_suffix(" packets dropped by kernel") {
                let n: u64 = n.trim().parse().unwrap_or(u64::MAX);
                assert_eq!(n, 0, "capture incomplete, tcpdump says:\n{stderr}");
            }
        }
        std::fs::read(&self.path)
            .unwrap_or_else(|e| panic!("read {}: {e}\ntcpdump:\n{stderr}", self.path.display()))
    }
}

impl Drop for Capture<'_> {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Parses a classic pcap file (Ethernet link type, µs or ns timestamps, either
/// byte order; read by the `pcap-file` crate). One entry per record: `Some` for an IPv4 TCP segment with SYN
/// set and ACK clear, `None` for anything else. Panics on a malformed file.
pub fn parse_pcap(bytes: &[u8]) -> Vec<Option<SeenSyn>> {
    parse_pcap_of(bytes)
}

/// [`parse_pcap`] for IPv6: `Some` for an IPv6 TCP segment with SYN set and ACK clear
/// (after any hop-by-hop, routing or destination-options headers; fragments are `None`).
pub fn parse_pcap6(bytes: &[u8]) -> Vec<Option<SeenSyn6>> {
    parse_pcap_of(bytes)
}

/// [`parse_pcap`] for the family of `A`.
pub fn parse_pcap_of<A: FamilyAddr>(bytes: &[u8]) -> Vec<Option<SeenSyn<A>>> {
    parse_pcap_any(bytes)
        .into_iter()
        .map(|s| s?.of_family())
        .collect()
}

fn parse_pcap_any(bytes: &[u8]) -> Vec<Option<SeenSyn<IpAddr>>> {
    let mut reader = PcapReader::new(bytes).unwrap_or_else(|e| panic!("not a pcap file: {e}"));
    let linktype = reader.header().datalink;
    // An IP-layer link (tun) is captured as bare IP packets (LINKTYPE_RAW).
    let bare_ip = match linktype {
        DataLink::ETHERNET => false,
        DataLink::RAW => true,
        other => panic!("pcap link type {other:?} is neither Ethernet nor raw IP"),
    };
    let mut out = Vec::new();
    while let Some(packet) = reader.next_packet() {
        let packet = packet.unwrap_or_else(|e| panic!("malformed pcap record: {e}"));
        let time = packet.timestamp.as_secs_f64();
        out.push(if bare_ip {
            parse_ip(&packet.data, time)
        } else {
            parse_frame(&packet.data, time)
        });
    }
    out
}

/// A pure SYN in a bare IP packet (the version nibble says which IP).
pub fn parse_ip(p: &[u8], time: f64) -> Option<SeenSyn<IpAddr>> {
    let ethertype = match p.first()? >> 4 {
        4 => ethernet::ETHERTYPE_IPV4,
        6 => ethernet::ETHERTYPE_IPV6,
        _ => return None,
    };
    let mut frame = vec![0u8; ethernet::HEADER_LEN];
    frame[12..14].copy_from_slice(&ethertype.to_be_bytes());
    frame.extend_from_slice(p);
    parse_frame(&frame, time)
}

/// A pure SYN in an Ethernet frame (IPv4, or IPv6 after any extension headers), read
/// through the crate's own `wire` views.
fn parse_frame(f: &[u8], time: f64) -> Option<SeenSyn<IpAddr>> {
    let eth = EthernetFrame::new_checked(f).ok()?;
    match eth.ethertype() {
        ethernet::ETHERTYPE_IPV4 => {
            let ip = Ipv4Packet::new_checked(eth.payload()).ok()?;
            if ip.protocol() != ipv4::PROTOCOL_TCP || ip.frag_offset() != 0 {
                return None;
            }
            tcp_syn(
                ip.payload(),
                time,
                ip.src_addr().into(),
                ip.dst_addr().into(),
            )
        }
        ethernet::ETHERTYPE_IPV6 => {
            let ip = Ipv6Packet::new_checked(eth.payload()).ok()?;
            let (next, at) = ip.upper_layer().ok()?;
            if next != ipv4::PROTOCOL_TCP {
                return None;
            }
            let (saddr, daddr) = (ip.src_addr().into(), ip.dst_addr().into());
            tcp_syn(ip.payload().get(at..)?, time, saddr, daddr)
        }
        _ => None,
    }
}

/// A pure SYN (SYN set, ACK clear) from the TCP segment `tcp`, or `None`.
fn tcp_syn(tcp: &[u8], time: f64, saddr: IpAddr, daddr: IpAddr) -> Option<SeenSyn<IpAddr>> {
    let tcp = TcpPacket::new_checked(tcp).ok()?;
    let syn = tcp.flags() & (tcp::flags::SYN | tcp::flags::ACK) == tcp::flags::SYN;
    syn.then(|| SeenSyn {
        time,
        saddr,
        daddr,
        sport: tcp.src_port(),
        dport: tcp.dst_port(),
        seq: tcp.seq_number(),
    })
}

/// Held while a test needs the machine to itself (rate measurements): no testbed of
/// another test exists meanwhile, in this process or another.
pub struct ExclusiveGuard {
    // Field order matters: the file lock is released before the mutex.
    _file: File,
    _guard: MutexGuard<'static, ()>,
}

impl Drop for ExclusiveGuard {
    fn drop(&mut self) {
        HOLDS_EXCLUSIVE.with(|h| h.set(false));
    }
}

/// Held by every [`Testbed`] of a test that is not exclusive: exclusive tests wait for
/// all of them, and they wait for an exclusive test.
#[derive(Debug)]
pub struct SharedGuard {
    _file: File,
}

static EXCLUSIVE: Mutex<()> = Mutex::new(());

thread_local! {
    static HOLDS_EXCLUSIVE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

const LOCK_PATH: &str = "/tmp/synsurvey-tests.lock";

fn lock_file(op: libc::c_int) -> File {
    // flock needs only a descriptor, not write access: an ordinary user can share the lock
    // file a root run created. A new one is open to every user for the same reason.
    let file = File::open(LOCK_PATH).or_else(|_| {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .mode(0o666)
            .open(LOCK_PATH)?;
        // Only the creator may widen the mode (umask narrowed it); others just use it.
        let _ = f.set_permissions(std::fs::Permissions::from_mode(0o666));
        Ok::<File, std::io::Error>(f)
    });
    let file = file.expect("open /tmp/synsurvey-tests.lock");
    loop {
        // SAFETY: flock on a file descriptor this function owns.
        let rc = unsafe { libc::flock(file.as_raw_fd(), op) };
        if rc == 0 {
            return file;
        }
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EINTR) {
            panic!("flock {LOCK_PATH}: {err}");
        }
    }
}

/// Takes the test lock exclusively (flock on `/tmp/synsurvey-tests.lock`, also across
/// processes); blocks until no other test holds a testbed. Take it before creating the
/// test's own testbed.
pub fn exclusive() -> ExclusiveGuard {
    let guard = EXCLUSIVE.lock().unwrap_or_else(|e| e.into_inner());
    let file = lock_file(libc::LOCK_EX);
    HOLDS_EXCLUSIVE.with(|h| h.set(true));
    ExclusiveGuard {
        _file: file,
        _guard: guard,
    }
}

/// Takes the test lock shared, unless this thread holds it exclusively.
pub fn shared() -> Option<SharedGuard> {
    if HOLDS_EXCLUSIVE.with(|h| h.get()) {
        return None;
    }
    Some(SharedGuard {
        _file: lock_file(libc::LOCK_SH),
    })
}

/// Sends signal `sig` to process `pid` (a child of the test, not yet reaped). Panics if
/// kill(2) fails.
pub fn signal(pid: u32, sig: libc::c_int) {
    let pid = libc::pid_t::try_from(pid).expect("pid fits pid_t");
    // SAFETY: kill(2) takes integers only and touches no memory of ours; the pid is a child
    // the caller has not reaped, so it names no other process.
    let rc = unsafe { libc::kill(pid, sig) };
    assert_eq!(
        rc,
        0,
        "kill({pid}, {sig}): {}",
        std::io::Error::last_os_error()
    );
}

/// Parses `a.b.c.d/len` (or a plain address, /32) into (network, len).
pub fn parse_cidr(cidr: &str) -> (Ipv4Addr, u8) {
    parse_cidr_of(cidr)
}

/// Parses `addr/len` (or a plain address, a host route) of the family of `A` into
/// (network, len).
pub fn parse_cidr_of<A: FamilyAddr>(cidr: &str) -> (A, u8) {
    let (addr, len) = match cidr.split_once('/') {
        Some((a, l)) => (a, l.parse::<u8>().expect("CIDR prefix length")),
        None => (cidr, A::BITS as u8),
    };
    assert!(u32::from(len) <= A::BITS, "bad prefix length in {cidr}");
    let addr: A = addr
        .parse()
        .unwrap_or_else(|_| panic!("bad address in {cidr}"));
    // Clear the host bits (all of them for a /0: a shift by 128 would overflow).
    let host = A::BITS - u32::from(len);
    let net = addr.to_bits().checked_shr(host).unwrap_or(0);
    (A::from_bits(net.checked_shl(host).unwrap_or(0)), len)
}

/// `count` distinct addresses of `cidr`, chosen deterministically from
/// `seed`, in ascending order.
pub fn random_subset(cidr: &str, count: usize, seed: u64) -> Vec<Ipv4Addr> {
    let (net, len) = parse_cidr(cidr);
    let size: u64 = 1u64 << (32 - len);
    assert!(
        count as u64 <= size,
        "cannot pick {count} addresses from {cidr} ({size} addresses)"
    );
    let base = u32::from(net) as u64;
    let mut rng = SplitMix64(seed);
    let mut offsets: Vec<u64> = if (count as u64) * 2 >= size {
        // Dense: partial Fisher-Yates over all offsets (size <= 2 * count).
        let mut all: Vec<u64> = (0..size).collect();
        for i in 0..count {
            let j = i as u64 + rng.below(size - i as u64);
            all.swap(i, j as usize);
        }
        all.truncate(count);
        all
    } else {
        let mut seen = HashSet::with_capacity(count);
        let mut v = Vec::with_capacity(count);
        while v.len() < count {
            let o = rng.below(size);
            if seen.insert(o) {
                v.push(o);
            }
        }
        v
    };
    offsets.sort_unstable();
    offsets
        .into_iter()
        .map(|o| Ipv4Addr::from((base + o) as u32))
        .collect()
}

/// Parses newline-delimited JSON into `T` (untyped `serde_json::Value` only where a test is
/// about the JSON text itself); blank lines are skipped. Panics with the line number and
/// text of the first line that is not a `T`.
pub fn read_json_lines<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Vec<T> {
    let mut out = Vec::new();
    for (i, line) in bytes.split(|&b| b == b'\n').enumerate() {
        if line.iter().all(|b| b.is_ascii_whitespace()) {
            continue;
        }
        match serde_json::from_slice(line) {
            Ok(v) => out.push(v),
            Err(e) => panic!(
                "line {} is not valid JSON of its type ({e}): {}",
                i + 1,
                String::from_utf8_lossy(line)
            ),
        }
    }
    out
}

/// Runs `cmd` to its end and returns its output; panics with the command, its exit status
/// and its standard error if it fails or cannot start.
pub fn output_ok(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?} (is it installed?): {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs synsurvey with `args` where it is, outside any namespace, standard input from
/// /dev/null: for what sends nothing (a dry run, a usage error, a subcommand).
pub fn run_synsurvey<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    offline(args).output().expect("cannot run synsurvey")
}

/// `synsurvey ARGS` in the test's own namespace, for what sends nothing (dry runs,
/// subcommands, bad input), with no standard input: run it with [`output_ok`] where it must
/// succeed, with `.output()` (or [`run_synsurvey`]) where its failure is the test.
pub fn offline<I, S>(args: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = Command::new(synsurvey());
    cmd.args(args).stdin(Stdio::null());
    cmd
}

/// Runs synsurvey with `args` (as [`run_synsurvey`]), which it must refuse as a usage
/// error: exit 2, nothing on standard output, one line on standard error, which is
/// returned.
pub fn usage_error<I, S>(args: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let args: Vec<_> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
    let out = run_synsurvey(&args);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    assert!(out.stdout.is_empty(), "{args:?}: output before the refusal");
    assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
    err
}

/// The one line of error of a run that failed, warnings aside (`synsurvey: warning: ...`:
/// the tests run with `--no-default-blocklist`, which is always warned about). Panics if
/// the run succeeded or wrote more or fewer lines of error.
pub fn error_line(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| !l.starts_with("synsurvey: warning:"))
        .collect();
    assert!(!out.status.success(), "{}: {stderr}", out.status);
    assert_eq!(lines.len(), 1, "one line of error: {stderr}");
    lines[0].to_owned()
}

/// A command line's words, written as one string: `words("198.18.0.0/24 -p 80 -c 1")`.
pub fn words(line: &str) -> Vec<&str> {
    line.split_whitespace().collect()
}

/// One result line of synsurvey's JSON output, typed: its own lines (no `-f`, absent
/// values left out) and ZMap's `-f "*"` (absent values written as null) alike. Unknown
/// fields are refused, so a renamed field fails the reader instead of reading as absent.
/// (An `Option` field may be absent: serde reads a missing one as `None`.)
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Line {
    pub saddr: String,
    pub saddr_raw: Option<u32>,
    pub daddr: String,
    pub daddr_raw: Option<u32>,
    /// The TCP fields are absent (null with `-f "*"`) in an ICMP record.
    pub sport: Option<u16>,
    pub dport: Option<u16>,
    pub seqnum: Option<u32>,
    pub acknum: Option<u32>,
    pub window: Option<u16>,
    pub ttl: u8,
    pub ipid: u16,
    pub tcpopt_mss: Option<u16>,
    pub tcpopt_wscale: Option<u8>,
    pub tcpopt_sack_perm: Option<bool>,
    pub tcpopt_ts_val: Option<u32>,
    pub tcpopt_ts_ecr: Option<u32>,
    pub classification: String,
    pub success: bool,
    pub icmp_responder: Option<String>,
    pub icmp_type: Option<u8>,
    pub icmp_code: Option<u8>,
    pub icmp_unreach_str: Option<String>,
    pub repeat: bool,
    pub cooldown: bool,
    pub timestamp_str: String,
    pub timestamp_ts: u64,
    pub timestamp_us: u32,
    pub timestamp_unix_us: u64,
    pub rtt_us: Option<u64>,
}

impl Line {
    /// The source address, which must be in the canonical text form (RFC 5952 for IPv6,
    /// what `Display` writes).
    pub fn saddr<A: std::str::FromStr + std::fmt::Display>(&self) -> A {
        canonical_addr(&self.saddr)
    }

    /// The source port of a TCP record.
    pub fn port(&self) -> u16 {
        self.sport
            .unwrap_or_else(|| panic!("no sport in a TCP record: {self:?}"))
    }
}

/// Reads synsurvey's JSON result lines into [`Line`]s.
pub fn read_lines(bytes: &[u8]) -> Vec<Line> {
    read_json_lines(bytes)
}

/// Reads a dry run's JSON lines into the crate's [`DryRunRecord`]s.
pub fn read_probes(bytes: &[u8]) -> Vec<DryRunRecord> {
    read_json_lines(bytes)
}

/// A dry run's probe: the crate's [`DryRunRecord`] (its ports, sequence number, IP id,
/// probe and thread, through `Deref`), with the addresses read as the family `A`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe<A = Ipv4Addr> {
    pub saddr: A,
    pub daddr: A,
    pub record: DryRunRecord,
}

impl<A> std::ops::Deref for Probe<A> {
    type Target = DryRunRecord;
    fn deref(&self) -> &DryRunRecord {
        &self.record
    }
}

/// Reads a dry run's JSON lines into [`Probe`]s of the family `A`; panics on an address
/// that is not of the family, in its canonical text form.
pub fn read_probes_of<A: FamilyAddr + std::fmt::Display>(bytes: &[u8]) -> Vec<Probe<A>> {
    read_probes(bytes)
        .into_iter()
        .map(|record| Probe {
            saddr: canonical_addr(&record.saddr),
            daddr: canonical_addr(&record.daddr),
            record,
        })
        .collect()
}

/// `text` as an address of the family `A`; panics if it is none, or not in the canonical
/// text form (RFC 5952 for IPv6, what `Display` writes).
pub fn canonical_addr<A: std::str::FromStr + std::fmt::Display>(text: &str) -> A {
    let a: A = text
        .parse()
        .unwrap_or_else(|_| panic!("{text:?} is no address of the family"));
    assert_eq!(a.to_string(), text, "not in canonical form");
    a
}

/// One run of synsurvey in a testbed's scan namespace: every live scan of the tests goes
/// through here. By default `synsurvey --no-default-blocklist -q -m META ARGS...` with the
/// results on standard output; each of the three is left out where ARGS give their own
/// (`-m FILE` is then read as the metadata), and all of them with [`Scan::bare`].
/// [`Scan::run`] waits for it and returns the lines, the metadata and stderr.
pub struct Scan {
    args: Vec<String>,
    /// Add no flags of our own.
    bare: bool,
    /// The output is synsurvey's JSON result lines, read into [`Scanned::lines`].
    typed: bool,
    env: Vec<(String, String)>,
    must_succeed: bool,
    stdin: Option<Vec<u8>>,
    scanner: u8,
}

/// What a [`Scan`] left: its result lines, its metadata (`Null` if it wrote none) and
/// its standard error.
pub struct Scanned {
    pub lines: Vec<Line>,
    pub meta: serde_json::Value,
    pub stderr: String,
    pub output: Output,
}

impl Scanned {
    /// The packet accounting of [`Scanned::meta`], typed (see [`Accounting::of`]).
    pub fn accounting(&self) -> Accounting {
        Accounting::of(&self.meta)
    }
}

impl Scan {
    pub fn new(args: &[&str]) -> Scan {
        Scan {
            args: args.iter().map(|s| s.to_string()).collect(),
            bare: false,
            typed: true,
            env: Vec::new(),
            must_succeed: true,
            stdin: None,
            scanner: 1,
        }
    }

    /// Adds one argument after ARGS (a path, say).
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Scan {
        let arg = arg.as_ref().to_str().expect("a UTF-8 argument");
        self.args.push(arg.to_owned());
        self
    }

    /// Feeds `bytes` to the scanner's standard input (otherwise it reads /dev/null).
    pub fn stdin(mut self, bytes: Vec<u8>) -> Scan {
        self.stdin = Some(bytes);
        self
    }

    /// Runs in scanner namespace `k` of the testbed (see [`Testbed::exec_scanner`]).
    pub fn scanner(mut self, k: u8) -> Scan {
        self.scanner = k;
        self
    }

    /// Sets an environment variable for the scanner (the test hooks read theirs).
    pub fn env(mut self, key: &str, value: &str) -> Scan {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Runs synsurvey with ARGS alone (a resumed scan takes its flags from the checkpoint;
    /// a test of the defaults wants none added). [`Scanned::meta`] is then read from
    /// ARGS' `-m FILE`, if any.
    pub fn bare(mut self) -> Scan {
        self.bare = true;
        self
    }

    /// The output is not synsurvey's JSON result lines (CSV, or `-f` fields a test reads
    /// as text): [`Scanned::lines`] stays empty, the bytes are in [`Scanned::output`].
    pub fn raw(mut self) -> Scan {
        self.typed = false;
        self
    }

    /// Lets the scan exit with an error status (by default, [`Scan::run`] panics then).
    pub fn may_fail(mut self) -> Scan {
        self.must_succeed = false;
        self
    }

    /// Runs the scan to its end.
    pub fn run(self, tb: &Testbed) -> Scanned {
        self.spawn(tb).wait()
    }

    /// Starts the scan and returns at once, for a test that acts while it runs.
    pub fn spawn(self, tb: &Testbed) -> Running {
        let dir = tempfile::tempdir().unwrap();
        let given = |flags: &[&str]| self.args.iter().position(|a| flags.contains(&a.as_str()));
        let mut ours: Vec<String> = Vec::new();
        let meta = match given(&["-m", "--metadata-file"]) {
            Some(i) => PathBuf::from(&self.args[i + 1]),
            None => {
                let meta = dir.path().join("meta.json");
                ours.extend(["-m".into(), meta.to_str().unwrap().into()]);
                meta
            }
        };
        if given(&["-q", "--quiet"]).is_none() {
            ours.insert(0, "-q".into());
        }
        if given(&["--no-default-blocklist"]).is_none() {
            ours.insert(0, "--no-default-blocklist".into());
        }
        if self.bare {
            ours.clear();
        }
        let mut cmd = tb.exec_scanner(self.scanner, [synsurvey().as_os_str()]);
        cmd.args(&ours)
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        if self.stdin.is_some() {
            cmd.stdin(Stdio::piped());
        }
        let mut child = cmd.spawn().unwrap();
        // A writer thread: the scanner may write output before it has read all of its
        // input. A scanner that stops reading early closes the pipe: not our error.
        let writer = self.stdin.map(|bytes| {
            let mut pipe = child.stdin.take().unwrap();
            std::thread::spawn(move || {
                let _ = pipe.write_all(&bytes);
            })
        });
        Running {
            child,
            writer,
            meta,
            _dir: dir,
            must_succeed: self.must_succeed,
            typed: self.typed,
        }
    }
}

/// A [`Scan`] started by [`Scan::spawn`].
pub struct Running {
    child: Child,
    writer: Option<std::thread::JoinHandle<()>>,
    meta: PathBuf,
    _dir: tempfile::TempDir,
    must_succeed: bool,
    typed: bool,
}

impl Running {
    /// The scanner's process id (`ip netns exec` execs it: it is synsurvey's own).
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Kills the scanner outright (SIGKILL) and reaps it.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Whether the scanner has exited (then its status), without waiting.
    pub fn try_wait(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().expect("wait for the scanner")
    }

    /// Waits for the scan to end and returns what it left.
    pub fn wait(self) -> Scanned {
        let output = self.child.wait_with_output().unwrap();
        if let Some(w) = self.writer {
            let _ = w.join();
        }
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(
            output.status.success() || !self.must_succeed,
            "synsurvey failed: {}\n{stderr}",
            output.status
        );
        let meta = match std::fs::read(&self.meta) {
            Ok(b) if !b.is_empty() => serde_json::from_slice(&b).unwrap(),
            _ => serde_json::Value::Null,
        };
        Scanned {
            lines: if self.typed {
                read_lines(&output.stdout)
            } else {
                Vec::new()
            },
            meta,
            stderr,
            output,
        }
    }
}

/// The source addresses of the result lines of `class` (`synack`, `rst`, `icmp`), for
/// either family (`addrs_of::<Ipv6Addr>`). Panics on an `saddr` that is no address of the
/// family in its canonical text form (RFC 5952 for IPv6).
pub fn addrs_of<A>(lines: &[Line], class: &str) -> std::collections::BTreeSet<A>
where
    A: std::str::FromStr + std::fmt::Display + Ord,
{
    lines
        .iter()
        .filter(|l| l.classification == class)
        .map(Line::saddr)
        .collect()
}

/// Parses an IPv6 `addr/len` (or a plain address, /128) into (network, len).
pub fn parse_cidr6(cidr: &str) -> (Ipv6Addr, u8) {
    parse_cidr_of(cidr)
}

/// `count` distinct addresses of the IPv6 `cidr`, chosen deterministically from
/// `seed`, in ascending order.
pub fn random_subset6(cidr: &str, count: usize, seed: u64) -> Vec<Ipv6Addr> {
    let (net, len) = parse_cidr6(cidr);
    let bits = 128 - u32::from(len);
    let base = u128::from(net);
    let mut rng = SplitMix64(seed);
    let mut pick = || -> u128 {
        let r = (u128::from(rng.next_u64()) << 64) | u128::from(rng.next_u64());
        if bits >= 128 {
            r
        } else {
            r & ((1u128 << bits) - 1)
        }
    };
    if bits < 64 {
        let size = 1u64 << bits;
        assert!(
            count as u64 <= size / 2,
            "cannot pick {count} addresses from {cidr} sparsely; use random_subset's dense form"
        );
    }
    let mut seen = std::collections::BTreeSet::new();
    while seen.len() < count {
        seen.insert(base | pick());
    }
    seen.into_iter().map(Ipv6Addr::from).collect()
}
pub mod live;
