//! moto's S3 for a test: the server `tuf_keys::test_support::MotoKms` runs (moto serves every
//! service on one port) with one bucket created, and a plain HTTP reader of what the signers
//! stored in it (list, get, download into a directory), so that tests look at the bucket as a
//! client of the bucket would, not through the signer's own S3 code. Also an aws-sdk-s3
//! client with the test credentials ([`client`]), public buckets ([`public_bucket`]) and the
//! environment that gives a signer process those credentials ([`ENV`]).
//!
//! Requests go out path-style (`http://127.0.0.1:PORT/BUCKET/KEY`) with a dummy `Authorization`
//! header ([`AUTHORIZATION`]): moto does not check signatures, but refuses reads of private
//! objects by requests that carry none (as S3 refuses anonymous reads).

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use tuf_keys::test_support::{MotoKms, REGION};

use crate::http::{Resp, try_request_blocking};

/// The bucket the tests create.
pub const BUCKET: &str = "tuf-repo";

/// How long one request to moto may take.
const TIMEOUT: Duration = Duration::from_secs(30);

/// The static credentials the tests give child processes (moto accepts any).
pub const ACCESS_KEY_ID: &str = "moto-access-key";
/// See [`ACCESS_KEY_ID`].
pub const SECRET_ACCESS_KEY: &str = "moto-secret-key";

/// An `Authorization` header moto takes as an authenticated request (it does not check it).
pub const AUTHORIZATION: &str = "AWS4-HMAC-SHA256 Credential=moto-access-key/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0000";

/// A running moto server with [`BUCKET`] created; stopped when dropped.
pub struct MotoS3 {
    moto: MotoKms,
    addr: SocketAddr,
}

impl MotoS3 {
    /// Starts moto and creates [`BUCKET`], or returns `None` after printing why when moto's
    /// Python environment is missing (outside CI: under `CI=true` that panics, as for the KMS
    /// tests).
    pub fn start_or_skip(test_name: &str) -> Option<MotoS3> {
        let moto = MotoKms::start_or_skip(test_name)?;
        let addr: SocketAddr = moto
            .endpoint_url()
            .trim_start_matches("http://")
            .parse()
            .expect("moto's address");
        let s3 = MotoS3 { moto, addr };
        let r = s3.raw("PUT", &format!("/{BUCKET}"), &[], b"");
        assert_eq!(r.status, 200, "CreateBucket: {}", r.text());
        Some(s3)
    }

    /// The same moto as a KMS endpoint (keys for a signer on this S3).
    pub fn kms(&self) -> &MotoKms {
        &self.moto
    }

    /// moto's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, the S3 endpoint.
    pub fn endpoint_url(&self) -> String {
        self.moto.endpoint_url().to_owned()
    }

    /// The environment a signer process needs for this S3 (the standard AWS chain: static
    /// credentials, the region, no instance metadata lookups).
    pub fn env() -> Vec<(&'static str, &'static str)> {
        vec![
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID),
            ("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY),
            ("AWS_REGION", REGION),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ]
    }

    /// The published repository under `prefix` as a TUF client fetches it over moto's HTTP
    /// endpoint: `http://127.0.0.1:PORT/BUCKET/[PREFIX/]repo` (roles below it).
    pub fn repo_url(&self, prefix: &str) -> String {
        format!(
            "{}/{BUCKET}/{}repo",
            self.endpoint_url(),
            with_slash(prefix)
        )
    }

    fn raw(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
        let mut all = vec![("Authorization", AUTHORIZATION)];
        all.extend_from_slice(headers);
        try_request_blocking(self.addr, method, path, &all, body, TIMEOUT)
            .unwrap_or_else(|e| panic!("{method} {path} to moto: {e}"))
    }

