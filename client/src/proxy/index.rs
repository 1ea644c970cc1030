//! The upstream sparse index: `config.json` and index files, read over HTTP(S) with conditional
//! requests. Nothing read here is trusted; the bound on each read is the largest index file
//! the proxy accepts.
//!
//! Over HTTPS, cargo's requests read the index on one HTTP/2 connection first
//! ([`super::multiplex`]). Otherwise (and for warming, prefetching and whatever that path cannot
//! read) at most [`PARALLEL`] reads are in flight, on as many kept-alive connections. cargo over
//! HTTP/2 asks for a whole level of its resolution at once (a hundred files and more); one
//! connection per file, each closed after its request, would cost a TCP connection (and over
//! HTTPS a TLS handshake) per file.

use std::sync::{Condvar, Mutex, PoisonError};

use super::multiplex::Multiplexed;
use crate::transport::{Conditional, HttpOptions, HttpTransport};

/// The largest index file read (crates.io's largest is about 1 MiB; leave room).
pub const MAX_INDEX_FILE: u64 = 16 * 1024 * 1024;
/// The most reads from the index in flight at once (and kept-alive connections to it).
pub const PARALLEL: usize = 16;

/// What the index answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The bytes and the index's entity tag.
    Found(Vec<u8>, Option<String>),
    /// The file still has the entity tag the proxy sent.
    Unchanged,
    /// 404 (or 410, 451: cargo's "no such crate").
    NotFound,
}

/// The upstream index.
pub struct Index {
    http: HttpTransport,
    /// Over HTTPS: the same index on one HTTP/2 connection, tried first by cargo's requests.
    multiplexed: Option<Multiplexed>,
    base: String,
    /// Reads in flight, and a signal when one ends.
    busy: (Mutex<usize>, Condvar),
}

impl Index {
    /// The index at `base`.
    pub fn new(base: &str, http: HttpOptions) -> Self {
        Index {
            multiplexed: Multiplexed::new(base, &http),
            http: HttpTransport::with_idle_connections(base, http, PARALLEL),
            base: base.trim_end_matches('/').to_owned(),
            busy: (Mutex::new(0), Condvar::new()),
        }
    }

    /// The index on one HTTP/2 connection, if it is HTTPS ([`Multiplexed`]).
    pub fn multiplexed(&self) -> Option<&Multiplexed> {
        self.multiplexed.as_ref()
    }

    /// Its base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Reads `name` (`config.json`, `se/rd/serde`) unless it still has `etag`. `Err` is the
    /// transport's message (unreachable, timed out, another status).
    pub fn get(&self, name: &str, etag: Option<&str>) -> Result<Answer, String> {
        let _slot = Slot::take(&self.busy);
        self.read(name, etag)
    }

    fn read(&self, name: &str, etag: Option<&str>) -> Result<Answer, String> {
        match self.http.get_if_none_match(name, MAX_INDEX_FILE, etag) {
            Ok(Conditional::Found { bytes, etag }) => Ok(Answer::Found(bytes, etag)),
            Ok(Conditional::Unchanged) => Ok(Answer::Unchanged),
            Ok(_) => Ok(Answer::NotFound),
            Err(crate::ClientError::Status {
                status: 410 | 451, ..
            }) => Ok(Answer::NotFound),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// One of the [`PARALLEL`] reads in flight, given back when dropped (even by a panic).
struct Slot<'a>(&'a (Mutex<usize>, Condvar));

impl<'a> Slot<'a> {
    /// Waits for a free slot and takes it.
    fn take(busy: &'a (Mutex<usize>, Condvar)) -> Self {
        let (count, freed) = busy;
        let mut n = count.lock().unwrap_or_else(PoisonError::into_inner);
        while *n >= PARALLEL {
            n = freed.wait(n).unwrap_or_else(PoisonError::into_inner);
        }
        *n += 1;
        Slot(busy)
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let (count, freed) = self.0;
        *count.lock().unwrap_or_else(PoisonError::into_inner) -= 1;
        freed.notify_one();
    }
}
