//! ICMP destination unreachables: the third kind of reply, as in ZMap's `tcp_synscan`.
//!
//! An unreachable tells a filtered port (or an unreachable host) from a silent one. It is
//! reported only when the probe it quotes is one of ours: sent from our address and one
//! of the target's derived source ports, to a target of the scan, with the sequence number
//! of the target's MAC ([`crate::validate::Validator::check_quoted`]). Anything else is
//! counted by its [`DropReason`]. An unreachable is never a success and never marks a
//! target as seen, so a later SYN-ACK from the same target is still a first answer.

use super::{Classifier, Outcome};
use crate::family::ScanFamily;
use crate::output::fields::{zmap_time_str, IcmpInfo};
use crate::output::{unix_us_now, Record};
use crate::validate::DropReason;
use crate::wire::icmp::Unreachable;

impl<F: ScanFamily> Classifier<'_, F> {
    /// Decides about a captured ICMP packet, its link header removed (see the module
    /// documentation).
    pub(super) fn classify_icmp(
        &mut self,
        packet: &[u8],
        csum_unverifiable: bool,
        cooldown: bool,
    ) -> Outcome {
        let mut u = match F::parse_unreachable_ip(packet) {
            Ok(u) => u,
            Err(_) => return Outcome::Dropped(DropReason::Malformed),
        };
        if csum_unverifiable {
            u.icmp_checksum_ok = None;
        }
        if !u.ip_checksum_ok {
            return Outcome::Dropped(DropReason::BadIpChecksum);
        }
        if u.icmp_checksum_ok == Some(false) {
            return Outcome::Dropped(DropReason::BadIcmpChecksum);
        }
        let target = u.quoted.daddr;
        self.blocklist.refresh();
        if self.blocklist.contains(F::numbered(target)) {
            return Outcome::Dropped(DropReason::Blocklisted);
        }
        let Some(index) = self.space.index_of(F::numbered(target), u.quoted.dport) else {
            return Outcome::Dropped(DropReason::IcmpUnrelated);
        };
        if let Err(why) = self.validator.check_quoted(&u.quoted) {
            return Outcome::Dropped(why);
        }
        let repeat = self.seen.contains(index);
        self.outcome(record(&u, repeat, cooldown, unix_us_now()), repeat)
    }
}

/// The record of a validated unreachable: `saddr` is the probed target (as ZMap does),
/// the TCP fields are the quoted probe's (written as null, as in ZMap 4).
fn record<A: std::fmt::Display + Copy + Into<std::net::IpAddr>>(
    u: &Unreachable<A>,
    repeat: bool,
    cooldown: bool,
    now_us: u64,
) -> Record {
    Record {
        saddr: u.quoted.daddr.to_string(),
        daddr: u.daddr.to_string(),
        sport: u.quoted.dport,
        dport: u.quoted.sport,
        seqnum: u.quoted.seq,
        acknum: 0,
        window: 0,
        ttl: u.ttl,
        ipid: u.ipid,
        tcpopt_mss: None,
        tcpopt_wscale: None,
        tcpopt_sack_perm: None,
        tcpopt_ts_val: None,
        tcpopt_ts_ecr: None,
        classification: "icmp".into(),
        success: false,
        repeat,
        cooldown,
        timestamp_str: zmap_time_str(now_us),
        timestamp_us: now_us,
        rtt_us: None,
        icmp: Some(IcmpInfo {
            responder: u.saddr.into(),
            icmp_type: u.icmp_type,
            code: u.code,
        }),
    }
}
