//! TCP headers (RFC 9293) and the options a SYN and a SYN-ACK carry.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::{checksum, Error, Result};

pub const HEADER_LEN: usize = 20;

mod field {
    use core::ops::Range;
    pub const SRC_PORT: Range<usize> = 0..2;
    pub const DST_PORT: Range<usize> = 2..4;
    pub const SEQ_NUM: Range<usize> = 4..8;
    pub const ACK_NUM: Range<usize> = 8..12;
    pub const DATA_OFFSET: usize = 12;
    pub const FLAGS: usize = 13;
    pub const WINDOW: Range<usize> = 14..16;
    pub const CHECKSUM: Range<usize> = 16..18;
    pub const URGENT: Range<usize> = 18..20;
    pub const OPTIONS: usize = 20;
}

/// TCP flag bits as they appear in byte 13 of the header.
pub mod flags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
    pub const URG: u8 = 0x20;
}

/// Option kinds (IANA "TCP Option Kind Numbers").
pub mod option {
    pub const END: u8 = 0;
    pub const NOP: u8 = 1;
    pub const MSS: u8 = 2;
    pub const WINDOW_SCALE: u8 = 3;
    pub const SACK_PERMITTED: u8 = 4;
    pub const TIMESTAMP: u8 = 8;
}

view! {
    /// A view of a TCP segment.
    ///
    /// `new_checked` requires the fixed 20-byte header and a data offset of at least 5 words.
    /// A capture may end inside the options: [`Packet::options`] returns what was captured.
    pub struct Packet<T: AsRef<[u8]>>;
    min_len: HEADER_LEN, then check_data_offset;
    src_port, set_src_port: u16 = field::SRC_PORT;
    dst_port, set_dst_port: u16 = field::DST_PORT;
    seq_number, set_seq_number: u32 = field::SEQ_NUM;
    ack_number, set_ack_number: u32 = field::ACK_NUM;
    /// The flag byte (FIN, SYN, RST, PSH, ACK, URG, ECE, CWR); see [`flags`].
    flags, set_flags: u8 = field::FLAGS;
    window_len, set_window_len: u16 = field::WINDOW;
    checksum, set_checksum: u16 = field::CHECKSUM;
    urgent_at, set_urgent_at: u16 = field::URGENT;
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// A data offset below 5 words is malformed.
    fn check_data_offset(&self) -> Result<()> {
        if self.header_len() < HEADER_LEN {
            return Err(Error::Malformed);
        }
        Ok(())
    }

    /// Header length in bytes, from the data offset field.
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::DATA_OFFSET] >> 4) * 4
    }

    /// The option bytes, as far as they were captured.
    pub fn options(&self) -> &[u8] {
        let data = self.buffer.as_ref();
        let end = self.header_len().min(data.len());
        &data[field::OPTIONS..end]
    }

    /// Verifies the checksum over the whole buffer, which must be the complete segment.
    pub fn verify_checksum(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        let data = self.buffer.as_ref();
        let Ok(len) = u16::try_from(data.len()) else {
            return false;
        };
        let sum = checksum::pseudo_header(src, dst, super::ipv4::PROTOCOL_TCP, len);
        checksum::fold(checksum::add(sum, data)) == 0
    }

    /// Verifies the checksum with the IPv6 pseudo-header; the buffer is the whole segment.
    pub fn verify_checksum_v6(&self, src: Ipv6Addr, dst: Ipv6Addr) -> bool {
        let data = self.buffer.as_ref();
        let Ok(len) = u32::try_from(data.len()) else {
            return false;
        };
        let sum = checksum::pseudo_header_v6(src, dst, super::ipv6::NEXT_HEADER_TCP, len);
        checksum::fold(checksum::add(sum, data)) == 0
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the header length in bytes (a multiple of 4, 20 to 60).
    pub fn set_header_len(&mut self, len: usize) {
        self.buffer.as_mut()[field::DATA_OFFSET] = ((len / 4) as u8) << 4;
    }

    pub fn options_mut(&mut self) -> &mut [u8] {
        let end = self.header_len().min(self.buffer.as_ref().len());
        &mut self.buffer.as_mut()[field::OPTIONS..end]
    }

    /// Computes the checksum over the whole buffer (the complete segment) and writes it.
    pub fn fill_checksum(&mut self, src: Ipv4Addr, dst: Ipv4Addr) {
        self.set_checksum(0);
        let len = self.buffer.as_ref().len() as u16;
        let sum = checksum::pseudo_header(src, dst, super::ipv4::PROTOCOL_TCP, len);
        let sum = checksum::fold(checksum::add(sum, self.buffer.as_ref()));
        self.set_checksum(sum);
    }

    /// Computes the checksum with the IPv6 pseudo-header and writes it.
    pub fn fill_checksum_v6(&mut self, src: Ipv6Addr, dst: Ipv6Addr) {
        self.set_checksum(0);
        let len = self.buffer.as_ref().len() as u32;
        let sum = checksum::pseudo_header_v6(src, dst, super::ipv6::NEXT_HEADER_TCP, len);
        let sum = checksum::fold(checksum::add(sum, self.buffer.as_ref()));
        self.set_checksum(sum);
    }
}

