//! The repository in a bucket, `{prefix}/repo/{role}/` (`[storage] type = "s3"`), with exactly
//! the layout it has on disk.
//!
//! Properties kept (beyond those of every [`Publisher`]):
//! - Immutable files are created with `If-None-Match: *`; when the key is taken, the stored
//!   bytes are read and compared: the same bytes are success (a retry, or a republished round),
//!   other bytes are [`PublishError::Conflict`]. Nothing immutable is ever replaced.
//! - `timestamp.json` is written last and fenced: with `If-Match` on the ETag this publisher
//!   last wrote, or read in [`Publisher::prepare`] at takeover (`If-None-Match: *` when there
//!   was none). If its condition fails and the stored bytes are not this round's, another
//!   signer has published since: [`PublishError::Fenced`], and nothing is written over it. The
//!   fence moves only on this publisher's own writes and on `prepare`, never on a read that
//!   merely looks (so a node that saw a new leader's timestamp still cannot overwrite it).
//! - Every object carries the `Content-Type` and `Cache-Control` of its path (D8), so the
//!   bucket (or a CDN in front of it) serves it as the built-in server does.
//! - A write the store could not take for now ([`BucketError::Unavailable`]) is retried with
//!   backoff for at most [`RETRY_FOR`]; a call returns success only after its PUTs succeeded
//!   (a PUT that succeeded is durable, so [`Publisher::sync`] has nothing to do).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde::Deserialize;
use tokio::sync::Mutex;
use tuf_merkle::Digest;

use super::{
    PublishError, PublishedFile, Publisher, ReadError, cache_control, change_record_file,
    content_type, target_file, timestamp_file, tough_target_file,
};
use crate::bucket::{Bucket, BucketError, Condition, ObjectMeta};
use crate::round::Round;

/// How long a write is retried while the store is unavailable.
pub const RETRY_FOR: Duration = Duration::from_secs(30);
/// The first pause between retries; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// The longest pause between retries.
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// The largest `timestamp.json` read back (the signer writes about 1 KiB).
const MAX_TIMESTAMP_BYTES: u64 = 1024 * 1024;

const TIMESTAMP: &str = tuf_repo_format::paths::TIMESTAMP;

/// One role's repository in a bucket.
#[derive(Debug)]
pub struct S3Publisher {
    /// The bucket under `{prefix}/repo/{role}`.
    bucket: Bucket,
    /// The fence: the ETag of `timestamp.json` as this publisher last wrote it or read it in
    /// `prepare` (`None`: there was none). Held across the fenced PUT, so two rounds of this
    /// publisher never race each other.
    head: Mutex<Option<String>>,
    retry_for: Duration,
}

impl S3Publisher {
    /// A publisher for `role`'s repository under `{bucket's prefix}/repo/{role}/`.
    pub fn new(bucket: &Bucket, role: &str) -> Self {
        S3Publisher {
            bucket: bucket.under(&format!("repo/{role}")),
            head: Mutex::new(None),
            retry_for: RETRY_FOR,
        }
    }

    /// The same with another bound on retries (tests).
    #[cfg(test)]
    fn with_retry_for(mut self, retry_for: Duration) -> Self {
        self.retry_for = retry_for;
        self
    }

    /// Runs `op` until it returns anything but [`BucketError::Unavailable`], or until
    /// [`S3Publisher::retry_for`] has passed (then the last error is returned).
    async fn retrying<T, F, Fut>(&self, mut op: F) -> Result<T, BucketError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, BucketError>>,
    {
        let deadline = Instant::now() + self.retry_for;
        let mut pause = FIRST_BACKOFF;
        loop {
            match op().await {
                Err(e @ BucketError::Unavailable { .. }) if Instant::now() + pause < deadline => {
                    tracing::warn!(error = %e, retry_in_ms = pause.as_millis() as u64, "bucket unavailable; retrying");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(MAX_BACKOFF);
                }
                other => return other,
            }
        }
    }

    fn meta(path: &str) -> ObjectMeta {
        ObjectMeta {
            content_type: content_type(path),
            cache_control: Some(cache_control(path)),
        }
    }

