//! Prefetching a resolution's index files: when a file verifies, the files of the crates it
//! depends on are fetched and verified in the background (in parallel, their checks sharing
//! multi-proofs), so that when cargo asks for them they are answered from memory.
//!
//! cargo keeps about two requests in flight per host and asks for a crate's dependencies only
//! once it has read the crate's file, so without this every index file costs cargo a round
//! trip through the proxy, the index and the signer in turn.
//!
//! Properties kept:
//! - Only verified answers are remembered ([`Recent`]): a file whose bytes are the leaf of its
//!   name at the view's timestamp, or a name the view's tree proves absent. Anything that does
//!   not verify at once is forgotten, and cargo's own request takes the full path (waiting for
//!   a newer tree, refusing with a message).
//! - An answer is served from memory only for the view it verified against, and only for a
//!   short while after it verified ([`RECENT`] by default): one resolution, one view. With that
//!   time at zero, nothing is remembered and nothing is prefetched.
//! - Bounded: at most [`MAX_PER_VIEW`] names prefetched per view, [`WORKERS`] at a time.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use super::cache::Entry;

/// How long a verified answer is served from memory by default (`--remember-secs`).
pub const RECENT: Duration = Duration::from_secs(10);
/// Names prefetched in parallel.
pub const WORKERS: usize = 4;
/// The most names prefetched for one view.
pub const MAX_PER_VIEW: usize = 20_000;
/// Dependencies are taken from this many of a crate's newest versions.
const NEWEST_VERSIONS: usize = 2;

/// A verified answer.
#[derive(Debug, Clone)]
pub enum Known {
    /// The file, verified.
    File(Entry),
    /// Proved absent (or deleted).
    Absent,
}

struct Remembered {
    version: u64,
    at: Instant,
    known: Known,
}

/// Verified answers of the current view, and the names already queued for it.
pub struct Recent {
    inner: Mutex<RecentInner>,
    keep: Duration,
}

#[derive(Default)]
struct RecentInner {
    answers: HashMap<String, Remembered>,
    view: u64,
    queued: HashSet<String>,
}

impl Recent {
    /// Answers kept for `keep` after they verified (zero: none).
    pub fn new(keep: Duration) -> Self {
        Recent {
            inner: Mutex::new(RecentInner::default()),
            keep,
        }
    }

    /// Whether anything is remembered (and so worth prefetching).
    pub fn enabled(&self) -> bool {
        !self.keep.is_zero()
    }

    /// The answer for `name` verified against timestamp `view` within the time kept.
    pub fn get(&self, name: &str, view: u64) -> Option<Known> {
        let inner = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let r = inner.answers.get(name)?;
        (r.version == view && r.at.elapsed() < self.keep).then(|| r.known.clone())
    }

    /// Remembers a verified answer.
    pub fn put(&self, name: &str, view: u64, known: Known) {
        if !self.enabled() {
            return;
        }
        let keep = self.keep;
        let mut inner = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        inner.answers.retain(|_, r| r.at.elapsed() < keep);
        inner.answers.insert(
            name.to_owned(),
            Remembered {
                version: view,
                at: Instant::now(),
                known,
            },
        );
    }

    /// Whether `name` should be queued for `view` (not yet queued for it, within the bound).
    fn claim(&self, name: &str, view: u64) -> bool {
        let mut inner = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if inner.view != view {
            inner.view = view;
            inner.queued.clear();
        }
        inner.queued.len() < MAX_PER_VIEW && inner.queued.insert(name.to_owned())
    }
}

/// The prefetch queue and its workers.
pub struct Prefetcher {
    tx: Mutex<mpsc::Sender<(String, u64)>>,
    recent: Arc<Recent>,
}

