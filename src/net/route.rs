//! Route, interface and neighbour discovery over rtnetlink, without running `ip`.
//!
//! * [`route_to`] asks the kernel which route it would use for a destination (RTM_GETROUTE
//!   for that exact address, as `ip route get` does) and completes it with the interface's
//!   name, MAC and address and the next hop's MAC from the neighbour table.
//! * [`interface`] looks an interface up by name.
//! * [`neighbour_mac`] reads one entry of the neighbour table (ARP for IPv4, NDP for IPv6);
//!   [`resolve_neighbour`] asks the kernel to resolve a missing entry (RTM_NEWNEIGH with
//!   NTF_USE, which makes the kernel send its own ARP request or IPv6 neighbour
//!   solicitation for that one address) and waits.
//!
//! Each is generic over [`NetAddr`] (`Ipv4Addr` or `Ipv6Addr`): the same requests with the
//! other address family. An IPv6 source is the route's preferred source, else the
//! interface's first address that is not link-local.
//!
//! Every call opens a fresh NETLINK_ROUTE socket in the calling thread's network namespace,
//! so none of this is meant for the hot path. Malformed or unexpected kernel replies become
//! `io::Error`s (kind `InvalidData`), never panics.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP,
    NLM_F_REQUEST,
};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{LinkAttribute, LinkLayerType, LinkMessage};
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourMessage, NeighbourState,
};
use netlink_packet_route::route::{RouteAddress, RouteAttribute, RouteMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

use crate::wire::Link;

/// An address family's netlink spelling (netlink's address enums convert from it with
/// `Into`; reading one back is `from_route` and `from_neigh`).
pub trait NetAddr:
    Copy + Eq + std::fmt::Display + std::fmt::Debug + Into<RouteAddress> + Into<NeighbourAddress>
{
    const FAMILY: AddressFamily;
    /// `0.0.0.0` or `::`.
    const UNSPECIFIED: Self;
    fn from_route(a: &RouteAddress) -> Option<Self>;
    fn from_neigh(a: &NeighbourAddress) -> Option<Self>;
    /// The interface's addresses of this family that can be a source.
    fn of(iface: &Interface) -> Option<Self>;
}

/// `NetAddr` for an address type: its variant of the netlink address enums (named as the
/// address family) and the interface's list of addresses it takes its source from.
macro_rules! net_addr {
    ($addr:ty, $variant:ident, $list:ident) => {
        impl NetAddr for $addr {
            const FAMILY: AddressFamily = AddressFamily::$variant;
            const UNSPECIFIED: Self = <$addr>::UNSPECIFIED;
            fn from_route(a: &RouteAddress) -> Option<Self> {
                match a {
                    RouteAddress::$variant(x) => Some(*x),
                    _ => None,
                }
            }
            fn from_neigh(a: &NeighbourAddress) -> Option<Self> {
                match a {
                    NeighbourAddress::$variant(x) => Some(*x),
                    _ => None,
                }
            }
            fn of(iface: &Interface) -> Option<Self> {
                iface.$list.first().copied()
            }
        }
    };
}

net_addr!(Ipv4Addr, Inet, ipv4);
net_addr!(Ipv6Addr, Inet6, ipv6);

/// How the scanner reaches a destination: the output interface and the next hop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route<A = Ipv4Addr> {
    /// Output interface name.
    pub ifname: String,
    /// Output interface index.
    pub ifindex: u32,
    /// Source address: the route's preferred source, else the interface's first address
    /// of the family (for IPv6, the first that is not link-local).
    pub src_ip: A,
    /// MAC address of the output interface.
    pub src_mac: [u8; 6],
    /// What a packet socket on the interface reads before the IP header (see
    /// [`Interface::link`]).
    pub link: Option<Link>,
    /// The gateway, if the destination is not on-link.
    pub gateway: Option<A>,
    /// Where frames go at layer 2: the gateway, or the destination itself when on-link.
    pub next_hop: A,
    /// MAC of `next_hop` if the neighbour table has a usable entry for it.
    pub next_hop_mac: Option<[u8; 6]>,
}