    /// Lets anyone read the published repository under `prefix` (`PREFIX/repo/*`), as a
    /// deployment's bucket policy does for its CDN; the signers' state stays private. After
    /// this, a TUF client reads [`MotoS3::repo_url`] without credentials.
    pub fn allow_public_read(&self, prefix: &str) {
        let policy = serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Sid": "PublicRepository",
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": format!("arn:aws:s3:::{BUCKET}/{}repo/*", with_slash(prefix)),
            }]
        });
        let r = self.raw(
            "PUT",
            &format!("/{BUCKET}?policy"),
            &[("Content-Type", "application/json")],
            policy.to_string().as_bytes(),
        );
        assert!(
            r.status == 200 || r.status == 204,
            "PutBucketPolicy: {} {}",
            r.status,
            r.text()
        );
    }

    /// The object `key` (a full key, prefix included), or `None` if there is none.
    pub fn get(&self, key: &str) -> Option<Vec<u8>> {
        let r = self.raw("GET", &format!("/{BUCKET}/{}", encode(key)), &[], b"");
        match r.status {
            200 => Some(r.body),
            404 => None,
            other => panic!("GET {key}: {other} {}", r.text()),
        }
    }

    /// The object `key` and its ETag (quotes included), or `None` if there is none.
    pub fn get_with_etag(&self, key: &str) -> Option<(Vec<u8>, String)> {
        let r = self.raw("GET", &format!("/{BUCKET}/{}", encode(key)), &[], b"");
        match r.status {
            200 => {
                let etag = r.header("etag").unwrap_or_default().to_owned();
                Some((r.body, etag))
            }
            404 => None,
            other => panic!("GET {key}: {other} {}", r.text()),
        }
    }

    /// Every key under `prefix` (full keys, sorted), all pages of `ListObjectsV2`.
    pub fn list(&self, prefix: &str) -> Vec<String> {
        let mut keys: Vec<String> = self
            .list_sizes(prefix)
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        keys.sort();
        keys
    }

    /// Every key under `prefix` with its size in bytes (all pages).
    pub fn list_sizes(&self, prefix: &str) -> Vec<(String, u64)> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut path = format!("/{BUCKET}?list-type=2&prefix={}", encode(prefix));
            if let Some(t) = &token {
                path.push_str(&format!("&continuation-token={}", encode(t)));
            }
            let r = self.raw("GET", &path, &[], b"");
            assert_eq!(r.status, 200, "ListObjectsV2 {prefix}: {}", r.text());
            let xml = r.text();
            for contents in elements(&xml, "Contents") {
                let key = elements(&contents, "Key").pop().unwrap_or_default();
                let size = elements(&contents, "Size")
                    .pop()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0);
                out.push((key, size));
            }
            token = elements(&xml, "NextContinuationToken").into_iter().next();
            let truncated = elements(&xml, "IsTruncated")
                .first()
                .is_some_and(|v| v == "true");
            if !truncated || token.is_none() {
                break;
            }
        }
        out.sort();
        out
    }

    /// Copies every object under `prefix` into `into`, one file per object, the key relative to
    /// `prefix` as its path: the bucket's `PREFIX/repo/` downloaded into `DATA/repo/` is the
    /// layout [`crate::repo`]'s checks read. Returns how many objects were copied.
    pub fn download(&self, prefix: &str, into: &Path) -> usize {
        let keys = self.list(prefix);
        for key in &keys {
            let rel = key[prefix.len()..].trim_start_matches('/');
            let path = into.join(rel);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            let bytes = self
                .get(key)
                .unwrap_or_else(|| panic!("{key} was listed and is gone"));
            std::fs::write(&path, bytes).expect("write");
        }
        keys.len()
    }
}

/// `prefix/` for a non-empty prefix, else "".
pub fn with_slash(prefix: &str) -> String {
    if prefix.is_empty() {
        String::new()
    } else {
        format!("{prefix}/")
    }
}

/// Percent-encodes everything but unreserved characters and `/`.
fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The text of every `<name>…</name>` element of `xml`, entities decoded.
fn elements(xml: &str, name: &str) -> Vec<String> {
    let (open, close) = (format!("<{name}>"), format!("</{name}>"));
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find(&open) {
        rest = &rest[start + open.len()..];
        let Some(end) = rest.find(&close) else { break };
        out.push(
            rest[..end]
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&quot;", "\"")
                .replace("&apos;", "'")
                .replace("&amp;", "&"),
        );
        rest = &rest[end + close.len()..];
    }
    out
}

/// The environment that gives a signer process moto's credentials through the standard AWS
/// chain, as production gets real ones.
pub const ENV: [(&str, &str); 3] = [
    ("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID),
    ("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY),
    ("AWS_EC2_METADATA_DISABLED", "true"),
];

/// A path-style S3 client for `endpoint` with the test credentials.
pub fn client(endpoint: &str) -> Client {
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .force_path_style(true)
        .credentials_provider(Credentials::new(
            ACCESS_KEY_ID,
            SECRET_ACCESS_KEY,
            None,
            None,
            "tuf-testkit",
        ))
        .build();
    Client::from_conf(config)
}

/// Creates bucket `name` at `endpoint`, readable by anyone (`s3:GetObject` for `*`), as a
/// bucket that serves a public repository is; returns a client for it.
pub async fn public_bucket(endpoint: &str, name: &str) -> Client {
    let client = client(endpoint);
    client
        .create_bucket()
        .bucket(name)
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "create bucket {name}: {}",
                aws_sdk_s3::error::DisplayErrorContext(e)
            )
        });
    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": "*",
            "Action": "s3:GetObject",
            "Resource": format!("arn:aws:s3:::{name}/*"),
        }],
    });
    client
        .put_bucket_policy()
        .bucket(name)
        .policy(policy.to_string())
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "bucket policy: {}",
                aws_sdk_s3::error::DisplayErrorContext(e)
            )
        });
    client
}

/// Every key in `bucket` under `prefix`, in S3's order.
pub async fn keys(client: &Client, bucket: &str, prefix: &str) -> Vec<String> {
    let mut keys = Vec::new();
    let mut token = None;
    loop {
        let out = client
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .set_continuation_token(token)
            .send()
            .await
            .unwrap_or_else(|e| panic!("list: {}", aws_sdk_s3::error::DisplayErrorContext(e)));
        keys.extend(
            out.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_owned)),
        );
        match out.next_continuation_token() {
            Some(next) if out.is_truncated() == Some(true) => token = Some(next.to_owned()),
            _ => return keys,
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn elements_are_found_and_decoded() {
        let xml = "<R><Key>a/b</Key><Key>c&amp;d</Key><IsTruncated>false</IsTruncated></R>";
        assert_eq!(super::elements(xml, "Key"), ["a/b", "c&d"]);
        assert_eq!(super::elements(xml, "IsTruncated"), ["false"]);
        assert_eq!(super::encode("a b/c+d"), "a%20b/c%2Bd");
    }
}