/// One TCP option as read from the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpOption<'a> {
    End,
    NoOp,
    MaxSegmentSize(u16),
    WindowScale(u8),
    SackPermitted,
    Timestamp { tsval: u32, tsecr: u32 },
    Unknown { kind: u8, data: &'a [u8] },
}

/// Iterates over the options in a byte slice. Stops at the end-of-list option, at the end
/// of the slice, and at the first malformed option (a length that is too short or runs
/// past the end, or a known option with the wrong length), after yielding `Err` once.
pub struct Options<'a> {
    rest: &'a [u8],
}

impl<'a> Options<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Options { rest: bytes }
    }
}

impl<'a> Iterator for Options<'a> {
    type Item = Result<TcpOption<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        let (&kind, after_kind) = self.rest.split_first()?;
        match kind {
            option::END => {
                self.rest = &[];
                Some(Ok(TcpOption::End))
            }
            option::NOP => {
                self.rest = after_kind;
                Some(Ok(TcpOption::NoOp))
            }
            _ => {
                let Some(&len) = after_kind.first() else {
                    self.rest = &[];
                    return Some(Err(Error::Truncated));
                };
                let len = usize::from(len);
                if len < 2 || len > self.rest.len() {
                    self.rest = &[];
                    return Some(Err(if len < 2 {
                        Error::Malformed
                    } else {
                        Error::Truncated
                    }));
                }
                let data = &self.rest[2..len];
                self.rest = &self.rest[len..];
                let opt = match (kind, data.len()) {
                    (option::MSS, 2) => {
                        TcpOption::MaxSegmentSize(u16::from_be_bytes([data[0], data[1]]))
                    }
                    (option::WINDOW_SCALE, 1) => TcpOption::WindowScale(data[0]),
                    (option::SACK_PERMITTED, 0) => TcpOption::SackPermitted,
                    (option::TIMESTAMP, 8) => TcpOption::Timestamp {
                        tsval: u32::from_be_bytes([data[0], data[1], data[2], data[3]]),
                        tsecr: u32::from_be_bytes([data[4], data[5], data[6], data[7]]),
                    },
                    (
                        option::MSS
                        | option::WINDOW_SCALE
                        | option::SACK_PERMITTED
                        | option::TIMESTAMP,
                        _,
                    ) => {
                        self.rest = &[];
                        return Some(Err(Error::Malformed));
                    }
                    _ => TcpOption::Unknown { kind, data },
                };
                Some(Ok(opt))
            }
        }
    }
}

/// The options of a reply that the output reports, parsed leniently: whatever came
/// before a malformed option is kept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OptionSummary {
    pub mss: Option<u16>,
    pub wscale: Option<u8>,
    pub sack_permitted: bool,
    pub timestamp: Option<(u32, u32)>,
    /// The option list was cut short or malformed.
    pub malformed: bool,
}

