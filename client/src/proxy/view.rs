//! The pinned view: one thread owns the client state and checks files against the tree of the
//! trusted timestamp, batching the names asked together into one multi-proof.
//!
//! Properties kept:
//! - Every check of one batch is made against one timestamp version (one multi-proof).
//! - A name waits for its batch at most [`MAX_LINGER`] beyond the proof before it: a batch
//!   waits for more names only when [`BURST`] or more were already queued, and only while they
//!   keep coming ([`QUIET`]). With the repositories [`FAR`] away or more, every batch waits, at
//!   most half the proofs' round trip ([`MAX_FAR_LINGER`] at most), as a level split in two
//!   batches costs a round trip more.
//! - The first view is made on the verifier's thread before it takes any request, so every
//!   check is against a refreshed timestamp (or, the repositories unreachable, the trusted one).
//! - The view moves only forward, through the client's own refresh (root chain, signature,
//!   expiry, rollback checks): at the start of a resolution (after `idle` without requests)
//!   once it is older than `max_age`, or when asked because the index is ahead of it (at most
//!   one refresh per [`MIN_REFRESH_GAP`]).
//! - A leaf's version never goes down for this state (the client's per-name floor), so an old
//!   index file replayed after an update does not verify against a newer tree. The floors are
//!   written once a second (a crash loses at most that much of them; the timestamp's own floor
//!   is written as soon as it verifies).

use std::collections::BTreeMap;
use std::sync::mpsc;

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

use tuf_merkle::{Digest, LeafContents};

use super::{Options, ProxyError};
use crate::client::{Client, Status};
use crate::error::ClientError;
use crate::failover::{ServerFault, fault};
use crate::state::Mode;
use crate::transport;

/// The shortest time between two refreshes asked because the index was ahead.
pub const MIN_REFRESH_GAP: Duration = Duration::from_millis(250);
/// How often verified leaf floors are written to the client state.
const LEAF_SAVE_EVERY: Duration = Duration::from_secs(1);
/// The most names checked in one batch.
const MAX_BATCH: usize = 1000;
/// A batch of at least this many names queued at once is a burst, worth waiting for more.
const BURST: usize = 3;
/// In a burst, the batch closes once no name came for this long...
const QUIET: Duration = Duration::from_micros(500);
/// ... or this long after it started to wait.
const MAX_LINGER: Duration = Duration::from_millis(5);
/// With the repositories far away (a proof's round trip, [`Thread::round_trip`], of this or
/// more), every batch waits for more names, a slice of the round trip: a level of cargo's
/// resolution cut in two batches pays a whole round trip more, as the second batch is asked
/// only once the first is proved.
const FAR: Duration = Duration::from_millis(4);
/// The longest wait for more names, however far the repositories are.
const MAX_FAR_LINGER: Duration = Duration::from_millis(25);

/// What is known of a file: its length and SHA-256, or that the index has none.
pub type Candidate = Option<(u64, Digest)>;

/// The answer for one name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The bytes are the leaf at timestamp `version`.
    Present {
        /// The timestamp version.
        version: u64,
    },
    /// The index has no file and the tree at `version` proves the name absent or deleted.
    Absent {
        /// The timestamp version.
        version: u64,
    },
    /// The index and the tree at `version` disagree (the index is ahead, or tampered).
    NotCovered {
        /// The timestamp version.
        version: u64,
        /// What disagrees.
        reason: String,
    },
    /// The check could not be made.
    Failed {
        /// Why.
        reason: String,
        /// Whether every repository was unreachable (rather than refused).
        unreachable: bool,
    },
}

/// The current view, readable by the request handlers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ViewInfo {
    /// The pinned timestamp version.
    pub version: u64,
    /// When it expires.
    pub expires: Option<jiff::Timestamp>,
}

impl ViewInfo {
    /// Whether its timestamp is still valid now.
    pub fn is_fresh(&self) -> bool {
        self.expires.is_some_and(|e| e > jiff::Timestamp::now())
    }
}

/// What the tree of the view says of a name: its status and the timestamp version, or why it
/// could not be proved (and whether every repository was unreachable).
type Proved = Result<(Status, u64), (String, bool)>;

enum Request {
    Check {
        name: String,
        reply: oneshot::Sender<Proved>,
    },
    Refresh {
        reply: mpsc::Sender<Result<u64, String>>,
    },
}

