//! The output fields: ZMap's `tcp_synscan` fields with ZMap's names, types and meanings,
//! then synsurvey's own.
//!
//! Every field a result line can carry is a [`Field`], with one [`FieldDef`] in [`FIELDS`]
//! giving its name, its ZMap 2.x name where that differs (`saddr-raw`, `timestamp-ts`, ...,
//! accepted as aliases), its [`Kind`] and a one-line description. [`value`] reads a field
//! from a [`Record`] without allocating; the JSON and CSV writers and the output filter all
//! go through it, so a field means the same everywhere.
//!
//! Meanings that are easy to get wrong, checked against ZMap's own output:
//! * `timestamp_ts` is whole seconds since the epoch and `timestamp_us` the microseconds
//!   within that second; `timestamp_unix_us` (ours) is the full time in microseconds.
//! * `saddr_raw`/`daddr_raw` are the address's four bytes in network order read as a
//!   little-endian integer, which is what ZMap prints on the x86 and ARM machines it runs
//!   on (198.18.0.83 is 1392513734). An IPv6 address has no such integer: for IPv6
//!   records both fields are absent (left out of JSON lines, empty in CSV).
//! * Addresses are text in their standard form: dotted quad, or RFC 5952 for IPv6
//!   (lower case, longest run of zero groups as `::`), which is what `Ipv6Addr` prints.
//! * For an ICMP destination unreachable, `saddr` is the probed target, `icmp_responder`
//!   the host that sent the ICMP message, and the TCP fields are null (as in ZMap 4).

use std::net::{IpAddr, Ipv4Addr};

use crate::output::Record;

/// One output field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Saddr,
    SaddrRaw,
    Daddr,
    DaddrRaw,
    Ipid,
    Ttl,
    Sport,
    Dport,
    Seqnum,
    Acknum,
    Window,
    Classification,
    Success,
    IcmpResponder,
    IcmpType,
    IcmpCode,
    IcmpUnreachStr,
    Repeat,
    Cooldown,
    TimestampStr,
    TimestampTs,
    TimestampUs,
    TcpoptMss,
    TcpoptWscale,
    TcpoptSackPerm,
    TcpoptTsVal,
    TcpoptTsEcr,
    RttUs,
    TimestampUnixUs,
    /// An empty column (ZMap 4), e.g. for ZGrab2's `ip, domain, tag, port` input.
    Blank,
}

/// A field's type, as `--list-output-fields` shows it and the filter checks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Int,
    Str,
    Bool,
    /// Always empty (`blank`).
    Null,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Int => "int",
            Kind::Str => "string",
            Kind::Bool => "bool",
            Kind::Null => "null",
        }
    }
}

/// The definition of one field.
#[derive(Debug, Clone, Copy)]
pub struct FieldDef {
    pub field: Field,
    pub name: &'static str,
    /// ZMap 2.x's name, if it differs (accepted in `-f` and filters).
    pub alias: Option<&'static str>,
    pub kind: Kind,
    pub desc: &'static str,
}

const fn def(
    field: Field,
    name: &'static str,
    alias: Option<&'static str>,
    kind: Kind,
    desc: &'static str,
) -> FieldDef {
    FieldDef {
        field,
        name,
        alias,
        kind,
        desc,
    }
}

