//! IPv4 headers (RFC 791).

use std::net::Ipv4Addr;

use super::{checksum, Error, Result};

pub const HEADER_LEN: usize = 20;
pub const PROTOCOL_TCP: u8 = 6;

mod field {
    use core::ops::Range;
    pub const VER_IHL: usize = 0;
    pub const DSCP_ECN: usize = 1;
    pub const LENGTH: Range<usize> = 2..4;
    pub const IDENT: Range<usize> = 4..6;
    pub const FLG_OFF: Range<usize> = 6..8;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: Range<usize> = 10..12;
    pub const SRC_ADDR: Range<usize> = 12..16;
    pub const DST_ADDR: Range<usize> = 16..20;
}

const FLAG_DF: u16 = 0x4000;
const FLAG_MF: u16 = 0x2000;
const OFFSET_MASK: u16 = 0x1fff;

view! {
    /// A view of an IPv4 packet.
    ///
    /// A captured packet may be cut short by the capture length: `new_checked` requires the
    /// whole header, and [`Packet::payload`] returns what was captured of the payload.
    pub struct Packet<T: AsRef<[u8]>>;
    min_len: HEADER_LEN, then check_header;
    dscp_ecn, set_dscp_ecn: u8 = field::DSCP_ECN;
    total_len, set_total_len: u16 = field::LENGTH;
    ident, set_ident: u16 = field::IDENT;
    ttl, set_ttl: u8 = field::TTL;
    protocol, set_protocol: u8 = field::PROTOCOL;
    checksum, set_checksum: u16 = field::CHECKSUM;
    src_addr, set_src_addr: Ipv4Addr = field::SRC_ADDR;
    dst_addr, set_dst_addr: Ipv4Addr = field::DST_ADDR;
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Checks the version, that the header (with options) was captured, and that the
    /// total length is at least the header length.
    fn check_header(&self) -> Result<()> {
        if self.version() != 4 {
            return Err(Error::Malformed);
        }
        let header_len = self.header_len();
        if header_len < HEADER_LEN || usize::from(self.total_len()) < header_len {
            return Err(Error::Malformed);
        }
        if self.buffer.as_ref().len() < header_len {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }

    /// Header length in bytes, from the IHL field.
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::VER_IHL] & 0x0f) * 4
    }

    fn flags_and_offset(&self) -> u16 {
        self.read(field::FLG_OFF)
    }

    pub fn dont_frag(&self) -> bool {
        self.flags_and_offset() & FLAG_DF != 0
    }

    pub fn more_frags(&self) -> bool {
        self.flags_and_offset() & FLAG_MF != 0
    }

    /// Fragment offset in bytes.
    pub fn frag_offset(&self) -> u16 {
        (self.flags_and_offset() & OFFSET_MASK) << 3
    }

    /// The header checksum is correct (including options).
    pub fn verify_checksum(&self) -> bool {
        checksum::fold(checksum::add(0, &self.buffer.as_ref()[..self.header_len()])) == 0
    }

    /// The payload as far as it was captured: from the end of the header to the total
    /// length, or to the end of the buffer if that comes first.
    pub fn payload(&self) -> &[u8] {
        let data = self.buffer.as_ref();
        let end = usize::from(self.total_len()).min(data.len());
        &data[self.header_len()..end]
    }
}

impl<'a> Packet<&'a [u8]> {
    /// Reads `captured` as a whole IPv4 packet (not a fragment) carrying `protocol`, as
    /// every reply the scan reads is: a fragment cannot be validated on its own, and
    /// replies to SYNs are never fragmented.
    pub fn carrying(captured: &'a [u8], protocol: u8) -> Result<Self> {
        let ip = Packet::new_checked(captured)?;
        if ip.protocol() != protocol {
            return Err(Error::Protocol);
        }
        if ip.frag_offset() != 0 || ip.more_frags() {
            return Err(Error::Malformed);
        }
        Ok(ip)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets version 4 and the header length in bytes (a multiple of 4).
    pub fn set_version_and_header_len(&mut self, header_len: usize) {
        self.buffer.as_mut()[field::VER_IHL] = 0x40 | ((header_len / 4) as u8 & 0x0f);
    }

    /// Sets the flags and fragment offset: don't-fragment as given, not a fragment.
    pub fn set_dont_frag(&mut self, df: bool) {
        self.write(field::FLG_OFF, if df { FLAG_DF } else { 0u16 });
    }

    /// Computes the header checksum and writes it.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let sum = checksum::checksum(&self.buffer.as_ref()[..self.header_len()]);
        self.set_checksum(sum);
    }

    pub fn payload_mut(&mut self) -> &mut [u8] {
        let header_len = self.header_len();
        let end = usize::from(self.total_len()).min(self.buffer.as_ref().len());
        &mut self.buffer.as_mut()[header_len..end]
    }
}

#[cfg(test)]
pub(crate) mod test {
    use super::*;

