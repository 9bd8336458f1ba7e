//! IPv4 targets, the neighbour of [`super::v6`]: address sets ([`AddrSet`]), the built-in
//! blocklists and the list and target parser ([`blocklist`]), and `-I` lists of single
//! addresses or (address, port) pairs ([`list`]).

pub mod blocklist;
pub(crate) mod list;
pub mod ranges;

pub use ranges::AddrSet;
