//! The link layer under the IP packets: where a captured frame's IP header begins.
//!
//! An Ethernet interface hands a packet socket whole Ethernet frames. A link without a
//! hardware address (tun, WireGuard, PPP: ARPHRD_NONE, ARPHRD_PPP, ...) has no link
//! header at all: the frame is the IP packet. An 802.1Q tag never reaches the receiver
//! inside the frame: the kernel moves it into the packet's metadata before any packet
//! socket sees it (`skb_vlan_untag`), so a tagged reply reads as plain Ethernet here.

use super::{ethernet, Error, Result};

/// What precedes the IP header in a captured frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Link {
    /// An Ethernet II header (14 bytes).
    #[default]
    Ethernet,
    /// Nothing: an IP-layer link (`-X/--iplayer`).
    Ip,
}

impl Link {
    /// Bytes of link header before the IP header of a received frame.
    pub const fn header_len(self) -> usize {
        match self {
            Link::Ethernet => ethernet::HEADER_LEN,
            Link::Ip => 0,
        }
    }

    /// The IP packet inside `frame`, if its link header says it is of `ethertype`. On an
    /// IP-layer link the version nibble is left to the IP view's own check.
    pub fn ip_packet(self, frame: &[u8], ethertype: u16) -> Result<&[u8]> {
        match self {
            Link::Ethernet => ethernet::payload_of(frame, ethertype),
            Link::Ip if frame.is_empty() => Err(Error::Truncated),
            Link::Ip => Ok(frame),
        }
    }

    /// The name the metadata records.
    pub const fn as_str(self) -> &'static str {
        match self {
            Link::Ethernet => "ethernet",
            Link::Ip => "ip",
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn ip_packet() {
        let mut f = vec![0u8; 14 + 20];
        f[12..14].copy_from_slice(&ethernet::ETHERTYPE_IPV4.to_be_bytes());
        f[14] = 0x45;
        let ip = Link::Ethernet
            .ip_packet(&f, ethernet::ETHERTYPE_IPV4)
            .unwrap();
        assert_eq!(ip[0], 0x45);
        assert_eq!(ip.len(), 20);
        assert_eq!(
            Link::Ethernet.ip_packet(&f, ethernet::ETHERTYPE_IPV6),
            Err(Error::Protocol)
        );
        assert_eq!(
            Link::Ethernet.ip_packet(&f[..13], 0x0800),
            Err(Error::Truncated)
        );
        assert_eq!(Link::Ip.ip_packet(&f[14..], 0x0800).unwrap(), &f[14..]);
        assert_eq!(Link::Ip.ip_packet(&[], 0x0800), Err(Error::Truncated));
        assert_eq!(Link::Ethernet.header_len(), 14);
        assert_eq!(Link::Ip.header_len(), 0);
    }
}
