//! The `targets` stage (work in progress).

pub mod blocklist;
pub mod ranges;

pub use ranges::AddrSet;
