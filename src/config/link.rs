//! `-X/--iplayer` and `--vlan ID`: how probes are framed on the link.
//!
//! Only the flags are checked here; whether the interface has a hardware address (and so
//! whether it is an IP-layer link whatever `-X` says) is found at discovery, from the
//! kernel's link type (`scan::network`).

use crate::cli::Args;
use crate::probe::LinkHeader;
use crate::usage::{err, UsageError};

/// The link framing the operator asked for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct LinkFlags {
    /// `-X/--iplayer`: IP packets with no Ethernet header.
    pub(crate) iplayer: bool,
    /// `--vlan ID`: an 802.1Q tag on every probe, replies captured on that VLAN only.
    pub(crate) vlan: Option<u16>,
}

/// The highest VLAN id: 4095 is reserved, 0 means "no VLAN, priority only".
pub(crate) const MAX_VLAN_ID: u16 = 4094;

impl LinkFlags {
    /// The link header of probes from `src` to the next hop `dst` (MAC addresses).
    pub(crate) fn header(&self, src: [u8; 6], dst: [u8; 6]) -> LinkHeader {
        match (self.iplayer, self.vlan) {
            (true, _) => LinkHeader::None,
            (false, Some(vlan)) => LinkHeader::Vlan { src, dst, vlan },
            (false, None) => LinkHeader::Ethernet { src, dst },
        }
    }

    pub(crate) fn from_args(a: &Args) -> Result<LinkFlags, UsageError> {
        let vlan = a
            .vlan
            .as_deref()
            .map(|s| match s.trim().parse::<u16>() {
                Ok(id @ 1..=MAX_VLAN_ID) => Ok(id),
                _ => err(format!(
                    "--vlan: {s:?} is not a VLAN id (a whole number from 1 to {MAX_VLAN_ID})"
                )),
            })
            .transpose()?;
        if a.iplayer && vlan.is_some() {
            return err(
                "--vlan: an IP-layer link (-X/--iplayer) has no Ethernet header to carry an 802.1Q tag",
            );
        }
        if a.iplayer && a.gateway_mac.is_some() {
            return err(
                "-G/--gateway-mac: an IP-layer link (-X/--iplayer) has no MAC addresses; leave out one of the two",
            );
        }
        Ok(LinkFlags {
            iplayer: a.iplayer,
            vlan,
        })
    }
}

#[cfg(test)]
mod test {
    use super::*;

    fn flags(argv: &[&str]) -> Result<LinkFlags, UsageError> {
        let mut full = vec!["synsurvey", "198.18.0.0/24"];
        full.extend_from_slice(argv);
        LinkFlags::from_args(&Args::parse_argv(full).unwrap())
    }

    #[test]
    fn parses_and_refuses() {
        assert_eq!(flags(&[]).unwrap(), LinkFlags::default());
        assert!(flags(&["-X"]).unwrap().iplayer);
        assert!(flags(&["--iplayer"]).unwrap().iplayer);
        assert_eq!(flags(&["--vlan", "7"]).unwrap().vlan, Some(7));
        assert_eq!(flags(&["--vlan", "4094"]).unwrap().vlan, Some(4094));
        for bad in ["0", "4095", "65536", "-1", "x", ""] {
            let e = flags(&["--vlan", bad]).unwrap_err().to_string();
            assert!(e.starts_with("--vlan: "), "{bad}: {e}");
        }
        assert!(flags(&["-X", "--vlan", "7"])
            .unwrap_err()
            .to_string()
            .contains("802.1Q"));
        assert!(flags(&["-X", "-G", "02:00:00:00:00:01"])
            .unwrap_err()
            .to_string()
            .starts_with("-G/--gateway-mac"));
    }
}