/// Every field, in the order `-f '*'` prints them: ZMap 4.3's first, in ZMap 4.3's order
/// (the `tcpopt_*` fields after `window`), then synsurvey's own.
pub const FIELDS: &[FieldDef] = &[
    def(
        Field::Saddr,
        "saddr",
        None,
        Kind::Str,
        "source IP address of the response (for an ICMP message, the probed target)",
    ),
    def(
        Field::SaddrRaw,
        "saddr_raw",
        Some("saddr-raw"),
        Kind::Int,
        "integer form of saddr as ZMap prints it (network-order bytes read little-endian); absent for IPv6",
    ),
    def(
        Field::Daddr,
        "daddr",
        None,
        Kind::Str,
        "destination IP address of the response (the scanner)",
    ),
    def(
        Field::DaddrRaw,
        "daddr_raw",
        Some("daddr-raw"),
        Kind::Int,
        "integer form of daddr as ZMap prints it; absent for IPv6",
    ),
    def(
        Field::Ipid,
        "ipid",
        None,
        Kind::Int,
        "IP identification number of the response",
    ),
    def(
        Field::Ttl,
        "ttl",
        None,
        Kind::Int,
        "time-to-live of the response packet",
    ),
    def(
        Field::Sport,
        "sport",
        None,
        Kind::Int,
        "TCP source port (the probed port)",
    ),
    def(
        Field::Dport,
        "dport",
        None,
        Kind::Int,
        "TCP destination port (the probe's source port)",
    ),
    def(
        Field::Seqnum,
        "seqnum",
        None,
        Kind::Int,
        "TCP sequence number",
    ),
    def(
        Field::Acknum,
        "acknum",
        None,
        Kind::Int,
        "TCP acknowledgement number",
    ),
    def(Field::Window, "window", None, Kind::Int, "TCP window"),
    def(
        Field::TcpoptMss,
        "tcpopt_mss",
        None,
        Kind::Int,
        "TCP MSS option of a SYN-ACK",
    ),
    def(
        Field::TcpoptWscale,
        "tcpopt_wscale",
        None,
        Kind::Int,
        "TCP window scale option",
    ),
    def(
        Field::TcpoptSackPerm,
        "tcpopt_sack_perm",
        None,
        Kind::Bool,
        "TCP SACK-permitted option present",
    ),
    def(
        Field::TcpoptTsVal,
        "tcpopt_ts_val",
        None,
        Kind::Int,
        "TCP timestamp option: value",
    ),
    def(
        Field::TcpoptTsEcr,
        "tcpopt_ts_ecr",
        None,
        Kind::Int,
        "TCP timestamp option: echo reply",
    ),
    def(
        Field::Classification,
        "classification",
        None,
        Kind::Str,
        "packet classification: synack, rst or icmp",
    ),
    def(
        Field::Success,
        "success",
        None,
        Kind::Bool,
        "is the response considered a success (a SYN-ACK)",
    ),
    def(
        Field::IcmpResponder,
        "icmp_responder",
        None,
        Kind::Str,
        "source IP address of an ICMP message",
    ),
    def(
        Field::IcmpType,
        "icmp_type",
        None,
        Kind::Int,
        "ICMP message type",
    ),
    def(
        Field::IcmpCode,
        "icmp_code",
        None,
        Kind::Int,
        "ICMP message code",
    ),
    def(
        Field::IcmpUnreachStr,
        "icmp_unreach_str",
        None,
        Kind::Str,
        "meaning of an ICMP destination unreachable's code",
    ),
    def(
        Field::Repeat,
        "repeat",
        None,
        Kind::Bool,
        "a SYN-ACK from this target was already seen",
    ),
    def(
        Field::Cooldown,
        "cooldown",
        None,
        Kind::Bool,
        "received after the last probe was sent",
    ),
    def(
        Field::TimestampStr,
        "timestamp_str",
        Some("timestamp-str"),
        Kind::Str,
        "time of arrival, ISO 8601 with milliseconds (UTC, +0000)",
    ),
    def(
        Field::TimestampTs,
        "timestamp_ts",
        Some("timestamp-ts"),
        Kind::Int,
        "time of arrival, whole seconds since the epoch",
    ),
    def(
        Field::TimestampUs,
        "timestamp_us",
        Some("timestamp-us"),
        Kind::Int,
        "microsecond part of the time of arrival (0 to 999999)",
    ),
    def(
        Field::RttUs,
        "rtt_us",
        None,
        Kind::Int,
        "round-trip time in microseconds, from the echoed TCP timestamp",
    ),
    def(
        Field::TimestampUnixUs,
        "timestamp_unix_us",
        None,
        Kind::Int,
        "time of arrival in microseconds since the epoch",
    ),
];

/// `blank`: not part of `*`, only named explicitly.
pub const BLANK: FieldDef = def(
    Field::Blank,
    "blank",
    None,
    Kind::Null,
    "an empty column (e.g. -f saddr,blank,blank,sport for ZGrab2)",
);

