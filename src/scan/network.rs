//! Where probes leave from: interface, source address, next-hop MAC, and how the link
//! frames them (Ethernet, with an 802.1Q tag, or bare IP packets on a link without a
//! hardware header).

use std::time::Duration;

use anyhow::Context;

use crate::config::link::LinkFlags;
use crate::config::Config;
use crate::net::{self, route::NetAddr};
use crate::output::metadata::NetworkInfo;
use crate::probe::LinkHeader;
use crate::targets::Numbered;
use crate::targets::TargetSpace;

use super::dispatch::source_override;
use crate::family::ScanFamily;
use crate::sources::{SourceAddr, SourceList};
use crate::wire::ethernet::format_mac;
use crate::wire::Link;

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
    link: Link,
    vlan: Option<u16>,
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

    /// What precedes the IP header of the probes and of the replies captured.
    pub fn link(&self) -> Link {
        self.link
    }

    /// The link header of the probes.
    pub fn link_header(&self) -> LinkHeader {
        LinkFlags {
            iplayer: self.link == Link::Ip,
            vlan: self.vlan,
        }
        .header(self.src_mac, self.dst_mac)
    }

    /// The reply filter's framing (see [`net::for_link`]).
    pub fn framing(&self) -> net::Framing {
        net::Framing {
            link: self.link,
            vlan: self.vlan,
        }
    }

    pub(super) fn info(&self) -> NetworkInfo {
        let mac = |m: &[u8; 6]| match self.link {
            Link::Ethernet => format_mac(m),
            Link::Ip => String::new(),
        };
        NetworkInfo {
            interface: self.ifname.clone(),
            source_ip: self.src_ip().to_string(),
            source_mac: mac(&self.src_mac),
            gateway_ip: self.gateway.map(|g| g.to_string()),
            gateway_mac: mac(&self.dst_mac),
            link: self.link.as_str(),
            vlan: self.vlan,
        }
    }
}

/// Finds the interface, addresses and next-hop MAC for the scan, from the kernel's
/// routing and neighbour tables (ARP or IPv6 neighbour discovery for the family `F`),
/// with `-i`, `-S` and `-G` taking precedence.
pub(super) fn discover<F: ScanFamily>(
    config: &Config,
    space: &TargetSpace<F::Addrs>,
) -> anyhow::Result<Network<F::Addr>> {
    let first = space
        .addrs()
        .nth_addr(0)
        .map(F::wire_addr)
        .unwrap_or(F::Addr::UNSPECIFIED);
    let route = net::route_to(first);
    let (ifname, ifindex, if_mac, if_ip, if_link) = match (&config.network.interface, &route) {
        (Some(name), _) => {
            let i = net::interface(name).with_context(|| format!("interface {name}"))?;
            let ip = F::Addr::of(&i);
            (i.name, i.index, i.mac, ip, i.link)
        }
        (None, Ok(r)) => (
            r.ifname.clone(),
            r.ifindex,
            r.src_mac,
            Some(r.src_ip),
            r.link,
        ),
        (None, Err(e)) => {
            anyhow::bail!("no route to {first}: {e}; pass -i/--interface (and -G/--gateway-mac)")
        }
    };
    let sources = match (source_override::<F>(config), if_ip) {
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
    let flags = config.probe.link;
    let link = link_of(&flags, &ifname, if_link)?;
    if link == Link::Ip && config.network.gateway_mac.is_some() {
        anyhow::bail!("-G/--gateway-mac: {ifname} is an IP-layer link, with no MAC addresses");
    }
    let dst_mac = match config.network.gateway_mac {
        Some(m) => m,
        // Nothing to resolve: frames on this link carry no addresses but the IP ones.
        None if link == Link::Ip => [0; 6],
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
        link,
        vlan: flags.vlan,
    })
}

/// How probes are framed on interface `ifname`, whose link type says `kind` (see
/// [`net::Interface::link`]): its own framing, checked against `-X` and `--vlan`.
fn link_of(flags: &LinkFlags, ifname: &str, kind: Option<Link>) -> anyhow::Result<Link> {
    match (kind, flags.iplayer) {
        (Some(Link::Ethernet), false) => Ok(Link::Ethernet),
        (Some(Link::Ethernet), true) => anyhow::bail!(
            "-X/--iplayer: {ifname} is an Ethernet interface, whose frames need an Ethernet header; leave out -X"
        ),
        (Some(Link::Ip), _) | (None, true) if flags.vlan.is_some() => anyhow::bail!(
            "--vlan: {ifname} is an IP-layer link, with no Ethernet header to carry an 802.1Q tag"
        ),
        (Some(Link::Ip), _) | (None, true) => Ok(Link::Ip),
        (None, false) => anyhow::bail!(
            "{ifname} is a kind of link synsurvey cannot frame probes for on its own; if it carries bare IP packets, pass -X/--iplayer"
        ),
    }
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