/// A network interface of the calling thread's namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    pub name: String,
    pub index: u32,
    /// Hardware address; all zeros for interfaces without one (loopback, tunnels).
    pub mac: [u8; 6],
    /// What a packet socket on it reads and writes before the IP header, from its link
    /// type (ARPHRD_*): Ethernet for Ethernet and loopback; nothing for the links without a
    /// hardware header (tun, WireGuard: ARPHRD_NONE; PPP; raw IP; IP-in-IP and SIT
    /// tunnels); `None` for any other type, which synsurvey does not know how to frame.
    pub link: Option<Link>,
    /// IPv4 addresses in the order the kernel lists them.
    pub ipv4: Vec<Ipv4Addr>,
    /// IPv6 addresses that are not link-local, in the order the kernel lists them.
    pub ipv6: Vec<Ipv6Addr>,
}

fn invalid_data(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

/// Sends one rtnetlink request and collects the replies.
///
/// Dump requests (`NLM_F_DUMP`) end at NLMSG_DONE; others are sent with NLM_F_ACK and end at
/// the acknowledgement. A netlink error reply becomes the matching `io::Error`.
fn request(payload: RouteNetlinkMessage, flags: u16) -> io::Result<Vec<RouteNetlinkMessage>> {
    let dump = flags & NLM_F_DUMP == NLM_F_DUMP;
    let mut socket = Socket::new(NETLINK_ROUTE)?;
    socket.bind_auto()?;
    socket.connect(&SocketAddr::new(0, 0))?;

    const SEQ: u32 = 1;
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | flags | if dump { 0 } else { NLM_F_ACK };
    header.sequence_number = SEQ;
    let mut msg = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(payload));
    msg.finalize();
    let mut out = vec![0u8; msg.buffer_len()];
    msg.serialize(&mut out);
    socket.send(&out, 0)?;

    let mut replies = Vec::new();
    let mut buf: Vec<u8> = Vec::with_capacity(64 * 1024);
    loop {
        buf.clear();
        let n = socket.recv(&mut buf, 0)?;
        let data = buf
            .get(..n)
            .ok_or_else(|| invalid_data("netlink reply truncated"))?;
        let mut off = 0usize;
        while off + 16 <= data.len() {
            let len_bytes: [u8; 4] = data[off..off + 4]
                .try_into()
                .map_err(|_| invalid_data("netlink header"))?;
            let len = u32::from_ne_bytes(len_bytes) as usize;
            if len < 16 || off + len > data.len() {
                return Err(invalid_data("bad netlink message length"));
            }
            let parsed = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&data[off..off + len])
                .map_err(|e| invalid_data(format!("cannot parse netlink reply: {e}")))?;
            off += (len + 3) & !3;
            if parsed.header.sequence_number != SEQ {
                continue;
            }
            match parsed.payload {
                NetlinkPayload::InnerMessage(m) => {
                    replies.push(m);
                }
                NetlinkPayload::Error(e) => {
                    return match e.code {
                        None => Ok(replies),
                        Some(_) => Err(e.to_io()),
                    };
                }
                NetlinkPayload::Done(d) => {
                    return if d.code < 0 {
                        Err(io::Error::from_raw_os_error(-d.code))
                    } else {
                        Ok(replies)
                    };
                }
                NetlinkPayload::Overrun(_) => return Err(invalid_data("netlink overrun")),
                _ => {}
            }
        }
    }
}

fn mac6(bytes: &[u8]) -> Option<[u8; 6]> {
    bytes.try_into().ok()
}

/// How a link of this type frames IP packets for a packet socket (see [`Interface::link`]).
fn link_of(t: LinkLayerType) -> Option<Link> {
    match t {
        LinkLayerType::Ether | LinkLayerType::Loopback => Some(Link::Ethernet),
        LinkLayerType::None
        | LinkLayerType::Ppp
        | LinkLayerType::Rawip
        | LinkLayerType::Tunnel
        | LinkLayerType::Tunnel6
        | LinkLayerType::Sit => Some(Link::Ip),
        _ => None,
    }
}

/// One link of the namespace as [`links`] lists it.
struct LinkRow {
    index: u32,
    name: String,
    mac: [u8; 6],
    link: Option<Link>,
}

/// All links of the namespace.
fn links() -> io::Result<Vec<LinkRow>> {
    let replies = request(
        RouteNetlinkMessage::GetLink(LinkMessage::default()),
        NLM_F_DUMP,
    )?;
    Ok(replies
        .into_iter()
        .filter_map(|m| match m {
            RouteNetlinkMessage::NewLink(link) => Some(link),
            _ => None,
        })
        .map(|link| {
            let mut name = String::new();
            let mut mac = [0u8; 6];
            for attr in link.attributes {
                match attr {
                    LinkAttribute::IfName(n) => name = n,
                    LinkAttribute::Address(a) => mac = mac6(&a).unwrap_or([0; 6]),
                    _ => {}
                }
            }
            LinkRow {
                index: link.header.index,
                name,
                mac,
                link: link_of(link.header.link_layer_type),
            }
        })
        .collect())
}