impl OptionSummary {
    pub fn parse(bytes: &[u8]) -> Self {
        let mut s = OptionSummary::default();
        for opt in Options::new(bytes) {
            match opt {
                Ok(TcpOption::MaxSegmentSize(v)) => s.mss = Some(v),
                Ok(TcpOption::WindowScale(v)) => s.wscale = Some(v),
                Ok(TcpOption::SackPermitted) => s.sack_permitted = true,
                Ok(TcpOption::Timestamp { tsval, tsecr }) => s.timestamp = Some((tsval, tsecr)),
                Ok(_) => {}
                Err(_) => s.malformed = true,
            }
        }
        s
    }
}

#[cfg(test)]
pub(crate) mod test {
    use super::*;

    const SRC: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 1);
    const DST: Ipv4Addr = Ipv4Addr::new(198, 18, 3, 7);

    /// A SYN 198.19.0.1:40001 -> 198.18.3.7:80, seq 0xdeadbeef, window 64240, options
    /// MSS 1460, SACK permitted, timestamps (0x01020304, 0), NOP, window scale 7.
    pub(crate) static SYN_PACKET_BYTES: [u8; 40] = [
        0x9c, 0x41, 0x00, 0x50, 0xde, 0xad, 0xbe, 0xef, 0x00, 0x00, 0x00, 0x00, 0xa0, 0x02, 0xfa,
        0xf0, 0x7f, 0xac, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a, 0x01, 0x02,
        0x03, 0x04, 0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x03, 0x07,
    ];

    /// The SYN-ACK a Linux host sends back: 198.18.3.7:80 -> 198.19.0.1:40001,
    /// seq 0x11223344, ack 0xdeadbef0, window 65160, TSval 42 echoing 0x01020304.
    pub(crate) static SYN_ACK_PACKET_BYTES: [u8; 40] = [
        0x00, 0x50, 0x9c, 0x41, 0x11, 0x22, 0x33, 0x44, 0xde, 0xad, 0xbe, 0xf0, 0xa0, 0x12, 0xfe,
        0x88, 0x37, 0x73, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a, 0x00, 0x00,
        0x00, 0x2a, 0x01, 0x02, 0x03, 0x04, 0x01, 0x03, 0x03, 0x07,
    ];

    #[test]
    fn deconstruct() {
        let p = Packet::new_checked(&SYN_PACKET_BYTES[..]).unwrap();
        assert_eq!(p.src_port(), 40001);
        assert_eq!(p.dst_port(), 80);
        assert_eq!(p.seq_number(), 0xdeadbeef);
        assert_eq!(p.ack_number(), 0);
        assert_eq!(p.header_len(), 40);
        assert_eq!(p.flags(), flags::SYN);
        assert_eq!(p.window_len(), 64240);
        assert_eq!(p.checksum(), 0x7fac);
        assert!(p.verify_checksum(SRC, DST));
        let opts: Vec<_> = Options::new(p.options()).map(|o| o.unwrap()).collect();
        assert_eq!(
            opts,
            vec![
                TcpOption::MaxSegmentSize(1460),
                TcpOption::SackPermitted,
                TcpOption::Timestamp {
                    tsval: 0x01020304,
                    tsecr: 0
                },
                TcpOption::NoOp,
                TcpOption::WindowScale(7),
            ]
        );
    }

    #[test]
    fn construct() {
        let mut bytes = [0u8; 40];
        let mut p = Packet::new_unchecked(&mut bytes[..]);
        p.set_src_port(40001);
        p.set_dst_port(80);
        p.set_seq_number(0xdeadbeef);
        p.set_header_len(40);
        p.set_flags(flags::SYN);
        p.set_window_len(64240);
        p.options_mut().copy_from_slice(&SYN_PACKET_BYTES[20..]);
        p.fill_checksum(SRC, DST);
        assert_eq!(bytes, SYN_PACKET_BYTES);
    }

    #[test]
    fn checksum() {
        let p = Packet::new_checked(&SYN_ACK_PACKET_BYTES[..]).unwrap();
        assert!(p.verify_checksum(DST, SRC));
        let other = Ipv4Addr::new(198, 18, 3, 8);
        assert!(
            !p.verify_checksum(other, SRC),
            "addresses are part of the checksum"
        );
        let reference = pnet_packet::tcp::ipv4_checksum(
            &pnet_packet::tcp::TcpPacket::new(&SYN_ACK_PACKET_BYTES).unwrap(),
            &DST,
            &SRC,
        );
        assert_eq!(reference, p.checksum());
        let mut bytes = SYN_ACK_PACKET_BYTES;
        bytes[9] ^= 1;
        assert!(!Packet::new_checked(&bytes[..])
            .unwrap()
            .verify_checksum(DST, SRC));
    }

    #[test]
    fn checksum_v6() {
        let src: Ipv6Addr = "2001:2::1".parse().unwrap();
        let dst: Ipv6Addr = "2001:2::7:9".parse().unwrap();
        let mut bytes = SYN_PACKET_BYTES;
        let mut p = Packet::new_unchecked(&mut bytes[..]);
        p.fill_checksum_v6(src, dst);
        let p = Packet::new_checked(&bytes[..]).unwrap();
        assert!(p.verify_checksum_v6(src, dst));
        assert!(!p.verify_checksum_v6(src, "2001:2::7:8".parse().unwrap()));
        let reference = pnet_packet::tcp::ipv6_checksum(
            &pnet_packet::tcp::TcpPacket::new(&bytes).unwrap(),
            &src,
            &dst,
        );
        assert_eq!(reference, p.checksum());
    }

    #[test]
    fn truncated() {
        for len in 0..HEADER_LEN {
            assert_eq!(
                Packet::new_checked(&SYN_PACKET_BYTES[..len]).err(),
                Some(Error::Truncated)
            );
        }
        // Cut inside the options: the header is readable, the options are what was captured.
        let p = Packet::new_checked(&SYN_PACKET_BYTES[..30]).unwrap();
        assert_eq!(p.options().len(), 10);
        let s = OptionSummary::parse(p.options());
        assert_eq!(s.mss, Some(1460));
        assert!(s.sack_permitted);
        assert_eq!(s.timestamp, None);
        assert!(s.malformed);
    }

    #[test]
    fn bad_data_offset() {
        let mut bytes = SYN_PACKET_BYTES;
        bytes[12] = 0x40; // 16 bytes: below the minimum
        assert_eq!(
            Packet::new_checked(&bytes[..]).err(),
            Some(Error::Malformed)
        );
        bytes[12] = 0xf0; // 60 bytes but only 40 captured
        let p = Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(p.options().len(), 20);
    }

    #[test]
    fn options_summary() {
        let s = OptionSummary::parse(&SYN_ACK_PACKET_BYTES[20..]);
        assert_eq!(
            s,
            OptionSummary {
                mss: Some(1460),
                wscale: Some(7),
                sack_permitted: true,
                timestamp: Some((42, 0x01020304)),
                malformed: false
            }
        );
    }

    #[test]
    fn malformed_options() {
        // zero length, length 1, overrun, wrong length for MSS, unknown kind, end of list
        assert_eq!(
            Options::new(&[2, 0, 5, 180]).next(),
            Some(Err(Error::Malformed))
        );
        assert_eq!(Options::new(&[30, 1]).next(), Some(Err(Error::Malformed)));
        assert_eq!(
            Options::new(&[8, 10, 0, 0]).next(),
            Some(Err(Error::Truncated))
        );
        assert_eq!(Options::new(&[2, 3, 5]).next(), Some(Err(Error::Malformed)));
        assert_eq!(Options::new(&[2]).next(), Some(Err(Error::Truncated)));
        let v: Vec<_> = Options::new(&[30, 3, 9, 0, 2, 4, 5, 180]).collect();
        assert_eq!(
            v,
            vec![
                Ok(TcpOption::Unknown {
                    kind: 30,
                    data: &[9]
                }),
                Ok(TcpOption::End)
            ]
        );
        // Iteration always ends, whatever the bytes.
        for b in 0..=255u8 {
            assert!(Options::new(&[b; 64]).count() <= 64);
        }
    }
}
