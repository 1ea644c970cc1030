//! How the client reaches a repository: over HTTP(S) (the signer, a mirror, a CDN) or from a
//! local directory (a mirror's copy of the signer's `repo/`).
//!
//! Paths are relative to the server's base: `crates.io/timestamp.json`,
//! `api/v1/crates.io/proof/se/rd/serde?version=7`. Every read carries a byte limit; a response
//! over it is [`ClientError::TooLarge`] and is never read past the limit, and a response shorter
//! than its announced length is [`ClientError::Truncated`].

use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::error::ClientError;

/// A fetched file, or the server's word that there is none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    /// The body, at most the limit.
    Found(Vec<u8>),
    /// 404.
    NotFound,
}

/// A source of repository files and API answers.
pub trait Transport: Send + Sync {
    /// GETs `path`, reading at most `limit` bytes.
    fn get(&self, path: &str, limit: u64) -> Result<Fetched, ClientError>;
    /// POSTs the JSON `body` to `path`, reading at most `limit` bytes of the answer.
    fn post_json(&self, path: &str, body: &[u8], limit: u64) -> Result<Fetched, ClientError>;
    /// Where it fetches from, for messages.
    fn describe(&self) -> String;
}

/// HTTP or HTTPS through a blocking `ureq` agent on rustls with aws-lc-rs (the TLS stack the
/// workspace already builds), webpki roots, a 60 s overall timeout and no redirects to other
/// hosts' content types: what arrives is checked anyway.
pub struct HttpTransport {
    base: String,
    agent: ureq::Agent,
}

impl HttpTransport {
    /// A transport for `base` (`http://127.0.0.1:8080` or `https://tuf.example.org/`).
    pub fn new(base: &str) -> Self {
        let tls = ureq::tls::TlsConfig::builder()
            .provider(ureq::tls::TlsProvider::Rustls)
            .unversioned_rustls_crypto_provider(Arc::new(
                rustls::crypto::aws_lc_rs::default_provider(),
            ))
            .build();
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .tls_config(tls)
            .user_agent(concat!("tuf-client/", env!("CARGO_PKG_VERSION")))
            .build();
        HttpTransport {
            base: base.trim_end_matches('/').to_owned(),
            agent: config.into(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/{}", self.base, path.trim_start_matches('/'))
    }

    fn finish(
        &self,
        what: &str,
        result: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
        limit: u64,
    ) -> Result<Fetched, ClientError> {
        let response = result.map_err(|e| ClientError::Transport {
            what: what.to_owned(),
            message: e.to_string(),
        })?;
        let status = response.status().as_u16();
        if status == 404 {
            return Ok(Fetched::NotFound);
        }
        if status != 200 {
            return Err(ClientError::Status {
                what: what.to_owned(),
                status,
            });
        }
        let announced = response
            .headers()
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        if announced.is_some_and(|n| n > limit) {
            return Err(ClientError::TooLarge {
                what: what.to_owned(),
                limit,
            });
        }
        let mut body = Vec::new();
        let reader = response.into_body().into_reader();
        let read = reader.take(limit.saturating_add(1)).read_to_end(&mut body);
        if let Err(e) = read {
            return Err(match announced {
                Some(expected) => ClientError::Truncated {
                    what: what.to_owned(),
                    expected,
                    got: body.len() as u64,
                },
                None => ClientError::Transport {
                    what: what.to_owned(),
                    message: e.to_string(),
                },
            });
        }
        check_body(what, body, announced, limit)
    }
}

fn check_body(
    what: &str,
    body: Vec<u8>,
    announced: Option<u64>,
    limit: u64,
) -> Result<Fetched, ClientError> {
    if body.len() as u64 > limit {
        return Err(ClientError::TooLarge {
            what: what.to_owned(),
            limit,
        });
    }
    if let Some(expected) = announced
        && body.len() as u64 != expected
    {
        return Err(ClientError::Truncated {
            what: what.to_owned(),
            expected,
            got: body.len() as u64,
        });
    }
    Ok(Fetched::Found(body))
}

impl Transport for HttpTransport {
    fn get(&self, path: &str, limit: u64) -> Result<Fetched, ClientError> {
        let url = self.url(path);
        let result = self.agent.get(&url).call();
        self.finish(&url, result, limit)
    }

    fn post_json(&self, path: &str, body: &[u8], limit: u64) -> Result<Fetched, ClientError> {
        let url = self.url(path);
        let result = self
            .agent
            .post(&url)
            .content_type("application/json")
            .send(body);
        self.finish(&url, result, limit)
    }

    fn describe(&self) -> String {
        self.base.clone()
    }
}

/// A local directory laid out like the server: `DIR/crates.io/timestamp.json`, … (the signer's
/// `<data>/repo/` or a mirror of it). It has no proof API.
pub struct FileTransport {
    dir: PathBuf,
}

impl FileTransport {
    /// A transport reading under `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        FileTransport { dir: dir.into() }
    }
}

impl Transport for FileTransport {
    fn get(&self, path: &str, limit: u64) -> Result<Fetched, ClientError> {
        if path.starts_with("api/") {
            return Err(ClientError::Unsupported(format!(
                "{path}: a directory has no proof API; use the signer's or a mirror's HTTP URL"
            )));
        }
        if path.split('/').any(|s| s == ".." || s.is_empty()) || path.contains('\\') {
            return Err(ClientError::Unsupported(format!("refusing path {path:?}")));
        }
        let full = self.dir.join(path);
        let what = full.display().to_string();
        let file = match std::fs::File::open(&full) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Fetched::NotFound),
            Err(e) => return Err(ClientError::local(&full, e)),
        };
        let mut body = Vec::new();
        file.take(limit.saturating_add(1))
            .read_to_end(&mut body)
            .map_err(|e| ClientError::local(&full, e))?;
        check_body(&what, body, None, limit)
    }

    fn post_json(&self, path: &str, _body: &[u8], _limit: u64) -> Result<Fetched, ClientError> {
        Err(ClientError::Unsupported(format!(
            "{path}: a directory has no proof API; use the signer's or a mirror's HTTP URL"
        )))
    }

    fn describe(&self) -> String {
        self.dir.display().to_string()
    }
}