/// Addresses of interface `index` in `family`, in kernel order.
fn addresses(index: u32, family: AddressFamily) -> io::Result<Vec<IpAddr>> {
    let mut req = AddressMessage::default();
    req.header.family = family;
    let replies = request(RouteNetlinkMessage::GetAddress(req), NLM_F_DUMP)?;
    let mut out = Vec::new();
    for m in replies {
        let RouteNetlinkMessage::NewAddress(addr) = m else {
            continue;
        };
        if addr.header.index != index || addr.header.family != family {
            continue;
        }
        // IFA_LOCAL is the interface's own address; IFA_ADDRESS is the peer on point-to-point
        // links and equal to IFA_LOCAL otherwise.
        let mut local = None;
        let mut address = None;
        for attr in addr.attributes {
            match attr {
                AddressAttribute::Local(ip) => local = Some(ip),
                AddressAttribute::Address(ip) => address = Some(ip),
                _ => {}
            }
        }
        if let Some(ip) = local.or(address) {
            out.push(ip);
        }
    }
    Ok(out)
}

fn interface_by(pred: impl Fn(u32, &str) -> bool, what: &str) -> io::Result<Interface> {
    let LinkRow {
        index,
        name,
        mac,
        link,
    } = links()?
        .into_iter()
        .find(|r| pred(r.index, &r.name))
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("no interface {what}")))?;
    let ipv4 = addresses(index, AddressFamily::Inet)?
        .into_iter()
        .filter_map(|a| match a {
            IpAddr::V4(a) => Some(a),
            IpAddr::V6(_) => None,
        })
        .collect();
    // Link-local addresses (fe80::/10) reach only the link: never a scan's source.
    let ipv6 = addresses(index, AddressFamily::Inet6)?
        .into_iter()
        .filter_map(|a| match a {
            IpAddr::V6(a) if a.segments()[0] & 0xffc0 != 0xfe80 => Some(a),
            _ => None,
        })
        .collect();
    Ok(Interface {
        name,
        index,
        mac,
        link,
        ipv4,
        ipv6,
    })
}

/// Looks up interface `name`: index, MAC and IPv4 addresses. `ErrorKind::NotFound` (with the
/// name in the message) if there is no such interface.
pub fn interface(name: &str) -> io::Result<Interface> {
    interface_by(|_, n| n == name, &format!("named {name:?}"))
}

/// Looks up an interface by index (`ErrorKind::NotFound` if missing).
pub fn interface_by_index(index: u32) -> io::Result<Interface> {
    interface_by(|i, _| i == index, &format!("with index {index}"))
}

/// True for neighbour states whose link-layer address can be used to send.
fn usable(state: NeighbourState) -> bool {
    matches!(
        state,
        NeighbourState::Reachable
            | NeighbourState::Stale
            | NeighbourState::Delay
            | NeighbourState::Probe
            | NeighbourState::Permanent
            | NeighbourState::Noarp
    )
}

/// The MAC of `ip` on interface `ifindex` from the neighbour table, if there is an entry in a
/// usable state (REACHABLE, STALE, DELAY, PROBE, PERMANENT or NOARP).
pub fn neighbour_mac<A: NetAddr>(ifindex: u32, ip: A) -> io::Result<Option<[u8; 6]>> {
    let mut req = NeighbourMessage::default();
    req.header.family = A::FAMILY;
    let replies = request(RouteNetlinkMessage::GetNeighbour(req), NLM_F_DUMP)?;
    for m in replies {
        let RouteNetlinkMessage::NewNeighbour(n) = m else {
            continue;
        };
        if n.header.ifindex != ifindex || !usable(n.header.state) {
            continue;
        }
        let mut dst = None;
        let mut lladdr = None;
        for attr in n.attributes {
            match attr {
                NeighbourAttribute::Destination(a) => dst = A::from_neigh(&a),
                NeighbourAttribute::LinkLayerAddress(l) => lladdr = mac6(&l),
                _ => {}
            }
        }
        if dst == Some(ip) {
            if let Some(mac) = lladdr {
                return Ok(Some(mac));
            }
        }
    }
    Ok(None)
}

