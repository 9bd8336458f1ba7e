//! Where probes leave from: interface, source address and next-hop MAC.

use std::time::Duration;

use anyhow::Context;

use crate::config::Config;
use crate::net::{self, route::NetAddr};
use crate::output::metadata::NetworkInfo;
use crate::targets::Numbered;
use crate::targets::TargetSpace;

use super::family::Live;
use crate::sources::{SourceAddr, SourceList};
use crate::wire::ethernet::format_mac;

/// Where probes leave from and go to at layer 2.
#[derive(Debug, Clone)]
/// Found once by [`discover`]; read-only after that.
pub struct Network<A> {
    ifname: String,
    ifindex: u32,
    /// `-S`, or the interface's address.
    sources: SourceList<A>,
    src_mac: [u8; 6],
    gateway: Option<A>,
    dst_mac: [u8; 6],
}

impl<A: NetAddr + SourceAddr> Network<A> {
    /// The index of the interface probes leave from.
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// The scan's (first) source address.
    pub fn src_ip(&self) -> A {
        self.sources.first()
    }

    /// Every source address of the scan.
    pub fn sources(&self) -> &SourceList<A> {
        &self.sources
    }

    /// The interface's MAC address: the probes' Ethernet source.
    pub fn src_mac(&self) -> [u8; 6] {
        self.src_mac
    }

    /// The next hop's MAC address: the probes' Ethernet destination.
    pub fn dst_mac(&self) -> [u8; 6] {
        self.dst_mac
    }

    pub(super) fn info(&self) -> NetworkInfo {
        NetworkInfo {
            interface: self.ifname.clone(),
            source_ip: self.src_ip().to_string(),
            source_mac: format_mac(&self.src_mac),
            gateway_ip: self.gateway.map(|g| g.to_string()),
            gateway_mac: format_mac(&self.dst_mac),
        }
    }
}

/// Finds the interface, addresses and next-hop MAC for the scan, from the kernel's
/// routing and neighbour tables (ARP or IPv6 neighbour discovery for the family `F`),
/// with `-i`, `-S` and `-G` taking precedence.
pub(super) fn discover<F: Live>(
    config: &Config,
    space: &TargetSpace<F::Addrs>,
) -> anyhow::Result<Network<F::Addr>> {
    let first = space
        .addrs()
        .nth_addr(0)
        .map(F::wire_addr)
        .unwrap_or(F::UNSPECIFIED);
    let route = net::route_to(first);
    let (ifname, ifindex, if_mac, if_ip) = match (&config.network.interface, &route) {
        (Some(name), _) => {
            let i = net::interface(name).with_context(|| format!("interface {name}"))?;
            let ip = F::Addr::of(&i);
            (i.name, i.index, i.mac, ip)
        }
        (None, Ok(r)) => (r.ifname.clone(), r.ifindex, r.src_mac, Some(r.src_ip)),
        (None, Err(e)) => {
            anyhow::bail!("no route to {first}: {e}; pass -i/--interface (and -G/--gateway-mac)")
        }
    };
    let sources = match (F::source_override(config), if_ip) {
        (Some(list), _) => {
            warn_unless_local(list);
            list.clone()
        }
        (None, Some(ip)) => SourceList::one(ip),
        (None, None) => anyhow::bail!(
            "interface {ifname} has no address of the targets' family; pass -S/--source-ip"
        ),
    };
    let (gateway, next_hop) = match &route {
        Ok(r) if r.ifindex == ifindex => (r.gateway, r.next_hop),
        _ => (None, first),
    };
    let dst_mac = match config.network.gateway_mac {
        Some(m) => m,
        None => match net::resolve_neighbour(ifindex, next_hop, Duration::from_secs(2))
            .with_context(|| format!("looking up the MAC address of {next_hop}"))?
        {
            Some(m) => m,
            None => anyhow::bail!(
                "the MAC address of the next hop {next_hop} on {ifname} is unknown (not in the neighbour table and it did not answer ARP); \
                 check the route, or pass -G/--gateway-mac"
            ),
        },
    };
    Ok(Network {
        ifname,
        ifindex,
        sources,
        src_mac: config.network.source_mac.unwrap_or(if_mac),
        gateway,
        dst_mac,
    })
}

/// `-S` names addresses this host does not own: a warning, not a refusal (ZMap sends from
/// them too), since a block routed to this host need not be assigned to an interface. But
/// replies to such an address reach the scanner only if the network routes them here, and
/// the kernel does not reset the connections the targets' SYN-ACKs open (they time out).
fn warn_unless_local<A: NetAddr + SourceAddr>(list: &SourceList<A>) {
    let foreign: Vec<A> = list
        .iter()
        .filter(|a| !net::is_local(*a).unwrap_or(false))
        .collect();
    if let Some(first) = foreign.first() {
        eprintln!(
            "synsurvey: warning: -S/--source-ip: {} of {} source addresses are not addresses of this host (first: {first}); \
             replies to them arrive only if the network routes them here, and this host will not reset the connections they open",
            foreign.len(),
            list.len()
        );
    }
}