/// A handle on the verifier thread.
#[derive(Clone)]
pub struct Verifier {
    tx: mpsc::Sender<Request>,
    info: Arc<RwLock<ViewInfo>>,
}

impl Verifier {
    /// Opens the client state and starts the verifier thread.
    pub fn open(options: &Options) -> Result<Verifier, ProxyError> {
        let transports = options
            .repositories
            .iter()
            .map(|u| transport::open_with(u, options.http.clone()))
            .collect();
        // Leaf floors are written once a second rather than after every batch (an fsync per
        // batch would cost more than the proof); roots and timestamps are written at once.
        let client =
            Client::open_repositories(&options.state, transports)?.with_deferred_leaf_saves();
        if client.state().mode != Mode::Merkle {
            return Err(ProxyError::NotMerkle(options.state.clone()));
        }
        let info = Arc::new(RwLock::new(view_of(&client)));
        let (tx, rx) = mpsc::channel();
        let mut thread = Thread {
            client,
            info: info.clone(),
            idle: options.idle,
            max_age: options.max_age,
            last_request: None,
            last_refresh: None,
            last_save: Instant::now(),
            round_trip: Duration::ZERO,
        };
        std::thread::Builder::new()
            .name("tuf-proxy-verifier".into())
            .spawn(move || thread.run(&rx))
            .map_err(|e| {
                ProxyError::Client(ClientError::Transport {
                    what: "the verifier thread".into(),
                    message: e.to_string(),
                })
            })?;
        Ok(Verifier { tx, info })
    }

    /// Checks `candidate` as the file of `name` against the current view.
    pub fn check(&self, name: &str, candidate: Candidate) -> Outcome {
        self.prove(name).judge(name, candidate)
    }

    /// Starts proving `name` against the current view; the caller fetches the file meanwhile
    /// and judges it with [`Pending::judge`] (the proof and the file travel at the same time).
    pub fn prove(&self, name: &str) -> Pending {
        let (reply, rx) = oneshot::channel();
        let _ = self.tx.send(Request::Check {
            name: name.to_owned(),
            reply,
        });
        Pending(rx)
    }

    /// Moves the view to the repositories' latest timestamp (at most once per
    /// [`MIN_REFRESH_GAP`]); the version now pinned.
    pub fn refresh(&self) -> Result<u64, String> {
        let (reply, rx) = mpsc::channel();
        self.tx
            .send(Request::Refresh { reply })
            .map_err(|_| "the verifier stopped".to_owned())?;
        rx.recv()
            .unwrap_or_else(|_| Err("the verifier stopped".into()))
    }