    /// Creates the immutable file `path`, or accepts it when it already holds exactly `bytes`.
    async fn immutable(&self, path: &str, bytes: &[u8]) -> Result<(), PublishError> {
        let meta = Self::meta(path);
        loop {
            let put = self
                .retrying(|| {
                    self.bucket
                        .put(path, bytes.to_vec(), meta, Condition::IfAbsent)
                })
                .await;
            match put {
                Ok(_) => return Ok(()),
                Err(BucketError::PreconditionFailed { .. }) => {}
                Err(e) => return Err(e.into()),
            }
            // The key is taken: by an earlier attempt of this write (which timed out, but
            // landed), by a republished round, or by someone else.
            // Read at most as many bytes as this write has: anything longer differs.
            let limit = bytes.len() as u64;
            match self.retrying(|| self.bucket.get(path, limit)).await {
                Ok(Some(stored)) if stored.bytes == bytes => return Ok(()),
                Ok(Some(_)) | Err(BucketError::TooLarge { .. }) => {
                    return Err(PublishError::Conflict {
                        path: PathBuf::from(path),
                    });
                }
                // Gone again (deleted by hand between the two requests): create it.
                Ok(None) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Replaces the head `path` (not fenced: `root.json`, which every node derives from the same
    /// configured root chain) unless it already holds `bytes`.
    async fn head_file(&self, path: &str, bytes: &[u8]) -> Result<(), PublishError> {
        let limit = bytes.len() as u64;
        match self.retrying(|| self.bucket.get(path, limit)).await {
            Ok(Some(stored)) if stored.bytes == bytes => return Ok(()),
            Ok(_) | Err(BucketError::TooLarge { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        let meta = Self::meta(path);
        self.retrying(|| self.bucket.put(path, bytes.to_vec(), meta, Condition::None))
            .await?;
        Ok(())
    }

    /// Writes `timestamp.json`, fenced on the ETag this publisher last wrote or read.
    async fn fenced_timestamp(&self, bytes: &[u8]) -> Result<(), PublishError> {
        let mut head = self.head.lock().await;
        let cond = match &*head {
            Some(etag) => Condition::IfMatch(etag.clone()),
            None => Condition::IfAbsent,
        };
        let meta = Self::meta(TIMESTAMP);
        let put = self
            .retrying(|| {
                self.bucket
                    .put(TIMESTAMP, bytes.to_vec(), meta, cond.clone())
            })
            .await;
        match put {
            Ok(etag) => {
                *head = Some(etag);
                Ok(())
            }
            Err(BucketError::PreconditionFailed { .. }) => {
                // Either an earlier attempt of this very PUT timed out but landed (the object
                // then holds these bytes), or another signer wrote since: only the bytes tell.
                match self
                    .retrying(|| self.bucket.get(TIMESTAMP, MAX_TIMESTAMP_BYTES))
                    .await
                {
                    Ok(Some(stored)) if stored.bytes == bytes => {
                        *head = Some(stored.etag);
                        Ok(())
                    }
                    Ok(_) | Err(BucketError::TooLarge { .. }) => {
                        tracing::error!(
                            key = self.bucket.full_key(TIMESTAMP),
                            "timestamp.json was replaced by another signer; this one stops publishing the role"
                        );
                        Err(PublishError::Fenced {
                            path: PathBuf::from(TIMESTAMP),
                        })
                    }
                    Err(e) => Err(e.into()),
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The stored `timestamp.json`, if any.
    async fn read_timestamp(&self) -> Result<Option<Vec<u8>>, BucketError> {
        Ok(self
            .retrying(|| self.bucket.get(TIMESTAMP, MAX_TIMESTAMP_BYTES))
            .await?
            .map(|o| o.bytes))
    }
}

#[async_trait]
impl Publisher for S3Publisher {
    async fn prepare(&self) -> Result<(), PublishError> {
        // Takeover: from here on this publisher may replace exactly the timestamp.json that is
        // there now. A PUT never leaves a partial object, so there is nothing to clean up.
        let etag = self.retrying(|| self.bucket.head(TIMESTAMP)).await?;
        *self.head.lock().await = etag;
        Ok(())
    }

    async fn publish_roots(&self, files: &[(u64, Vec<u8>)]) -> Result<(), PublishError> {
        for (version, bytes) in files {
            self.immutable(&tuf_repo_format::paths::root(*version), bytes)
                .await?;
        }
        if let Some((_, latest)) = files.last() {
            self.head_file(tuf_repo_format::paths::ROOT, latest).await?;
        }
        Ok(())
    }

    async fn publish_round(&self, round: &Round) -> Result<(), PublishError> {
        let (timestamp, others): (Vec<_>, Vec<_>) =
            round.files.iter().partition(|f| f.name == TIMESTAMP);
        for f in others {
            self.immutable(&f.name, f.bytes.as_bytes()).await?;
        }
        for f in &timestamp {
            self.immutable(&timestamp_file(round.timestamp_version), f.bytes.as_bytes())
                .await?;
        }
        self.immutable(
            &change_record_file(round.timestamp_version),
            round.change_record.as_bytes(),
        )
        .await?;
        for f in timestamp {
            self.fenced_timestamp(f.bytes.as_bytes()).await?;
        }
        Ok(())
    }

    async fn sync(&self) -> Result<(), PublishError> {
        // A PUT that succeeded is durable: nothing is buffered here.
        Ok(())
    }

    async fn is_published(&self, round: &Round) -> bool {
        match self.read_timestamp().await {
            Ok(stored) => stored.as_deref() == round.timestamp_bytes(),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read timestamp.json back");
                false
            }
        }
    }

    async fn has_timestamp(&self, version: u64) -> bool {
        let key = timestamp_file(version);
        match self.retrying(|| self.bucket.head(&key)).await {
            Ok(found) => found.is_some(),
            Err(e) => {
                tracing::warn!(error = %e, "cannot look for a timestamp version");
                false
            }
        }
    }

    async fn published_version(&self) -> Option<u64> {
        #[derive(Deserialize)]
        struct Head {
            signed: HeadSigned,
        }
        #[derive(Deserialize)]
        struct HeadSigned {
            version: u64,
        }
        let bytes = match self.read_timestamp().await {
            Ok(bytes) => bytes?,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read timestamp.json back");
                return None;
            }
        };
        serde_json::from_slice::<Head>(&bytes)
            .ok()
            .map(|h| h.signed.version)
    }

    async fn store_target(
        &self,
        name: &str,
        sha256: &Digest,
        bytes: &[u8],
    ) -> Result<(), PublishError> {
        self.immutable(&target_file(name, sha256), bytes).await?;
        if let Some(alt) = tough_target_file(name, sha256) {
            self.immutable(&alt, bytes).await?;
        }
        Ok(())
    }

    async fn publish_leaf_snapshot(&self, version: u64, bytes: &[u8]) -> Result<(), PublishError> {
        self.immutable(&tuf_repo_format::paths::leaf_snapshot(version), bytes)
            .await?;
        let pointer = tuf_repo_format::leaf_snapshot::LatestPointer::to(version, bytes).to_json();
        self.head_file(tuf_repo_format::paths::LEAF_SNAPSHOT_LATEST, &pointer)
            .await
    }

    async fn open(&self, path: &str) -> Result<PublishedFile, ReadError> {
        // Not retried: a reader retries itself, and a request should not hang for 30 s.
        match self.bucket.get_stream(path).await {
            Ok(Some(object)) => Ok(PublishedFile {
                length: object.length,
                etag: object.etag,
                body: object.body,
            }),
            Ok(None) => Err(ReadError::NotFound),
            Err(e @ BucketError::Unavailable { .. }) => Err(ReadError::Unavailable(e.to_string())),
            Err(e) => Err(ReadError::Io(std::io::Error::other(e))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bucket::testing::{headers, moto_bucket};
    use crate::round::{FileMeta, SignedFile};
    use tokio::io::AsyncReadExt as _;
    use tuf_keys::test_support::MotoKms;

    fn meta(version: u64) -> FileMeta {
        FileMeta {
            version,
            length: 1,
            sha256: "00".repeat(32),
            expires: jiff::Timestamp::UNIX_EPOCH,
        }
    }

    /// A round of version `v` whose files say `tag`.
    fn round(v: u64, tag: &str) -> Round {
        let file = |name: String, bytes: String| SignedFile {
            name,
            bytes,
            meta: meta(v),
        };
        Round {
            timestamp_version: v,
            seq: v,
            root_version: 1,
            tree_root: "00".repeat(32),
            merkle: false,
            targets: meta(v),
            snapshot: meta(v),
            timestamp: meta(v),
            files: vec![
                file(format!("{v}.targets.json"), format!("targets {v} {tag}")),
                file(format!("{v}.snapshot.json"), format!("snapshot {v} {tag}")),
                file(
                    "timestamp.json".into(),
                    format!("{{\"signed\": {{\"version\": {v}, \"tag\": \"{tag}\"}}}}"),
                ),
            ],
            change_record: format!("{{\"version\": {v}, \"tag\": \"{tag}\"}}"),
        }
    }

    async fn read(p: &S3Publisher, path: &str) -> Vec<u8> {
        let mut f = p.open(path).await.unwrap_or_else(|e| panic!("{path}: {e}"));
        let mut bytes = Vec::new();
        f.body.read_to_end(&mut bytes).await.unwrap();
        assert_eq!(bytes.len() as u64, f.length);
        bytes
    }

    #[tokio::test]
    async fn publishes_with_headers_immutables_once_and_the_timestamp_last() {
        let Some(moto) = MotoKms::start_or_skip("s3_publisher_publishes") else {
            return;
        };
        let bucket = moto_bucket(&moto, "tuf-repo", "prod").await;
        let p = S3Publisher::new(&bucket, "crates.io");
        p.prepare().await.unwrap();
        assert_eq!(p.published_version().await, None);
        p.publish_roots(&[(1, b"root 1".to_vec()), (2, b"root 2".to_vec())])
            .await
            .unwrap();
        let r1 = round(1, "a");
        p.publish_round(&r1).await.unwrap();
        let h = tuf_merkle::hash::sha256(b"serde");
        p.store_target("se/rd/serde", &h, b"serde").await.unwrap();
        // Again: the same bytes are fine.
        p.store_target("se/rd/serde", &h, b"serde").await.unwrap();
        p.publish_round(&r1).await.unwrap();

        let repo = bucket.under("repo/crates.io");
        let json = Some("application/json".to_owned());
        let bytes = Some("application/octet-stream".to_owned());
        let immutable = Some(CACHE_IMMUTABLE_S.to_owned());
        let head = Some(CACHE_HEAD_S.to_owned());
        for (key, want) in [
            ("1.root.json", (json.clone(), immutable.clone())),
            ("2.root.json", (json.clone(), immutable.clone())),
            ("root.json", (json.clone(), head.clone())),
            ("1.targets.json", (json.clone(), immutable.clone())),
            ("1.snapshot.json", (json.clone(), immutable.clone())),
            (
                "timestamps/1.timestamp.json",
                (json.clone(), immutable.clone()),
            ),
            ("changes/1.json", (json.clone(), immutable.clone())),
            ("timestamp.json", (json.clone(), head.clone())),
            (
                &*target_file("se/rd/serde", &h),
                (bytes.clone(), immutable.clone()),
            ),
            (
                &*tough_target_file("se/rd/serde", &h).unwrap(),
                (bytes.clone(), immutable.clone()),
            ),
        ] {
            assert_eq!(headers(&repo, key).await, want, "{key}");
        }
        assert_eq!(read(&p, "root.json").await, b"root 2");
        assert_eq!(
            read(&p, "timestamps/1.timestamp.json").await,
            read(&p, "timestamp.json").await
        );
        assert!(p.is_published(&r1).await);
        assert!(p.has_timestamp(1).await);
        assert!(!p.has_timestamp(2).await);
        assert_eq!(p.published_version().await, Some(1));
        let f = p.open("timestamp.json").await.unwrap();
        assert_eq!(Some(f.etag), repo.head("timestamp.json").await.unwrap());
        assert!(matches!(
            p.open("nothing.json").await,
            Err(ReadError::NotFound)
        ));

        // An immutable file is never replaced: other bytes under a published version are a
        // conflict, and change nothing.
        let other = round(1, "b");
        assert!(matches!(
            p.publish_round(&other).await,
            Err(PublishError::Conflict { path }) if path == std::path::Path::new("1.targets.json")
        ));
        assert_eq!(read(&p, "1.targets.json").await, b"targets 1 a");
        let h2 = tuf_merkle::hash::sha256(b"other");
        repo.put(
            &target_file("x", &h2),
            b"not other".to_vec(),
            S3Publisher::meta("targets/x"),
            Condition::IfAbsent,
        )
        .await
        .unwrap();
        assert!(matches!(
            p.store_target("x", &h2, b"other").await,
            Err(PublishError::Conflict { .. })
        ));

        // timestamp.json is written last: a round whose change record cannot be written leaves
        // it at the previous round.
        let r2 = round(2, "a");
        repo.put(
            &change_record_file(2),
            b"someone else's".to_vec(),
            S3Publisher::meta("changes/2.json"),
            Condition::IfAbsent,
        )
        .await
        .unwrap();
        assert!(matches!(
            p.publish_round(&r2).await,
            Err(PublishError::Conflict { .. })
        ));
        assert_eq!(p.published_version().await, Some(1));
        assert!(p.has_timestamp(2).await, "the copy goes before the record");
    }

    const CACHE_IMMUTABLE_S: &str = super::super::CACHE_IMMUTABLE;
    const CACHE_HEAD_S: &str = super::super::CACHE_HEAD;

    #[tokio::test]
    async fn a_second_publisher_fences_the_first() {
        let Some(moto) = MotoKms::start_or_skip("s3_publisher_fences") else {
            return;
        };
        let bucket = moto_bucket(&moto, "tuf-repo", "").await;
        let old = S3Publisher::new(&bucket, "r");
        old.prepare().await.unwrap();
        old.publish_round(&round(1, "old")).await.unwrap();
        old.publish_round(&round(2, "old")).await.unwrap();

        // A new leader takes over: it reads the head at prepare, and publishes.
        let new = S3Publisher::new(&bucket, "r");
        new.prepare().await.unwrap();
        new.publish_round(&round(3, "new")).await.unwrap();
        // The old one wakes up: whatever it publishes, timestamp.json is not its to replace.
        let e = old.publish_round(&round(4, "old")).await.unwrap_err();
        assert!(e.ends_leadership(), "{e}");
        assert!(e.to_string().contains("another signer"), "{e}");
        assert_eq!(new.published_version().await, Some(3));
        // Reading does not move the fence.
        assert_eq!(old.published_version().await, Some(3));
        assert!(
            old.publish_round(&round(5, "old"))
                .await
                .unwrap_err()
                .ends_leadership()
        );
        // The new leader goes on.
        new.publish_round(&round(4, "new")).await.unwrap_err();
        // (4's immutable files were taken by the zombie: that race is what the log's fence
        // prevents; here it shows as a conflict, never as a replaced file.)
        assert_eq!(read(&new, "4.targets.json").await, b"targets 4 old");

        // A publisher that never saw a timestamp.json cannot create one over an existing one.
        let fresh = S3Publisher::new(&bucket, "r");
        // (no prepare)
        assert!(
            fresh.publish_round(&round(3, "new")).await.is_ok(),
            "same bytes: its own write"
        );
        let stranger = S3Publisher::new(&bucket, "r");
        let e = stranger.fenced_timestamp(b"{}").await.unwrap_err();
        assert!(e.ends_leadership(), "{e}");
    }

    #[tokio::test]
    async fn an_unavailable_bucket_is_retried_for_a_bounded_time_and_never_reported_published() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let bucket =
            crate::bucket::testing::at(&format!("http://127.0.0.1:{port}"), "tuf-repo", "").await;
        let p = S3Publisher::new(&bucket, "r").with_retry_for(Duration::from_millis(800));
        let started = Instant::now();
        let e = p.publish_round(&round(1, "a")).await.unwrap_err();
        assert!(
            matches!(e, PublishError::Bucket(BucketError::Unavailable { .. })),
            "{e}"
        );
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(300),
            "gave up too soon: {took:?}"
        );
        assert!(took < Duration::from_secs(5), "retried too long: {took:?}");
        assert!(matches!(
            p.open("timestamp.json").await,
            Err(ReadError::Unavailable(_))
        ));
    }
}
