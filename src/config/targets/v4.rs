//! The IPv4 targets of a scan: CIDRs on the command line, the `-w` allowlist or the `-I`
//! list, less the blocklists (see the parent module for the rules both families follow).

use std::path::Path;

use ipnet::Ipv4Net;

use crate::cli::Args;
use crate::targets::{blocklist, AddrSet, Pairs, TargetSpace};
use crate::usage::{err, UsageError};

use super::{blocklists, check_scannable, FamilyTargets, TARGETS_TWICE};

/// The IPv4 targets of a scan.
pub(super) fn from_args(
    a: &Args,
    ports: Vec<u16>,
) -> Result<FamilyTargets<AddrSet, AddrSet>, UsageError> {
    let (blocklist, builtin_blocklist) = blocklists(a, blocklist::never(), blocklist::reserved)?;
    let (wanted, pairs) = wanted_addresses(a, &builtin_blocklist)?;
    // Targets are numbered over the built-in blocklist only: the operator's files are a
    // live filter (as their reloads are), so shards started with different versions
    // of an opt-out list still split the same permutation, and a resume accepts a list
    // that changed.
    let addrs = wanted.subtract(&builtin_blocklist);
    let unblocked = wanted.subtract(&blocklist);
    check_scannable(a, addrs.len(), unblocked.len(), || {
        !wanted.intersect(&blocklist::reserved()).is_empty()
    })?;
    let space = match pairs {
        Some(p) => TargetSpace::from_pairs(addrs, Pairs::new(p, u32::to_be_bytes)),
        None => TargetSpace::new(addrs, ports),
    };
    Ok(FamilyTargets {
        space,
        blocklist,
        builtin_blocklist,
        target_addresses: unblocked.len(),
    })
}

/// The targets asked for: command-line CIDRs and the allowlist file, or the `-I` list
/// (within the allowlist if there is one) less the built-in blocklist, dropped while
/// reading so that a long list costs no memory for them.
#[allow(clippy::type_complexity)]
fn wanted_addresses(
    a: &Args,
    builtin: &AddrSet,
) -> Result<(AddrSet, Option<Vec<(u32, u16)>>), UsageError> {
    let mut nets: Vec<Ipv4Net> = Vec::new();
    for t in &a.targets {
        nets.push(
            blocklist::parse_target(t).map_err(|e| UsageError(format!("target {t:?}: {e}")))?,
        );
    }
    if let Some(path) = &a.allowlist_file {
        nets.extend(read_allowlist(path)?);
    }
    if a.targets.is_empty() && a.allowlist_file.is_none() && a.list_of_ips_file.is_none() {
        return err("no targets: give addresses or CIDRs (use 0.0.0.0/0 for all of IPv4) or -w/--allowlist-file");
    }
    let wanted = AddrSet::from_nets(nets);
    if let Some(path) = &a.list_of_ips_file {
        if !a.targets.is_empty() {
            return err(TARGETS_TWICE);
        }
        let allow = a.allowlist_file.is_some().then_some(&wanted);
        return crate::targets::v4::list::load(path, |ip| {
            !builtin.contains(ip) && allow.is_none_or(|w| w.contains(ip))
        })
        .map(|l| (l.set, l.pairs))
        .map_err(|e| UsageError(format!("-I/--list-of-ips-file: {e}")));
    }
    if let (true, Some(path)) = (wanted.is_empty(), &a.allowlist_file) {
        // Only an allowlist without entries gets here: a target is at least one address.
        return err(format!(
            "no targets: -w/--allowlist-file: {} has no addresses or CIDRs",
            path.display()
        ));
    }
    Ok((wanted, None))
}

/// `-w`: a list file, or standard input for `-`.
fn read_allowlist(path: &Path) -> Result<Vec<Ipv4Net>, UsageError> {
    const FLAG: &str = "-w/--allowlist-file";
    if path.as_os_str() != "-" {
        return read_list(FLAG, path);
    }
    let mut text = String::new();
    std::io::Read::read_to_string(&mut std::io::stdin().lock(), &mut text)
        .map_err(|e| UsageError(format!("{FLAG}: standard input: {e}")))?;
    blocklist::parse_list(&text).map_err(|e| UsageError(format!("{FLAG}: standard input, {e}")))
}

fn read_list(flag: &str, path: &Path) -> Result<Vec<Ipv4Net>, UsageError> {
    blocklist::read_list(path).map_err(|e| UsageError(format!("{flag}: {e}")))
}
