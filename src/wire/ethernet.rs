//! Ethernet II frames.

use super::{Error, Result};

pub const HEADER_LEN: usize = 14;
pub const ETHERTYPE_IPV4: u16 = 0x0800;
pub const ETHERTYPE_IPV6: u16 = 0x86dd;
/// The TPID of an IEEE 802.1Q tag, in the EtherType's place.
pub const ETHERTYPE_VLAN: u16 = 0x8100;
/// An 802.1Q tag's length: TPID and tag control information.
pub const VLAN_TAG_LEN: usize = 4;

mod field {
    use core::ops::{Range, RangeFrom};
    pub const DESTINATION: Range<usize> = 0..6;
    pub const SOURCE: Range<usize> = 6..12;
    pub const ETHERTYPE: Range<usize> = 12..14;
    pub const PAYLOAD: RangeFrom<usize> = 14..;
}

view! {
    /// A view of an Ethernet II frame: `new_checked` requires the whole header.
    pub struct Frame<T: AsRef<[u8]>>;
    min_len: HEADER_LEN;
    dst_addr, set_dst_addr: [u8; 6] = field::DESTINATION;
    src_addr, set_src_addr: [u8; 6] = field::SOURCE;
    ethertype, set_ethertype: u16 = field::ETHERTYPE;
}

impl<T: AsRef<[u8]>> Frame<T> {
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::PAYLOAD]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Frame<T> {
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::PAYLOAD]
    }
}

/// The payload of the Ethernet frame `frame` if its ethertype is `ethertype`.
pub(crate) fn payload_of(frame: &[u8], ethertype: u16) -> Result<&[u8]> {
    let eth = Frame::new_checked(frame)?;
    if eth.ethertype() != ethertype {
        return Err(Error::Protocol);
    }
    Ok(&frame[field::PAYLOAD])
}

/// Formats a MAC address as `aa:bb:cc:dd:ee:ff`.
pub fn format_mac(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Parses `aa:bb:cc:dd:ee:ff` (also with `-` separators).
pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut out = [0u8; 6];
    let mut parts = s.split([':', '-']);
    for byte in out.iter_mut() {
        let p = parts.next()?;
        if p.len() != 2 {
            return None;
        }
        *byte = u8::from_str_radix(p, 16).ok()?;
    }
    parts.next().is_none().then_some(out)
}

#[cfg(test)]
mod test {
    use super::*;

    static FRAME_BYTES: [u8; 18] = [
        0x02, 0x00, 0x00, 0x00, 0x00, 0x02, // destination
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01, // source
        0x08, 0x00, // IPv4
        0xaa, 0xbb, 0xcc, 0xdd, // payload
    ];

    #[test]
    fn deconstruct() {
        let frame = Frame::new_checked(&FRAME_BYTES[..]).unwrap();
        assert_eq!(frame.dst_addr(), [2, 0, 0, 0, 0, 2]);
        assert_eq!(frame.src_addr(), [2, 0, 0, 0, 0, 1]);
        assert_eq!(frame.ethertype(), ETHERTYPE_IPV4);
        assert_eq!(frame.payload(), &[0xaa, 0xbb, 0xcc, 0xdd]);
    }

    #[test]
    fn construct() {
        let mut bytes = [0u8; 18];
        let mut frame = Frame::new_unchecked(&mut bytes[..]);
        frame.set_dst_addr([2, 0, 0, 0, 0, 2]);
        frame.set_src_addr([2, 0, 0, 0, 0, 1]);
        frame.set_ethertype(ETHERTYPE_IPV4);
        frame
            .payload_mut()
            .copy_from_slice(&[0xaa, 0xbb, 0xcc, 0xdd]);
        assert_eq!(bytes, FRAME_BYTES);
    }

    #[test]
    fn truncated() {
        for len in 0..HEADER_LEN {
            assert_eq!(
                Frame::new_checked(&FRAME_BYTES[..len]).err(),
                Some(Error::Truncated)
            );
        }
        assert!(Frame::new_checked(&FRAME_BYTES[..HEADER_LEN]).is_ok());
    }

    #[test]
    fn mac_text() {
        assert_eq!(parse_mac("02:00:0a:ff:00:01"), Some([2, 0, 10, 255, 0, 1]));
        assert_eq!(parse_mac("02-00-0A-FF-00-01"), Some([2, 0, 10, 255, 0, 1]));
        assert_eq!(parse_mac("02:00:0a:ff:00"), None);
        assert_eq!(parse_mac("02:00:0a:ff:00:01:02"), None);
        assert_eq!(parse_mac("02:00:0a:ff:00:1"), None);
        assert_eq!(parse_mac("zz:00:0a:ff:00:01"), None);
        assert_eq!(format_mac(&[2, 0, 10, 255, 0, 1]), "02:00:0a:ff:00:01");
    }
}