/// Returns the MAC of `ip` on `ifindex`, asking the kernel to resolve it if unknown.
///
/// The request is RTM_NEWNEIGH with NTF_USE (what `ip neigh replace ... use` sends): it
/// creates the entry if needed and kicks the kernel's normal resolution, which sends ARP
/// requests for `ip` only. The neighbour table is then polled until `wait` has passed.
/// Returns `Ok(None)` if `ip` did not answer in time.
pub fn resolve_neighbour<A: NetAddr>(
    ifindex: u32,
    ip: A,
    wait: Duration,
) -> io::Result<Option<[u8; 6]>> {
    if let Some(mac) = neighbour_mac(ifindex, ip)? {
        return Ok(Some(mac));
    }
    let mut req = NeighbourMessage::default();
    req.header.family = A::FAMILY;
    req.header.ifindex = ifindex;
    req.header.state = NeighbourState::None;
    req.header.flags = NeighbourFlags::Use;
    req.attributes
        .push(NeighbourAttribute::Destination(ip.into()));
    request(RouteNetlinkMessage::NewNeighbour(req), NLM_F_CREATE)?;

    let deadline = Instant::now() + wait;
    loop {
        if let Some(mac) = neighbour_mac(ifindex, ip)? {
            return Ok(Some(mac));
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(None);
        }
        std::thread::sleep((deadline - now).min(Duration::from_millis(20)));
    }
}

/// The kernel's answers to "how would you route to `dst`?" (RTM_GETROUTE for the host
/// route of `dst`).
fn get_route<A: NetAddr>(dst: A) -> io::Result<Vec<RouteNetlinkMessage>> {
    let mut req = RouteMessage::default();
    req.header.address_family = A::FAMILY;
    req.header.destination_prefix_length = if A::FAMILY == AddressFamily::Inet {
        32
    } else {
        128
    };
    req.attributes.push(RouteAttribute::Destination(dst.into()));
    request(RouteNetlinkMessage::GetRoute(req), 0)
}

/// Whether `addr` is an address of this host: the kernel routes it locally (an address
/// of any interface, or a `local` route such as AnyIP's `ip route add local PREFIX dev lo`).
pub fn is_local<A: NetAddr>(addr: A) -> io::Result<bool> {
    let replies = get_route(addr)?;
    Ok(replies.into_iter().any(|m| {
        matches!(m, RouteNetlinkMessage::NewRoute(r)
            if r.header.kind == netlink_packet_route::route::RouteType::Local)
    }))
}

/// Finds how the kernel would route to `dst` (see [`Route`]).
///
/// Errors: the kernel's own (e.g. ENETUNREACH "Network is unreachable" when there is no
/// route), or `InvalidData` if the route has no output interface or no source of the family.
pub fn route_to<A: NetAddr>(dst: A) -> io::Result<Route<A>> {
    let replies = get_route(dst)?;
    let route = replies
        .into_iter()
        .find_map(|m| match m {
            RouteNetlinkMessage::NewRoute(r) => Some(r),
            _ => None,
        })
        .ok_or_else(|| invalid_data(format!("kernel returned no route to {dst}")))?;

    let mut oif = None;
    let mut gateway = None;
    let mut pref_src = None;
    for attr in route.attributes {
        match attr {
            RouteAttribute::Oif(i) => oif = Some(i),
            RouteAttribute::Gateway(g) => gateway = A::from_route(&g),
            RouteAttribute::PrefSource(s) => pref_src = A::from_route(&s),
            _ => {}
        }
    }
    let ifindex =
        oif.ok_or_else(|| invalid_data(format!("route to {dst} has no output interface")))?;
    let iface = interface_by_index(ifindex)?;
    let src_ip = match pref_src.or_else(|| A::of(&iface)) {
        Some(ip) => ip,
        None => {
            let family = if A::FAMILY == AddressFamily::Inet {
                "IPv4"
            } else {
                "IPv6"
            };
            return Err(invalid_data(format!(
                "interface {} has no {family} address to send from",
                iface.name
            )));
        }
    };
    let next_hop = gateway.unwrap_or(dst);
    // A link without a hardware header has no neighbours to look up.
    let next_hop_mac = match iface.link {
        Some(Link::Ip) => None,
        _ => neighbour_mac(ifindex, next_hop)?,
    };
    Ok(Route {
        ifname: iface.name,
        ifindex,
        src_ip,
        src_mac: iface.mac,
        link: iface.link,
        gateway,
        next_hop,
        next_hop_mac,
    })
}