impl Prefetcher {
    /// Starts [`WORKERS`] threads running `work(name, view)` for each queued name.
    pub fn start(
        recent: Arc<Recent>,
        work: impl Fn(&str, u64) + Send + Sync + 'static,
    ) -> Prefetcher {
        let (tx, rx) = mpsc::channel::<(String, u64)>();
        let rx = Arc::new(Mutex::new(rx));
        let work = Arc::new(work);
        for i in 0..WORKERS {
            let (rx, work) = (rx.clone(), work.clone());
            let _ = std::thread::Builder::new()
                .name(format!("tuf-proxy-prefetch-{i}"))
                .spawn(move || {
                    loop {
                        let next = rx
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .recv();
                        match next {
                            Ok((name, view)) => work(&name, view),
                            Err(_) => return,
                        }
                    }
                });
        }
        Prefetcher {
            tx: Mutex::new(tx),
            recent,
        }
    }

    /// Queues the dependencies named in `file` (an index file that verified at `view`).
    pub fn dependencies_of(&self, file: &[u8], view: u64) {
        if !self.recent.enabled() {
            return;
        }
        let tx = self
            .tx
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        for name in dependencies(file) {
            if self.recent.get(&name, view).is_none() && self.recent.claim(&name, view) {
                let _ = tx.send((name, view));
            }
        }
    }
}

/// The index paths of the crates that the newest versions in an index file depend on (normal
/// and build dependencies, optional ones included: cargo reads them too).
pub fn dependencies(file: &[u8]) -> Vec<String> {
    #[derive(serde::Deserialize)]
    struct Line {
        #[serde(default)]
        deps: Vec<Dep>,
    }
    #[derive(serde::Deserialize)]
    struct Dep {
        name: String,
        #[serde(default)]
        package: Option<String>,
        #[serde(default)]
        kind: Option<String>,
    }
    let text = String::from_utf8_lossy(file);
    let mut out: Vec<String> = text
        .lines()
        .rev()
        .filter(|l| !l.trim().is_empty())
        .take(NEWEST_VERSIONS)
        .filter_map(|l| serde_json::from_str::<Line>(l).ok())
        .flat_map(|l| l.deps)
        .filter(|d| d.kind.as_deref() != Some("dev"))
        .filter_map(|d| index_path(d.package.as_deref().unwrap_or(&d.name)))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The sparse index's path of crate `name` (`1/a`, `2/ab`, `3/a/abc`, `ab/cd/abcd…`), lowercase;
/// `None` for a name no index file can have.
pub fn index_path(name: &str) -> Option<String> {
    if name.is_empty()
        || name.len() > 64
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return None;
    }
    let n = name.to_ascii_lowercase();
    Some(match n.len() {
        1 => format!("1/{n}"),
        2 => format!("2/{n}"),
        3 => format!("3/{}/{n}", &n[..1]),
        _ => format!("{}/{}/{n}", &n[..2], &n[2..4]),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn index_paths_follow_the_sparse_layout() {
        assert_eq!(index_path("a").unwrap(), "1/a");
        assert_eq!(index_path("ab").unwrap(), "2/ab");
        assert_eq!(index_path("Syn").unwrap(), "3/s/syn");
        assert_eq!(index_path("serde_json").unwrap(), "se/rd/serde_json");
        assert!(index_path("../x").is_none());
        assert!(index_path("").is_none());
    }

    #[test]
    fn dependencies_of_the_newest_versions_without_dev() {
        let file = br#"{"name":"x","vers":"0.1.0","deps":[{"name":"old","kind":"normal"}]}
{"name":"x","vers":"1.0.0","deps":[{"name":"serde","kind":"normal"},{"name":"cc","kind":"build"},{"name":"rand","kind":"dev"},{"name":"ren","package":"Real-Name","optional":true}]}
"#;
        assert_eq!(
            dependencies(file),
            vec!["2/cc", "old", "re/al/real-name", "se/rd/serde"]
                .into_iter()
                .map(|s| if s == "old" {
                    "3/o/old".to_owned()
                } else {
                    s.to_owned()
                })
                .collect::<Vec<_>>()
        );
    }
}
