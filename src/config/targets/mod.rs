//! The targets of a scan: which address family (chosen once, from the first target named,
//! see [`v6::is_ipv6_scan`]), the numbered target space of that family with its
//! blocklists, and beside it the ports, seed and shards that walk it.
//!
//! The two families build their targets side by side ([`v4`], [`v6`]) under the same
//! rules, which live here: the blocklist is the built-in lists plus the `-b` files, the
//! targets are numbered over the built-in part only (the files are a live filter, so
//! shards with different opt-out versions share one numbering, and a resume accepts a
//! list that changed), a scan with nothing left to probe is refused, and so is one of
//! more than 2^24 addresses without `-b`.

use std::path::{Path, PathBuf};

use crate::cli::Args;
use crate::resume::Checkpoint;
use crate::targets::v6::{Addrs6, Ranges6};
use crate::targets::{AddrSet, Numbered, TargetSpace};
use crate::usage::{err, UsageError};

use super::{parse_u64, parse_u64_in, random_u64, LARGE_SCAN, NO_PORTS};

mod v4;
mod v6;

/// What to probe, and how the permutation of it is walked and shared.
#[derive(Debug, Clone)]
pub(crate) struct Targets {
    /// The original target arguments, for the record.
    pub(crate) target_args: Vec<String>,
    /// The numbered targets of the scan's one address family.
    pub(crate) set: TargetSet,
    /// The ports, for the record (the target space holds them too).
    pub(crate) ports: Vec<u16>,
    pub(crate) allowlist_file: Option<PathBuf>,
    pub(crate) blocklist_files: Vec<PathBuf>,
    pub(crate) default_blocklist: bool,
    pub(crate) seed: u64,
    pub(crate) shards: u32,
    pub(crate) shard: u32,
    pub(crate) max_targets: Option<u64>,
}

/// The targets of a scan: one address family, chosen once from the first target named
/// (see [`v6::is_ipv6_scan`]). Neither family rides on the other.
#[derive(Debug, Clone)]
pub(crate) enum TargetSet {
    V4(FamilyTargets<AddrSet, AddrSet>),
    V6(FamilyTargets<Addrs6, Ranges6>),
}

/// The targets of one family: the numbered space and the blocklists as read at start.
#[derive(Debug, Clone)]
pub(crate) struct FamilyTargets<A: Numbered, B> {
    /// Every (address, port) in the walk: targets minus the built-in blocklist. The
    /// operator's files are applied when probing (see `blocklist`).
    pub(crate) space: TargetSpace<A>,
    /// Addresses the scan must never probe: the built-in lists and the blocklist files as
    /// they were read at start. Reloads replace the file part during the scan.
    pub(crate) blocklist: B,
    /// The built-in part of `blocklist` (never-routable and reserved ranges), which
    /// reloads of the files keep.
    pub(crate) builtin_blocklist: B,
    /// Addresses to probe (after every blocklist), for the record.
    pub(crate) target_addresses: u64,
}

impl Targets {
    /// Number of targets (addresses × ports).
    pub(crate) fn len(&self) -> u64 {
        self.set.len()
    }
}

impl TargetSet {
    /// Number of targets (addresses × ports).
    pub(crate) fn len(&self) -> u64 {
        match self {
            TargetSet::V4(t) => t.space.len(),
            TargetSet::V6(t) => t.space.len(),
        }
    }

    /// Addresses in the walk (targets over ports; for a list of pairs, its distinct
    /// addresses).
    pub(crate) fn addresses(&self) -> u64 {
        match self {
            TargetSet::V4(t) => t.space.addrs().count(),
            TargetSet::V6(t) => t.space.addrs().count(),
        }
    }

    /// Addresses to probe after every blocklist.
    pub(crate) fn target_addresses(&self) -> u64 {
        match self {
            TargetSet::V4(t) => t.target_addresses,
            TargetSet::V6(t) => t.target_addresses,
        }
    }
}

