//! File descriptors: raising the soft limit, and how many connections the rest leaves room for.
//!
//! Every accepted connection holds a socket, and while it is served it may briefly hold one
//! more descriptor (a published file being read for a `GET`, an upload being stored). The
//! sequencers must always be able to open their log, checkpoint and published files, and a KMS
//! client its sockets, however many connections clients hold, so the connection cap is taken
//! from what is left after a fixed reserve, at two descriptors per connection.

use std::path::Path;

/// Descriptors kept for the process whatever the roles: the runtime's own (epoll, eventfd,
/// the listener), standard streams, the data-directory lock, the blocking pool's file
/// operations, TLS connections of a KMS client, logging.
pub const BASE_RESERVE: u64 = 64;

/// Descriptors kept for each role: its write-ahead log, a checkpoint being written, the
/// temporary and directory files of a round being published, `round.json`.
pub const PER_ROLE_RESERVE: u64 = 16;

/// Descriptors counted per connection: its socket and at most one file it reads or writes.
pub const DESCRIPTORS_PER_CONNECTION: u64 = 2;

/// The automatic connection cap never exceeds this, however high the descriptor limit: each
/// connection costs memory (buffers, a task), and a signer's clients are a handful of writers
/// and the readers asking for proofs. Set `server.max_connections` for more.
pub const AUTO_MAX_CONNECTIONS: usize = 10_000;

/// Descriptors assumed open when `/proc/self/fd` cannot be read.
const ASSUMED_OPEN: u64 = 64;

/// The outcome of [`raise_nofile_limit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NofileLimit {
    /// The soft limit before (`None`: unlimited).
    pub before: Option<u64>,
    /// The soft limit now.
    pub now: Option<u64>,
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit, so the connection cap derived from it
/// (and the reserve below it) is as large as the operator allows. systemd's default soft
/// limit of 1,024 is a compatibility value for `select(2)`, which nothing here uses.
pub fn raise_nofile_limit() -> Result<NofileLimit, std::io::Error> {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    if limit.current == limit.maximum {
        return Ok(NofileLimit {
            before: limit.current,
            now: limit.current,
        });
    }
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        },
    )?;
    Ok(NofileLimit {
        before: limit.current,
        now: getrlimit(Resource::Nofile).current,
    })
}

/// How many connections the descriptor limit leaves room for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionBudget {
    /// The soft descriptor limit (`None`: unlimited).
    pub nofile: Option<u64>,
    /// Descriptors open when the budget was computed (roles recovered, listener bound).
    pub open: u64,
    /// Descriptors kept back: [`BASE_RESERVE`] + [`PER_ROLE_RESERVE`] per role.
    pub reserve: u64,
    /// Connections the limit allows: (limit − open − reserve) / [`DESCRIPTORS_PER_CONNECTION`]
    /// (`None`: unlimited).
    pub allowed: Option<usize>,
    /// The cap in force: the configured value or the automatic one, never above `allowed`,
    /// at least 1.
    pub max_connections: usize,
    /// The configured `max_connections` was over what the limit allows and was lowered.
    pub lowered: bool,
}

impl ConnectionBudget {
    /// The budget from the numbers given (a pure function, for tests).
    pub fn compute(
        nofile: Option<u64>,
        open: u64,
        roles: usize,
        configured: Option<usize>,
    ) -> Self {
        let reserve = BASE_RESERVE.saturating_add(
            PER_ROLE_RESERVE.saturating_mul(u64::try_from(roles).unwrap_or(u64::MAX)),
        );
        let allowed = nofile.map(|n| {
            let spare = n.saturating_sub(open).saturating_sub(reserve) / DESCRIPTORS_PER_CONNECTION;
            usize::try_from(spare).unwrap_or(usize::MAX)
        });
        let wanted = configured.unwrap_or(AUTO_MAX_CONNECTIONS);
        let capped = allowed.map_or(wanted, |a| wanted.min(a));
        ConnectionBudget {
            nofile,
            open,
            reserve,
            allowed,
            max_connections: capped.max(1),
            lowered: configured.is_some_and(|c| c > capped),
        }
    }

    /// The budget of this process now.
    pub fn current(roles: usize, configured: Option<usize>) -> Self {
        let nofile = rustix::process::getrlimit(rustix::process::Resource::Nofile).current;
        Self::compute(nofile, open_descriptors(), roles, configured)
    }
}

/// Descriptors this process has open (Linux: the entries of `/proc/self/fd`, less the one
/// reading it).
fn open_descriptors() -> u64 {
    match std::fs::read_dir(Path::new("/proc/self/fd")) {
        Ok(entries) => u64::try_from(entries.count())
            .unwrap_or(ASSUMED_OPEN)
            .saturating_sub(1),
        Err(_) => ASSUMED_OPEN,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reserve_and_two_descriptors_per_connection_come_out_of_the_limit() {
        // ulimit -n 1024, 30 open, 2 roles: (1024 - 30 - 96) / 2.
        let b = ConnectionBudget::compute(Some(1024), 30, 2, None);
        assert_eq!(b.reserve, 96);
        assert_eq!(b.allowed, Some(449));
        assert_eq!(b.max_connections, 449);
        assert!(!b.lowered);
        // A high limit: the automatic ceiling.
        let b = ConnectionBudget::compute(Some(1 << 20), 30, 4, None);
        assert_eq!(b.max_connections, AUTO_MAX_CONNECTIONS);
        let b = ConnectionBudget::compute(None, 30, 4, None);
        assert_eq!(b.max_connections, AUTO_MAX_CONNECTIONS);
    }

    #[test]
    fn a_configured_cap_is_kept_when_it_fits_and_lowered_when_it_does_not() {
        let b = ConnectionBudget::compute(Some(1 << 20), 30, 4, Some(50_000));
        assert_eq!((b.max_connections, b.lowered), (50_000, false));
        let b = ConnectionBudget::compute(Some(1024), 30, 2, Some(5_000));
        assert_eq!((b.max_connections, b.lowered), (449, true));
        let b = ConnectionBudget::compute(Some(1024), 30, 2, Some(100));
        assert_eq!((b.max_connections, b.lowered), (100, false));
    }

    #[test]
    fn a_limit_below_the_reserve_still_serves_one_connection() {
        let b = ConnectionBudget::compute(Some(64), 30, 4, None);
        assert_eq!(b.allowed, Some(0));
        assert_eq!(b.max_connections, 1);
    }

    #[test]
    fn this_process_has_a_budget() {
        let b = ConnectionBudget::current(1, None);
        assert!(b.open >= 3, "{b:?}");
        assert!(b.max_connections >= 1);
    }
}