/// The fields of synsurvey's own JSON lines (neither `-O` nor `-f`):
/// absent values are left out rather than written as null.
pub const DEFAULT_JSON: &[Field] = &[
    Field::Saddr,
    Field::Daddr,
    Field::Sport,
    Field::Dport,
    Field::Seqnum,
    Field::Acknum,
    Field::Window,
    Field::Ttl,
    Field::Ipid,
    Field::TcpoptMss,
    Field::TcpoptWscale,
    Field::TcpoptSackPerm,
    Field::TcpoptTsVal,
    Field::TcpoptTsEcr,
    Field::Classification,
    Field::Success,
    Field::IcmpResponder,
    Field::IcmpType,
    Field::IcmpCode,
    Field::IcmpUnreachStr,
    Field::Repeat,
    Field::Cooldown,
    Field::TimestampStr,
    Field::TimestampTs,
    Field::TimestampUs,
    Field::TimestampUnixUs,
    Field::RttUs,
];

/// Looks a field up by its name or its ZMap 2.x alias.
pub fn lookup(name: &str) -> Option<&'static FieldDef> {
    if name == BLANK.name {
        return Some(&BLANK);
    }
    FIELDS
        .iter()
        .find(|d| d.name == name || d.alias == Some(name))
}

/// The definition of `f`.
pub fn def_of(f: Field) -> &'static FieldDef {
    FIELDS.iter().find(|d| d.field == f).unwrap_or(&BLANK)
}

/// A field's value in one record, borrowed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    Int(u64),
    Str(&'a str),
    Bool(bool),
    Addr(IpAddr),
    Null,
    /// A field the record's address family does not have (the raw integer of an IPv6
    /// address): left out of JSON lines, empty in CSV, null to the filter.
    Absent,
}

/// What an ICMP destination unreachable adds to a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IcmpInfo {
    /// The host that sent the ICMP message.
    pub responder: IpAddr,
    pub icmp_type: u8,
    pub code: u8,
}

/// The meaning of a destination-unreachable code, with ZMap's wording so that filters and
/// scripts written for ZMap match.
pub fn unreach_str(code: u8) -> &'static str {
    const S: [&str; 16] = [
        "network unreachable",
        "host unreachable",
        "protocol unreachable",
        "port unreachable",
        "fragments required",
        "source route failed",
        "network unknown",
        "host unknown",
        "source host isolated",
        "network admin. prohibited",
        "host admin. prohibited",
        "network unreachable TOS",
        "host unreachable TOS",
        "communication admin. prohibited",
        "host presdence violation",
        "precedence cutoff",
    ];
    S.get(usize::from(code)).copied().unwrap_or("unknown")
}

/// ZMap's integer form of an address: the bytes in network order, read little-endian.
pub fn raw(addr: Ipv4Addr) -> u64 {
    u64::from(u32::from_le_bytes(addr.octets()))
}

/// The raw integer of an IPv4 address written as text; absent for anything else (IPv6).
fn raw_value(s: &str) -> Value<'_> {
    s.parse::<Ipv4Addr>()
        .map_or(Value::Absent, |a| Value::Int(raw(a)))
}

/// The meaning of an ICMPv6 destination-unreachable code (RFC 4443).
pub fn unreach6_str(code: u8) -> &'static str {
    const S: [&str; 7] = [
        "no route to destination",
        "communication admin. prohibited",
        "beyond scope of source address",
        "address unreachable",
        "port unreachable",
        "source address failed ingress/egress policy",
        "reject route to destination",
    ];
    S.get(usize::from(code)).copied().unwrap_or("unknown")
}

