//! The `targets` stage (work in progress).

pub mod ranges;

pub use ranges::AddrSet;