    /// The current view.
    pub fn info(&self) -> ViewInfo {
        *self
            .info
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A proof on its way ([`Verifier::prove`]).
pub struct Pending(oneshot::Receiver<Proved>);

impl Pending {
    /// Waits for the proof and judges `candidate` (the file of `name`, or its absence) by it.
    /// Blocks: not for an async task (use [`Pending::judged`]).
    pub fn judge(self, name: &str, candidate: Candidate) -> Outcome {
        outcome(name, candidate, self.0.blocking_recv())
    }

    /// [`Pending::judge`] for an async task.
    pub async fn judged(self, name: &str, candidate: Candidate) -> Outcome {
        outcome(name, candidate, self.0.await)
    }
}

fn outcome(
    name: &str,
    candidate: Candidate,
    proved: Result<Proved, oneshot::error::RecvError>,
) -> Outcome {
    match proved {
        Ok(Ok((status, version))) => judge(name, candidate, &status, version),
        Ok(Err((reason, unreachable))) => Outcome::Failed {
            reason,
            unreachable,
        },
        Err(_) => Outcome::Failed {
            reason: "the verifier stopped".into(),
            unreachable: false,
        },
    }
}

fn view_of(client: &Client) -> ViewInfo {
    ViewInfo {
        version: client.state().proof_version,
        expires: client.state().timestamp_expires,
    }
}

/// Whether `e` means no repository could be reached (rather than one refusing the data).
fn unreachable(e: &ClientError) -> bool {
    match e {
        ClientError::AllRepositoriesFailed { attempts } => {
            attempts.iter().all(|a| a.fault == ServerFault::Unavailable)
        }
        other => fault(other) == Some(ServerFault::Unavailable),
    }
}

struct Thread {
    client: Client,
    info: Arc<RwLock<ViewInfo>>,
    idle: Duration,
    max_age: Duration,
    last_request: Option<Instant>,
    last_refresh: Option<Instant>,
    last_save: Instant,
    /// How long proving a batch took lately (mostly the repository's round trip): a moving
    /// average, from which the wait for more names is set ([`Thread::linger`]).
    round_trip: Duration,
}

impl Thread {
    /// How long a batch waits for more names: none to start with for one or two names nearby
    /// (cargo over HTTP/1.1 keeps two requests in flight), `(quiet, at most)` otherwise.
    fn linger(&self, queued: usize) -> Option<(Duration, Duration)> {
        if self.round_trip >= FAR {
            Some((
                (self.round_trip / 8).clamp(QUIET, MAX_LINGER),
                (self.round_trip / 2).clamp(MAX_LINGER, MAX_FAR_LINGER),
            ))
        } else {
            (queued >= BURST).then_some((QUIET, MAX_LINGER))
        }
    }

    fn run(&mut self, rx: &mpsc::Receiver<Request>) {
        self.first_view();
        loop {
            let first = match rx.recv_timeout(LEAF_SAVE_EVERY) {
                Ok(r) => r,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    self.save_leaves();
                    continue;
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    self.save_leaves();
                    return;
                }
            };
            let mut checks = Vec::new();
            let mut refreshes = Vec::new();
            let take = |r: Request, checks: &mut Vec<_>, refreshes: &mut Vec<_>| match r {
                Request::Check { name, reply } => checks.push((name, reply)),
                Request::Refresh { reply } => refreshes.push(reply),
            };
            take(first, &mut checks, &mut refreshes);
            // Names asked while the last batch was being proved share one multi-proof: take
            // what is already queued, without waiting (over HTTP/1.1 cargo keeps two requests
            // in flight, and waiting would only add latency).
            while checks.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(r) => take(r, &mut checks, &mut refreshes),
                    Err(_) => break,
                }
            }
            // A burst (cargo over HTTP/2 asks for a whole level of its resolution at once, and
            // its requests reach this thread one by one as their handlers start): keep taking
            // while they keep coming, so that the level shares one multi-proof.
            if let Some((quiet, most)) = self.linger(checks.len()) {
                let until = Instant::now() + most;
                while checks.len() < MAX_BATCH {
                    let wait = quiet.min(until.saturating_duration_since(Instant::now()));
                    match rx.recv_timeout(wait) {
                        Ok(r) => take(r, &mut checks, &mut refreshes),
                        Err(_) => break,
                    }
                }
            }
            if !refreshes.is_empty() {
                let result = self.refresh(true);
                for reply in refreshes {
                    let _ = reply.send(result.clone());
                }
            }
            if !checks.is_empty() {
                self.maybe_move_view();
                self.last_request = Some(Instant::now());
                let started = Instant::now();
                self.check(checks);
                // A quarter of the newest: a slow outlier moves it, one fast answer does not
                // undo a far repository.
                self.round_trip = (self.round_trip * 3 + started.elapsed()) / 4;
            }
            if self.last_save.elapsed() >= LEAF_SAVE_EVERY {
                self.save_leaves();
            }
        }
    }

    /// The first view: the latest timestamp, or (offline) the one the state trusts. Made here,
    /// once the proxy listens, so that its round trips to the repositories overlap cargo's
    /// start; requests queue behind it (this thread takes them only after).
    fn first_view(&mut self) {
        match self.client.refresh() {
            Ok(r) => {
                self.last_refresh = Some(Instant::now());
                eprintln!(
                    "tuf-verify proxy: verified against timestamp {}",
                    r.timestamp_version
                );
            }
            Err(e) => eprintln!(
                "tuf-verify proxy: cannot refresh the timestamp ({e}); verifying against the trusted one, {}",
                self.client.state().proof_version
            ),
        }
        *self
            .info
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = view_of(&self.client);
    }

    fn save_leaves(&mut self) {
        self.last_save = Instant::now();
        if let Err(e) = self.client.save_state() {
            eprintln!("tuf-verify proxy: cannot save the client state: {e}");
        }
    }

    /// A new resolution (after an idle gap) moves a view older than `max_age`.
    fn maybe_move_view(&mut self) {
        let idle = self.last_request.is_none_or(|t| t.elapsed() >= self.idle);
        let old = self
            .last_refresh
            .is_none_or(|t| t.elapsed() >= self.max_age);
        if idle
            && old
            && let Err(e) = self.refresh(false)
        {
            eprintln!("tuf-verify proxy: cannot refresh the timestamp ({e}); keeping the view");
        }
    }

    fn refresh(&mut self, asked: bool) -> Result<u64, String> {
        if asked
            && self
                .last_refresh
                .is_some_and(|t| t.elapsed() < MIN_REFRESH_GAP)
        {
            return Ok(self.client.state().proof_version);
        }
        self.last_refresh = Some(Instant::now());
        let result = self.client.refresh().map_err(|e| e.to_string());
        *self
            .info
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = view_of(&self.client);
        result.map(|r| r.timestamp_version)
    }

    fn check(&mut self, checks: Vec<(String, oneshot::Sender<Proved>)>) {
        let names: Vec<String> = checks.iter().map(|(n, _)| n.clone()).collect();
        let verified = match self.client.verify_many(&names, &BTreeMap::new()) {
            Ok(v) => v,
            Err(e) => {
                let failed = (e.to_string(), unreachable(&e));
                for (_, reply) in checks {
                    let _ = reply.send(Err(failed.clone()));
                }
                return;
            }
        };
        let by_name: BTreeMap<&str, &crate::client::Verified> =
            verified.iter().map(|v| (v.name.as_str(), v)).collect();
        for (name, reply) in checks {
            let proved = match by_name.get(name.as_str()) {
                None => Err((format!("{name}: no proof came back"), false)),
                Some(v) => Ok((v.status.clone(), v.timestamp_version)),
            };
            let _ = reply.send(proved);
        }
    }
}

