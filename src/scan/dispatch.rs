//! Where a scan's family is chosen: [`for_family`] picks it once, from the configuration's
//! [`TargetSet`], for the live scan and the dry run alike, and runs the whole scan
//! monomorphized for it (what differs between the families is [`ScanFamily`]).

use crate::config::{Config, FamilyTargets, TargetSet};
use crate::family::ScanFamily;
use crate::probe::LinkHeader;
use crate::sources::SourceList;
use crate::wire::{V4, V6};

/// The scan's probe template (its shape from the configuration), sent from `src` behind
/// the link header `link`.
pub(super) fn template<F: ScanFamily>(
    config: &Config,
    link: LinkHeader,
    src: F::Addr,
) -> anyhow::Result<F::Template> {
    F::template(&config.probe.params(link, src)).map_err(|e| anyhow::anyhow!("probe: {e}"))
}

/// `-S`, if given (for a scan of family `F`, only a list of that family is).
pub(super) fn source_override<F: ScanFamily>(config: &Config) -> Option<&SourceList<F::Addr>> {
    config.network.sources.as_ref().and_then(F::source_override)
}

/// The targets of family `F`.
pub(super) type TargetsOf<F> = FamilyTargets<<F as ScanFamily>::Addrs, <F as ScanFamily>::Blocked>;

/// A scan to run compiled for one family.
pub(super) trait PerFamily {
    type Output;
    fn run<F: ScanFamily>(self, targets: &TargetsOf<F>) -> Self::Output;
}

/// The one place a scan's family is chosen: runs `job` for the configuration's targets.
pub(super) fn for_family<J: PerFamily>(config: &Config, job: J) -> J::Output {
    match &config.targets.set {
        TargetSet::V4(t) => job.run::<V4>(t),
        TargetSet::V6(t) => job.run::<V6>(t),
    }
}
