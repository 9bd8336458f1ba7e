//! The `targets` stage (work in progress).

pub mod blocklist;
pub mod cyclic;
pub mod ranges;

pub use ranges::AddrSet;