/// A transport for `location`: an `http://` or `https://` URL, a `file://` URL, or a path.
pub fn open(location: &str) -> Box<dyn Transport> {
    if location.starts_with("http://") || location.starts_with("https://") {
        Box::new(HttpTransport::new(location))
    } else {
        let path = location.strip_prefix("file://").unwrap_or(location);
        Box::new(FileTransport::new(path))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn bodies_over_the_limit_or_short_of_their_length_are_refused() {
        assert!(matches!(
            check_body("x", vec![0; 11], None, 10),
            Err(ClientError::TooLarge { limit: 10, .. })
        ));
        assert!(matches!(
            check_body("x", vec![0; 5], Some(9), 10),
            Err(ClientError::Truncated {
                expected: 9,
                got: 5,
                ..
            })
        ));
        assert_eq!(
            check_body("x", vec![1; 10], Some(10), 10).unwrap(),
            Fetched::Found(vec![1; 10])
        );
    }

    #[test]
    fn directories_serve_files_within_limits_and_no_api() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("r")).unwrap();
        std::fs::write(dir.path().join("r/f.json"), b"12345").unwrap();
        let t = FileTransport::new(dir.path());
        assert_eq!(
            t.get("r/f.json", 5).unwrap(),
            Fetched::Found(b"12345".to_vec())
        );
        assert!(matches!(
            t.get("r/f.json", 4),
            Err(ClientError::TooLarge { .. })
        ));
        assert_eq!(t.get("r/none.json", 5).unwrap(), Fetched::NotFound);
        assert!(matches!(
            t.get("r/../r/f.json", 5),
            Err(ClientError::Unsupported(_))
        ));
        assert!(matches!(
            t.get("api/v1/r/proof/x", 5),
            Err(ClientError::Unsupported(_))
        ));
        assert!(t.post_json("api/v1/r/proofs", b"{}", 5).is_err());
    }
}
