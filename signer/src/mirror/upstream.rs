//! Where a mirror reads rounds from: the signer's (or another mirror's) HTTP read API, or the
//! signer's bucket directly.
//!
//! Properties kept:
//! - Nothing read here is trusted: the follower verifies every byte against the root chain.
//!   This module only bounds what it reads (every read has a byte limit) and how long it waits
//!   (every request has a deadline), and tells "absent" from "unreachable": a missing file is
//!   [`Fetch::NotFound`], a failure to ask is an [`UpstreamError`], never an empty answer.
//! - Polling an unchanged head costs a conditional request (HTTP `If-None-Match`; in a bucket,
//!   the object's ETag compared before the body is used).

use std::time::Duration;

use tuf_client::transport::{Conditional, HttpOptions, HttpTransport, Redirects};
use tuf_client::{ClientError, Transport};

use super::config::UpstreamSource;
use crate::bucket::{Bucket, BucketError};

/// What a read found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetch {
    /// The bytes, with the entity tag when the source gave one.
    Found(Vec<u8>, Option<String>),
    /// The head still has the entity tag that was sent.
    Unchanged,
    /// No such file.
    NotFound,
}

/// The upstream could not be asked (unreachable, timed out, an error status, a file over its
/// limit): retried at the next poll; what the mirror serves is not affected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what}: {message}")]
pub struct UpstreamError {
    /// What was being read.
    pub what: String,
    /// Why it failed.
    pub message: String,
}

/// A source of a repository's published files.
pub enum Upstream {
    /// Over HTTP(S).
    Http(HttpTransport),
    /// The signer's bucket, read through the runtime's handle from the follower's thread.
    Bucket {
        /// The bucket, under the signer's prefix.
        bucket: Bucket,
        /// The runtime the S3 client runs on.
        runtime: tokio::runtime::Handle,
    },
}

impl Upstream {
    /// Connects to `source`; requests time out after `timeout`.
    pub async fn open(source: &UpstreamSource, timeout: Duration) -> Result<Self, BucketError> {
        Ok(match source {
            UpstreamSource::Url(url) => Upstream::Http(HttpTransport::with_options(
                url,
                HttpOptions {
                    timeout,
                    // A mirror follows its upstream only where it was pointed.
                    redirects: Redirects::SameOrigin,
                    ..HttpOptions::default()
                },
            )),
            UpstreamSource::Bucket(s3) => Upstream::Bucket {
                bucket: Bucket::connect(s3).await?,
                runtime: tokio::runtime::Handle::current(),
            },
        })
    }

    /// Where it reads from, for logs and status.
    pub fn describe(&self) -> String {
        match self {
            Upstream::Http(t) => t.describe(),
            Upstream::Bucket { bucket, .. } => {
                format!("s3://{}/{}", bucket.name(), bucket.prefix())
            }
        }
    }

    /// Reads `path` (`{role}/{file}`), at most `limit` bytes.
    pub fn get(&self, path: &str, limit: u64) -> Result<Fetch, UpstreamError> {
        self.get_if_none_match(path, limit, None)
    }

    /// Reads `path` unless it still has entity tag `etag`.
    pub fn get_if_none_match(
        &self,
        path: &str,
        limit: u64,
        etag: Option<&str>,
    ) -> Result<Fetch, UpstreamError> {
        match self {
            Upstream::Http(t) => {
                let answer = match etag {
                    Some(_) => t.get_if_none_match(path, limit, etag),
                    None => t.get(path, limit).map(|f| match f {
                        tuf_client::transport::Fetched::Found(bytes) => {
                            Conditional::Found { bytes, etag: None }
                        }
                        _ => Conditional::NotFound,
                    }),
                };
                match answer {
                    Ok(Conditional::Found { bytes, etag }) => Ok(Fetch::Found(bytes, etag)),
                    Ok(Conditional::Unchanged) => Ok(Fetch::Unchanged),
                    Ok(_) => Ok(Fetch::NotFound),
                    Err(e) => Err(client_error(path, &e)),
                }
            }
            Upstream::Bucket { bucket, runtime } => {
                let key = format!("repo/{path}");
                let got = runtime.block_on(async {
                    if let Some(tag) = etag
                        && bucket.head(&key).await?.as_deref() == Some(tag)
                    {
                        return Ok(None);
                    }
                    bucket.get(&key, limit).await.map(Some)
                });
                match got {
                    Ok(None) => Ok(Fetch::Unchanged),
                    Ok(Some(Some(object))) => Ok(Fetch::Found(object.bytes, Some(object.etag))),
                    Ok(Some(None)) => Ok(Fetch::NotFound),
                    Err(e) => Err(UpstreamError {
                        what: path.to_owned(),
                        message: e.to_string(),
                    }),
                }
            }
        }
    }
}

fn client_error(path: &str, e: &ClientError) -> UpstreamError {
    UpstreamError {
        what: path.to_owned(),
        message: e.to_string(),
    }
}
