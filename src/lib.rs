//! synsurvey: a stateless TCP SYN scanner for Internet measurement.
//!
//! The crate is laid out as the pipeline a probe and its reply travel through:
//!
//! ```text
//!  cli ──> config ──> targets ──> probe ──> send ──> (network) ──> recv ──> validate ──> output
//!                      (what)     (frame)   (pace,                (capture,  (MAC,       (JSON lines,
//!                                            blocklist)            dedup)     reasons)    metadata)
//! ```
//!
//! * [`targets`]: the target set (allowlist minus blocklists), the cyclic-group permutation
//!   and its split into shards and sender threads.
//! * [`wire`]: zero-copy views of Ethernet, IPv4 and TCP, with checksums.
//! * [`probe`]: the SYN frame template and its per-target patching.
//! * [`validate`]: the keyed MAC that makes a probe's sequence number and source port
//!   self-authenticating, and the checks a reply must pass.
//! * [`send`]: sender threads, the packet-rate pacer and the transmit back ends.
//! * [`recv`]: the receiver thread, duplicate suppression and reply classification.
//! * [`output`]: JSON-lines records, progress on stderr and the metadata summary.
//! * [`checkpoint`]: saving progress (`--checkpoint`) and resuming (`--resume`).
//! * [`notice`]: the page that tells the scanned who scans and why (`--notice-http`).
//! * [`scan`]: wires the stages together for a dry run or a live scan (threads, signals,
//!   monitor, cooldown, metadata).
//! * [`report`]: `synsurvey report`, one HTML page that shows a finished scan.
//! * [`subcommand`]: the subcommands beside the scan (`report`, `completions`, `man`).
//! * [`net`]: the one place for `libc` and `unsafe`: raw sockets, AF_XDP, BPF, netlink,
//!   capabilities.

pub mod checkpoint;
pub mod cli;
pub mod config;
pub mod net;
pub mod notice;
pub mod output;
pub mod probe;
pub mod recv;
pub mod report;
pub mod scan;
pub mod send;
pub mod subcommand;
pub mod targets;
pub mod validate;
pub mod wire;