    /// The IPv4 header of a SYN from 198.19.0.1 to 198.18.3.7, id 0x1234, DF, TTL 64,
    /// total length 60 (a 40-byte TCP header follows).
    pub(crate) static HEADER_BYTES: [u8; 20] = [
        0x45, 0x00, 0x00, 0x3c, 0x12, 0x34, 0x40, 0x00, 0x40, 0x06, 0x99, 0x5a, 0xc6, 0x13, 0x00,
        0x01, 0xc6, 0x12, 0x03, 0x07,
    ];

    fn packet_bytes() -> Vec<u8> {
        let mut v = HEADER_BYTES.to_vec();
        v.extend_from_slice(&[0u8; 40]);
        v
    }

    #[test]
    fn deconstruct() {
        let bytes = packet_bytes();
        let p = Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(p.version(), 4);
        assert_eq!(p.header_len(), 20);
        assert_eq!(p.total_len(), 60);
        assert_eq!(p.ident(), 0x1234);
        assert!(p.dont_frag());
        assert!(!p.more_frags());
        assert_eq!(p.frag_offset(), 0);
        assert_eq!(p.ttl(), 64);
        assert_eq!(p.protocol(), PROTOCOL_TCP);
        assert_eq!(p.checksum(), 0x995a);
        assert_eq!(p.src_addr(), Ipv4Addr::new(198, 19, 0, 1));
        assert_eq!(p.dst_addr(), Ipv4Addr::new(198, 18, 3, 7));
        assert!(p.verify_checksum());
        assert_eq!(p.payload().len(), 40);
    }

    #[test]
    fn construct() {
        let mut bytes = [0u8; 20];
        let mut p = Packet::new_unchecked(&mut bytes[..]);
        p.set_version_and_header_len(20);
        p.set_total_len(60);
        p.set_ident(0x1234);
        p.set_dont_frag(true);
        p.set_ttl(64);
        p.set_protocol(PROTOCOL_TCP);
        p.set_src_addr(Ipv4Addr::new(198, 19, 0, 1));
        p.set_dst_addr(Ipv4Addr::new(198, 18, 3, 7));
        p.fill_checksum();
        assert_eq!(bytes, HEADER_BYTES);
    }

    #[test]
    fn checksum() {
        let mut bytes = HEADER_BYTES;
        bytes[8] = 63; // TTL changed: checksum no longer matches
        assert!(!Packet::new_checked(&bytes[..]).unwrap().verify_checksum());
        let reference = pnet_packet::ipv4::checksum(
            &pnet_packet::ipv4::Ipv4Packet::new(&HEADER_BYTES).unwrap(),
        );
        assert_eq!(reference, 0x995a);
    }

    #[test]
    fn truncated() {
        let bytes = packet_bytes();
        for len in 0..HEADER_LEN {
            assert_eq!(
                Packet::new_checked(&bytes[..len]).err(),
                Some(Error::Truncated)
            );
        }
        // A capture cut inside the payload is still a readable header.
        let p = Packet::new_checked(&bytes[..30]).unwrap();
        assert_eq!(p.payload().len(), 10);
    }

    #[test]
    fn malformed() {
        let mut bytes = packet_bytes();
        bytes[0] = 0x65; // version 6
        assert_eq!(
            Packet::new_checked(&bytes[..]).err(),
            Some(Error::Malformed)
        );
        bytes[0] = 0x44; // IHL 4 (16 bytes) is below the minimum
        assert_eq!(
            Packet::new_checked(&bytes[..]).err(),
            Some(Error::Malformed)
        );
        bytes[0] = 0x4f; // IHL 15 (60 bytes) but only 60 bytes total: ok
        assert!(Packet::new_checked(&bytes[..]).is_ok());
        bytes[0] = 0x45;
        bytes[2..4].copy_from_slice(&10u16.to_be_bytes()); // total length below header
        assert_eq!(
            Packet::new_checked(&bytes[..]).err(),
            Some(Error::Malformed)
        );
        let mut short = packet_bytes();
        short[0] = 0x4f;
        assert_eq!(
            Packet::new_checked(&short[..40]).err(),
            Some(Error::Truncated)
        );
    }

    #[test]
    fn options_are_skipped() {
        // IHL 6: one word of options (NOP NOP NOP EOL) before the payload.
        let mut bytes = vec![
            0x46, 0, 0, 28, 0, 0, 0, 0, 64, 6, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8,
        ];
        bytes.extend_from_slice(&[1, 1, 1, 0, 0xaa, 0xbb, 0xcc, 0xdd]);
        let mut p = Packet::new_checked(&mut bytes[..]).unwrap();
        p.fill_checksum();
        assert!(p.verify_checksum());
        assert_eq!(p.payload(), &[0xaa, 0xbb, 0xcc, 0xdd]);
    }

    #[test]
    fn fragments() {
        let mut bytes = packet_bytes();
        bytes[6..8].copy_from_slice(&(0x2000u16 | 3).to_be_bytes());
        let p = Packet::new_checked(&bytes[..]).unwrap();
        assert!(p.more_frags());
        assert_eq!(p.frag_offset(), 24);
    }
}