/// The value of `f` in `r`.
pub fn value(r: &Record, f: Field) -> Value<'_> {
    let tcp = r.icmp.is_none();
    let int = |v: u64| if tcp { Value::Int(v) } else { Value::Null };
    let opt = |v: Option<u64>| v.map_or(Value::Null, Value::Int);
    let icmp = r.icmp.as_ref();
    match f {
        Field::Saddr => Value::Str(&r.saddr),
        Field::SaddrRaw => raw_value(&r.saddr),
        Field::Daddr => Value::Str(&r.daddr),
        Field::DaddrRaw => raw_value(&r.daddr),
        Field::Ipid => Value::Int(u64::from(r.ipid)),
        Field::Ttl => Value::Int(u64::from(r.ttl)),
        Field::Sport => int(u64::from(r.sport)),
        Field::Dport => int(u64::from(r.dport)),
        Field::Seqnum => int(u64::from(r.seqnum)),
        Field::Acknum => int(u64::from(r.acknum)),
        Field::Window => int(u64::from(r.window)),
        Field::Classification => Value::Str(&r.classification),
        Field::Success => Value::Bool(r.success),
        Field::IcmpResponder => icmp.map_or(Value::Null, |i| Value::Addr(i.responder)),
        Field::IcmpType => icmp.map_or(Value::Null, |i| Value::Int(u64::from(i.icmp_type))),
        Field::IcmpCode => icmp.map_or(Value::Null, |i| Value::Int(u64::from(i.code))),
        Field::IcmpUnreachStr => match icmp {
            Some(i) if i.icmp_type == 3 && i.responder.is_ipv4() => Value::Str(unreach_str(i.code)),
            Some(i) if i.icmp_type == 1 && i.responder.is_ipv6() => {
                Value::Str(unreach6_str(i.code))
            }
            _ => Value::Null,
        },
        Field::Repeat => Value::Bool(r.repeat),
        Field::Cooldown => Value::Bool(r.cooldown),
        Field::TimestampStr => Value::Str(&r.timestamp_str),
        Field::TimestampTs => Value::Int(r.timestamp_us / 1_000_000),
        Field::TimestampUs => Value::Int(r.timestamp_us % 1_000_000),
        Field::TcpoptMss => opt(r.tcpopt_mss.map(u64::from)),
        Field::TcpoptWscale => opt(r.tcpopt_wscale.map(u64::from)),
        Field::TcpoptSackPerm => r.tcpopt_sack_perm.map_or(Value::Null, Value::Bool),
        Field::TcpoptTsVal => opt(r.tcpopt_ts_val.map(u64::from)),
        Field::TcpoptTsEcr => opt(r.tcpopt_ts_ecr.map(u64::from)),
        Field::RttUs => opt(r.rtt_us),
        Field::TimestampUnixUs => Value::Int(r.timestamp_us),
        Field::Blank => Value::Null,
    }
}

/// ZMap's `timestamp_str`: `2026-11-22T00:04:55.979+0000` (milliseconds, numeric zone).
/// ZMap prints local time; synsurvey always prints UTC, hence always `+0000`.
pub fn zmap_time_str(unix_us: u64) -> String {
    let secs = (unix_us / 1_000_000) as i64;
    let millis = (unix_us % 1_000_000) / 1000;
    match time::OffsetDateTime::from_unix_timestamp(secs) {
        Ok(t) => format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}+0000",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            millis
        ),
        Err(_) => String::new(),
    }
}

/// `--list-output-fields`: one line per field, as ZMap lays it out.
pub fn list() -> String {
    let mut s = String::new();
    for d in FIELDS.iter().chain(std::iter::once(&BLANK)) {
        s.push_str(&format!(
            "{:<18} {:>6}: {}\n",
            d.name,
            d.kind.as_str(),
            d.desc
        ));
    }
    s
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn raw_matches_zmap() {
        // Seen in ZMap 2.1.1's output on the testbed.
        assert_eq!(raw(Ipv4Addr::new(198, 18, 0, 83)), 1_392_513_734);
        assert_eq!(raw(Ipv4Addr::new(198, 19, 0, 1)), 16_782_278);
    }

    #[test]
    fn time_str_matches_zmap() {
        assert_eq!(
            zmap_time_str(1_795_305_895_979_464),
            "2026-11-22T00:04:55.979+0000"
        );
        assert_eq!(zmap_time_str(0), "1970-01-01T00:00:00.000+0000");
    }

    #[test]
    fn names_and_aliases() {
        assert_eq!(lookup("saddr-raw").unwrap().field, Field::SaddrRaw);
        assert_eq!(lookup("timestamp_us").unwrap().field, Field::TimestampUs);
        assert_eq!(lookup("blank").unwrap().field, Field::Blank);
        assert!(lookup("nope").is_none());
        let mut names: Vec<_> = FIELDS.iter().map(|d| d.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), FIELDS.len());
        assert!(DEFAULT_JSON.iter().all(|f| def_of(*f).field == *f));
        assert_eq!(unreach_str(1), "host unreachable");
        assert_eq!(unreach_str(200), "unknown");
    }
}