impl Targets {
    pub(super) fn from_args(
        a: &Args,
        ports: Vec<u16>,
        resume: Option<&Checkpoint>,
    ) -> Result<Targets, UsageError> {
        let seed = match (&a.seed, resume) {
            (Some(s), _) => parse_u64("-e/--seed", s)?,
            // A resumed scan keeps its seed unless -e says otherwise (then it is refused).
            (None, Some(c)) => c.seed,
            (None, None) => {
                random_u64().map_err(|e| UsageError(format!("cannot draw a random seed: {e}")))?
            }
        };
        let shards = parse_u64_in("--shards", &a.shards, 1, 65_535)? as u32;
        let shard = parse_u64_in("--shard", &a.shard, 0, 65_534)? as u32;
        if shard >= shards {
            return err(format!(
                "--shard {shard} is out of range: with --shards {shards} it must be 0 to {}",
                shards - 1
            ));
        }
        if a.allowlist_file.as_deref() == Some(Path::new("-"))
            && a.list_of_ips_file.as_deref() == Some(Path::new("-"))
        {
            return err(
                "-w/--allowlist-file and -I/--list-of-ips-file cannot both read standard input",
            );
        }
        let set = if v6::is_ipv6_scan(a)? {
            TargetSet::V6(v6::from_args(a, ports.clone(), seed)?)
        } else {
            TargetSet::V4(v4::from_args(a, ports.clone())?)
        };
        let ports = pair_ports(a, &set, ports)?;
        let max_targets = a
            .max_targets
            .as_deref()
            .map(|s| parse_max_targets(s, set.len()))
            .transpose()?;
        Ok(Targets {
            target_args: a.targets.clone(),
            set,
            ports,
            allowlist_file: a.allowlist_file.clone(),
            blocklist_files: a.blocklist_file.clone(),
            default_blocklist: !a.no_default_blocklist,
            seed,
            shards,
            shard,
            max_targets,
        })
    }
}

/// The ports of a list of pairs (`-I` with `address,port` lines), which come with its
/// pairs: `-p` beside it is refused rather than ignored, since either reading of it (a
/// filter, or more ports) would surprise someone. Any other scan needs `-p`.
fn pair_ports(a: &Args, set: &TargetSet, ports: Vec<u16>) -> Result<Vec<u16>, UsageError> {
    let from_pairs = match set {
        TargetSet::V4(t) => t.space.pairs().map(|_| t.space.ports().to_vec()),
        TargetSet::V6(t) => t.space.pairs().map(|_| t.space.ports().to_vec()),
    };
    match (from_pairs, &a.target_ports) {
        (Some(_), Some(_)) => err(
            "-p/--target-ports: the -I/--list-of-ips-file list gives a port with each address (address,port lines): give no -p",
        ),
        (Some(pair_ports), None) => Ok(pair_ports),
        (None, _) if ports.is_empty() => err(NO_PORTS),
        (None, _) => Ok(ports),
    }
}

/// The blocklist and its built-in part: `never` (the addresses that are never
/// unicast-routable) always, the `reserved` ranges unless turned off, and the operator's
/// `-b` files.
fn blocklists<B: crate::targets::live_blocklist::BlockSet>(
    a: &Args,
    never: B,
    reserved: impl FnOnce() -> B,
) -> Result<(B, B), UsageError> {
    let mut builtin = never;
    if !a.no_default_blocklist {
        builtin = builtin.union(&reserved());
    }
    let files = B::read_files(&a.blocklist_file)
        .map_err(|e| UsageError(format!("-b/--blocklist-file: {e}")))?;
    Ok((builtin.union(&files), builtin))
}

/// Refuses a scan with nothing left to probe (`unblocked` addresses after every
/// blocklist), saying so when `reserved_why` finds the built-in blocklist the cause; and
/// a large scan (`numbered`, the addresses numbered) without an opt-out list.
fn check_scannable(
    a: &Args,
    numbered: u64,
    unblocked: u64,
    reserved_why: impl FnOnce() -> bool,
) -> Result<(), UsageError> {
    if unblocked == 0 {
        let hint = if !a.no_default_blocklist && reserved_why() {
            " (they are in the built-in blocklist of reserved ranges; --no-default-blocklist lifts it)"
        } else {
            ""
        };
        return err(format!(
            "every target is excluded by the blocklists: nothing to scan{hint}"
        ));
    }
    // Safety rail: a scan this large reaches networks whose operators will ask to be left
    // out; the operator must have a place to put those requests before starting.
    if numbered > LARGE_SCAN && a.blocklist_file.is_empty() {
        return err(format!(
            "refusing to scan {numbered} addresses (more than 2^24) without -b/--blocklist-file: a scan this large must honour opt-out requests; pass your opt-out list (an empty file states that there are none yet)"
        ));
    }
    Ok(())
}

/// `-I` beside command-line targets, refused by both families.
const TARGETS_TWICE: &str =
    "-I/--list-of-ips-file: give the targets in the file or on the command line, not both";

fn parse_max_targets(s: &str, total: u64) -> Result<u64, UsageError> {
    const FLAG: &str = "-n/--max-targets";
    if let Some(p) = s.trim().strip_suffix('%') {
        let v: f64 = p
            .trim()
            .parse()
            .or_else(|_| err(format!("{FLAG}: {s:?} is not a percentage")))?;
        if !(v > 0.0 && v <= 100.0) {
            return err(format!(
                "{FLAG}: {s:?} is out of range (above 0% up to 100%)"
            ));
        }
        return Ok(((total as f64) * v / 100.0).ceil().max(1.0) as u64);
    }
    parse_u64_in(FLAG, s, 1, u64::MAX)
}