/// What the proved `status` of `name` at `version` says of `candidate`.
fn judge(name: &str, candidate: Candidate, status: &Status, version: u64) -> Outcome {
    let not_covered = |reason: String| Outcome::NotCovered { version, reason };
    match (status, candidate) {
        (Status::Present(LeafContents::Present { length, sha256, .. }), Some((l, h))) => {
            if *length == l && *sha256 == h {
                Outcome::Present { version }
            } else {
                not_covered(format!(
                    "{name}: the index serves {l} bytes with SHA-256 {h}; the tree signed at timestamp {version} has {length} bytes with SHA-256 {sha256}"
                ))
            }
        }
        // The client reports a tombstone as `Deleted`; a present status always has contents.
        (Status::Present(LeafContents::Deleted { .. }), _) => Outcome::Failed {
            reason: format!("{name}: a present status with deleted contents"),
            unreachable: false,
        },
        (Status::Present(_), None) => not_covered(format!(
            "{name}: the index answered 404, but the tree signed at timestamp {version} holds it (withheld?)"
        )),
        (Status::Deleted(_) | Status::Absent, None) => Outcome::Absent { version },
        (Status::Deleted(_), Some(_)) => not_covered(format!(
            "{name}: the index serves a file the tree signed at timestamp {version} has deleted"
        )),
        (Status::Absent, Some(_)) => not_covered(format!(
            "{name}: the index serves a file the tree signed at timestamp {version} does not hold"
        )),
        (Status::Listed { .. }, _) => Outcome::Failed {
            reason: "a classic role's answer".into(),
            unreachable: false,
        },
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn judging_a_file_against_its_proved_leaf() {
        let bytes = b"x\n";
        let h = tuf_merkle::hash::sha256(bytes);
        let leaf = Status::Present(LeafContents::for_bytes(2, bytes).unwrap());
        assert_eq!(
            judge("a", Some((2, h)), &leaf, 7),
            Outcome::Present { version: 7 }
        );
        assert!(matches!(
            judge("a", Some((3, h)), &leaf, 7),
            Outcome::NotCovered { .. }
        ));
        assert!(matches!(
            judge("a", None, &leaf, 7),
            Outcome::NotCovered { .. }
        ));
        assert_eq!(
            judge("a", None, &Status::Absent, 7),
            Outcome::Absent { version: 7 }
        );
        assert_eq!(
            judge("a", None, &Status::Deleted(3), 7),
            Outcome::Absent { version: 7 }
        );
        assert!(matches!(
            judge("a", Some((2, h)), &Status::Absent, 7),
            Outcome::NotCovered { .. }
        ));
    }
}
