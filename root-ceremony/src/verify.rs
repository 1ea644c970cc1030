//! `verify`: every role's published chain checked as a TUF client would, all roles naming one
//! quorum (D1), and optionally ceremony transcripts against the roots they finalized.
//!
//! Nothing stops at the first problem: [`verify_roots`] checks every role and transcript and
//! reports each, so one run names everything that is wrong; [`VerifyReport::into_result`] then
//! turns the report into one error listing every failure.

use std::path::{Path, PathBuf};

use crate::chain::load_chain;
use crate::error::{CeremonyError, VerifyFailure};
use crate::model::root_keyids;
use crate::transcript::verify_transcript;

/// What `verify` found for one role.
#[derive(Debug)]
#[non_exhaustive]
pub enum RoleCheck {
    /// The chain verifies as a client would.
    Verified {
        /// The role.
        role: String,
        /// The newest version.
        version: u64,
        /// When the newest root expires.
        expires: jiff::Timestamp,
        /// Whether its root quorum differs from the first verified role's (a failure).
        quorum_differs: bool,
    },
    /// The role's directory holds no roots (a failure).
    Empty {
        /// The role.
        role: String,
    },
    /// The chain breaks (a failure).
    Broken {
        /// The role.
        role: String,
        /// Where and why.
        error: CeremonyError,
    },
}

/// What `verify` found for one transcript.
#[derive(Debug)]
#[non_exhaustive]
pub enum TranscriptCheck {
    /// The transcript's hash chain holds and every root it finalized is in the roots directory.
    Verified {
        /// The transcript.
        path: PathBuf,
        /// How many steps it records.
        steps: usize,
    },
    /// The transcript does not check out (a failure).
    Broken {
        /// The transcript.
        path: PathBuf,
        /// Where and why.
        error: CeremonyError,
    },
}

/// Everything `verify` checked, in order: roles, then transcripts.
#[derive(Debug)]
pub struct VerifyReport {
    /// Per role.
    pub roles: Vec<RoleCheck>,
    /// Per transcript.
    pub transcripts: Vec<TranscriptCheck>,
}

impl VerifyReport {
    /// `Ok` when nothing failed, otherwise [`CeremonyError::VerifyFailed`] with every failure in
    /// the order found.
    pub fn into_result(self) -> Result<(), CeremonyError> {
        let mut failures = Vec::new();
        for check in self.roles {
            match check {
                RoleCheck::Verified {
                    role,
                    quorum_differs: true,
                    ..
                } => failures.push(VerifyFailure::QuorumDiffers { role }),
                RoleCheck::Verified { .. } => {}
                RoleCheck::Empty { role } => failures.push(VerifyFailure::NoRoots { role }),
                RoleCheck::Broken { error, .. } => failures.push(VerifyFailure::Chain(error)),
            }
        }
        for check in self.transcripts {
            if let TranscriptCheck::Broken { error, .. } = check {
                failures.push(VerifyFailure::Transcript(error));
            }
        }
        if failures.is_empty() {
            Ok(())
        } else {
            Err(CeremonyError::VerifyFailed(failures))
        }
    }
}

/// The role directories in `roots`: every directory whose name is UTF-8 and does not start
/// with `.`, sorted.
pub fn role_dirs(roots: &Path) -> Result<Vec<String>, CeremonyError> {
    let mut found = Vec::new();
    let entries = std::fs::read_dir(roots).map_err(CeremonyError::io("list", roots))?;
    for e in entries {
        let e = e.map_err(CeremonyError::io("list", roots))?;
        if e.path().is_dir()
            && let Some(n) = e.file_name().to_str()
            && !n.starts_with('.')
        {
            found.push(n.to_owned());
        }
    }
    found.sort();
    Ok(found)
}

/// Checks the chains of `roles` in `roots` (every role directory when `roles` is empty, see
/// [`role_dirs`]) as a client would at `now`, that they share one quorum, and each transcript
/// in `transcripts` against `roots`. Errors only when there is nothing to check; every
/// problem found is in the report.
pub fn verify_roots(
    roots: &Path,
    roles: &[String],
    transcripts: &[PathBuf],
    now: jiff::Timestamp,
) -> Result<VerifyReport, CeremonyError> {
    let roles = if roles.is_empty() {
        role_dirs(roots)?
    } else {
        roles.to_vec()
    };
    if roles.is_empty() {
        return Err(CeremonyError::NoRoleDirectories(roots.to_owned()));
    }
    let mut quorum: Option<(Vec<String>, u64)> = None;
    let mut checks = Vec::with_capacity(roles.len());
    for role in roles {
        let check = match load_chain(&role, &roots.join(&role), Some(now)) {
            Err(error) => RoleCheck::Broken { role, error },
            Ok(chain) => match chain.last() {
                None => RoleCheck::Empty { role },
                Some(last) => {
                    let r = &last.root.signed;
                    let mut ids = root_keyids(r);
                    ids.sort();
                    let t = r
                        .roles
                        .get(&tough::schema::RoleType::Root)
                        .map_or(0, |k| k.threshold.get());
                    // D1: the first verified role's quorum is the one every other must name.
                    let this = (ids, t);
                    let quorum_differs = match &quorum {
                        None => {
                            quorum = Some(this);
                            false
                        }
                        Some(q) => *q != this,
                    };
                    RoleCheck::Verified {
                        role,
                        version: chain.version(),
                        expires: r.expires,
                        quorum_differs,
                    }
                }
            },
        };
        checks.push(check);
    }
    let transcripts = transcripts
        .iter()
        .map(|t| match verify_transcript(t, None, Some(roots)) {
            Ok(s) => TranscriptCheck::Verified {
                path: t.clone(),
                steps: s.entries.len(),
            },
            Err(error) => TranscriptCheck::Broken {
                path: t.clone(),
                error,
            },
        })
        .collect();
    Ok(VerifyReport {
        roles: checks,
        transcripts,
    })
}
