//! The upstream sparse index: `config.json` and index files, read over HTTP(S) with conditional
//! requests. Nothing read here is trusted; the bound on each read is the largest index file
//! the proxy accepts.

use crate::transport::{Conditional, HttpOptions, HttpTransport};

/// The largest index file read (crates.io's largest is about 1 MiB; leave room).
pub const MAX_INDEX_FILE: u64 = 16 * 1024 * 1024;

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
    base: String,
}

impl Index {
    /// The index at `base`.
    pub fn new(base: &str, http: HttpOptions) -> Self {
        Index {
            http: HttpTransport::with_options(base, http),
            base: base.trim_end_matches('/').to_owned(),
        }
    }

    /// Its base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Reads `name` (`config.json`, `se/rd/serde`) unless it still has `etag`. `Err` is the
    /// transport's message (unreachable, timed out, another status).
    pub fn get(&self, name: &str, etag: Option<&str>) -> Result<Answer, String> {
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
