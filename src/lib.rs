//! synsurvey: a stateless TCP SYN scanner for Internet measurement.
//!
//! The crate is laid out as the pipeline a probe and its reply travel through:
//!
//! ```text
//!  cli ──> config ──> plan ──> targets ──> probe ──> send ──> (network) ──> recv ──> validate ──> output
//!           (flags)   (threads, (what)     (frame)   (pace,                (capture,  (MAC,       (JSON lines,
//!                      walks,                         blocklist)            dedup)     reasons)    metadata)
//!                      -n split)                        │                     │
//!                         │                             ▼                     ▼
//!                         └──────────────────>  checkpoint (positions)   counters ──> scan::monitor
//!                                                                        (atomics)    (status, stop)
//! ```
//!
//! * [`config`]: the validated configuration, grouped by concern; its targets are one
//!   `TargetSet` with a variant per family (`V4`, `V6`), beside ports, seed and shards.
//!   `config/output_flags.rs` turns the output flags into the output stage's spec.
//! * [`config_file`]: `-C FILE`, ZMap's configuration file, read as more flags of the
//!   command line.
//! * [`plan`]: thread counts (the default for the CPUs available is chosen here only),
//!   each thread's walk, the split of `-n`, the scan's and the survey's identity, the
//!   resume check.
//! * [`targets`]: the target set (allowlist minus blocklists), the cyclic-group permutation
//!   and its split into shards and sender threads; the live blocklist and its reloads;
//!   IPv6 hitlists, prefixes and sub-prefix enumerations numbered the same way.
//! * [`wire`]: zero-copy views of Ethernet, IPv4, IPv6 (with extension headers), TCP, ICMP
//!   and ICMPv6, with checksums.
//! * [`probe`]: the SYN frame template and its per-target patching, `probe/v4.rs` beside
//!   `probe/v6.rs`.
//! * [`sources`]: the `-S` list of source addresses and the keyed choice of one per target.
//! * [`validate`]: the keyed MAC that makes a probe's sequence number and source port
//!   self-authenticating, and the checks a reply must pass.
//! * [`send`]: sender threads, the packet-rate pacer and the transmit back ends.
//! * [`recv`]: the receiver thread, its capture, duplicate suppression and classification.
//! * [`output`]: JSON-lines records and the metadata schema. It takes what it writes (the
//!   output spec and target, the metadata's own `ScanConfig`), never the configuration.
//! * [`family`]: the address family (IPv4, IPv6) of a scan as one type parameter
//!   ([`family::ScanFamily`], over the wire's [`wire::Family`]).
//! * [`counters`]: the shared atomic counters every stage writes and the monitor reads.
//! * [`stop`]: the one cell that records why a scan stops (first reason wins).
//! * [`resume`]: checkpoints (`--checkpoint`, `--resume`): the file format, the command line
//!   it records (and a resumed run's completed from it), and the scan identity it is checked by.
//! * [`notice`]: the page that tells the scanned who scans and why (`--notice-http`).
//! * [`scan`]: a live scan in phases (open, spawn, monitor, end) and the dry run; the
//!   scan's family is picked once (`scan/dispatch.rs`) for both, which then run compiled
//!   for it.
//! * [`survey`]: what makes shards one survey, recorded in each shard's metadata.
//! * [`merge`]: `synsurvey merge`, which checks that the shards cover the survey and
//!   merges their results.
//! * [`report`]: `synsurvey report`, one HTML page that shows a finished scan.
//! * [`split`]: `synsurvey split`, one results file per owner of the scanned addresses.
//! * [`subcommand`]: the subcommands beside the scan (`merge`, `report`, `completions`, `man`).
//! * [`usage`]: the usage error, its exit code, and the one path from an error to its line.
//! * [`net`]: the one place for `libc` and `unsafe`: raw sockets, AF_XDP, BPF, netlink,
//!   capabilities.

// `unsafe` lives in `net` only, where every block states why it is sound.
#![deny(unsafe_code)]

pub mod cli;
pub mod config;
pub mod config_file;
pub mod counters;
pub mod family;
pub(crate) mod merge;
#[allow(unsafe_code)]
pub mod net;
pub(crate) mod notice;
pub mod output;
pub mod plan;
pub mod probe;
pub mod recv;
pub mod report;
pub mod resume;
pub mod scan;
pub mod send;
pub mod sources;
pub(crate) mod split;
pub mod stop;
pub mod subcommand;
pub(crate) mod survey;
pub mod targets;
pub(crate) mod test_hooks;
pub mod usage;
pub mod validate;
pub mod wire;
