//! The IPv6 targets of a scan, and which family a scan is.
//!
//! A scan is one address family. The first target named decides it (the command line,
//! else the first entry of the `-w` file, else of the `-I` file, standard input peeked at
//! without being consumed); any entry of the other family, or an `-S` of the other
//! family, is then refused with exit code 2 and a message that says so. The IPv6 targets
//! follow the rules of both families (see the parent module).

use std::path::Path;

use crate::cli::Args;
use crate::targets::v6::{self, blocklist as builtin6, list, Addrs6, Iid, Ranges6, Target6};
use crate::targets::{Pairs, TargetSpace};
use crate::usage::{err, UsageError};

use super::{blocklists, check_scannable, FamilyTargets, TARGETS_TWICE};

/// Whether the scan is IPv6 (see the module docs).
pub(super) fn is_ipv6_scan(a: &Args) -> Result<bool, UsageError> {
    if let Some(t) = a.targets.first() {
        return Ok(t.contains(':'));
    }
    let peek = |flag: &str, p: &Path| {
        list::first_entry_is_ipv6(p)
            .map_err(|e| UsageError(format!("{flag}: {}: {e}", p.display())))
    };
    if let Some(p) = &a.allowlist_file {
        return peek("-w/--allowlist-file", p);
    }
    match &a.list_of_ips_file {
        Some(p) => peek("-I/--list-of-ips-file", p),
        None => Ok(false),
    }
}

/// `--iid`: how a sub-prefix's address is chosen.
fn iid(a: &Args, seed: u64) -> Result<Iid, UsageError> {
    match a.iid.as_str() {
        "low" => Ok(Iid::Low),
        "random" => Ok(Iid::Random(seed)),
        other => err(format!("--iid: {other:?} is not low or random")),
    }
}

/// Builds the IPv6 targets of `a` for `ports`, with `seed` keying `--iid random`.
pub(super) fn from_args(
    a: &Args,
    ports: Vec<u16>,
    seed: u64,
) -> Result<FamilyTargets<Addrs6, Ranges6>, UsageError> {
    let iid = iid(a, seed)?;
    let (blocklist, builtin) = blocklists(a, builtin6::never(), builtin6::reserved)?;
    let mut wanted: Vec<Target6> = Vec::new();
    for t in &a.targets {
        let t6 =
            v6::parse_target(t.trim()).map_err(|e| UsageError(format!("target {t:?}: {e}")))?;
        wanted.push(t6);
    }
    if let Some(path) = &a.allowlist_file {
        wanted.extend(
            list::load_targets(path)
                .map_err(|e| UsageError(format!("-w/--allowlist-file: {e}")))?,
        );
    }
    let mut addrs: Vec<u128> = Vec::new();
    let mut pairs = None;
    let mut blocks = Vec::new();
    for t in &wanted {
        match *t {
            Target6::Addr(x) => addrs.push(u128::from(x)),
            Target6::Block { prefix, sub_len } => blocks.push((prefix, sub_len)),
        }
    }
    if let Some(path) = &a.list_of_ips_file {
        if !a.targets.is_empty() {
            return err(TARGETS_TWICE);
        }
        // Within the allowlist if there is one: its addresses and the prefixes it names.
        let allow = a.allowlist_file.is_some().then(|| allow_ranges(&wanted));
        let hit = list::load_hitlist(path, |x| {
            !builtin.contains(x) && allow.as_ref().is_none_or(|w| w.contains(x))
        })
        .map_err(|e| UsageError(format!("-I/--list-of-ips-file: {e}")))?;
        addrs = hit.addrs;
        pairs = hit.pairs;
        blocks.clear();
    } else if wanted.is_empty() {
        return err("no targets: -w/--allowlist-file has no addresses or prefixes");
    }
    let numbered =
        Addrs6::new(addrs, &blocks, &builtin, iid).map_err(|e| UsageError(e.to_string()))?;
    let target_addresses = numbered.count_outside(&blocklist);
    check_scannable(a, numbered.len(), target_addresses, || {
        let reserved = builtin6::reserved();
        let in_reserved = allow_ranges(&wanted)
            .ranges()
            .iter()
            .any(|&(lo, hi)| reserved.overlaps(lo, hi));
        (in_reserved || a.list_of_ips_file.is_some()) && !builtin.is_empty()
    })?;
    let space = match pairs {
        Some(p) => TargetSpace::from_pairs(numbered, Pairs::new(p, |a| a.octets())),
        None => TargetSpace::new(numbered, ports),
    };
    Ok(FamilyTargets {
        space,
        blocklist,
        builtin_blocklist: builtin,
        target_addresses,
    })
}

/// The addresses an allowlist names, by the prefixes of its entries.
fn allow_ranges(wanted: &[Target6]) -> Ranges6 {
    Ranges6::from_ranges(
        wanted
            .iter()
            .map(|t| match *t {
                Target6::Addr(x) => (u128::from(x), u128::from(x)),
                Target6::Block { prefix, .. } => v6::ranges::net_range(&prefix),
            })
            .collect(),
    )
}
