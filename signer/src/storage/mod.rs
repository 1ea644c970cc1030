//! A role's own state, which only the signer reads: the write-ahead log ([`wal`]) and the
//! checkpoint with the round stored beside it ([`checkpoint`]). The layout on disk is in
//! [`crate::layout`].

pub mod checkpoint;
pub mod wal;
