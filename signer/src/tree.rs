//! A role's leaf set: the Merkle tree, D2's version rules, and (for classic roles) the names.
//!
//! Properties kept: a target's version starts at 1 and goes up by exactly one on every change,
//! including deletion (a tombstone) and re-publication after deletion; identical contents change
//! nothing, and neither does deleting a tombstone (a retried delete); deleting a target the role never
//! had is refused. A batch of changes is
//! validated against the tree plus the earlier changes of the same batch, before anything is
//! logged or applied, and one request's changes are accepted or refused together.

use std::collections::{BTreeMap, HashMap};

use tuf_merkle::{Digest, LeafContents, Tree, key_of, rules};

use crate::change::{Applied, Change, Op};

/// Why a change was refused; nothing of its request was applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    /// Deleting a target the role never had.
    #[error("cannot delete {0:?}: the role has no such target")]
    NotFound(String),
    /// A version or length beyond 2^63 - 1.
    #[error("{0:?}: {1}")]
    Range(String, String),
}

impl RuleError {
    /// The API error code.
    pub fn code(&self) -> &'static str {
        match self {
            RuleError::NotFound(_) => "target_not_found",
            RuleError::Range(..) => "value_out_of_range",
        }
    }
}

/// The next contents of a target under D2's rules ([`tuf_merkle::rules`]), given its current
/// contents; the error names the target.
pub fn next_contents(op: &Op, current: Option<LeafContents>) -> Result<LeafContents, RuleError> {
    let rule = match *op {
        Op::Upsert { length, sha256, .. } => rules::Op::Upsert { length, sha256 },
        Op::Delete { .. } => rules::Op::Delete,
    };
    rules::next_contents(current, rule).map_err(|e| {
        let name = op.name().to_owned();
        match e {
            rules::RuleError::NotFound => RuleError::NotFound(name),
            other => RuleError::Range(name, other.to_string()),
        }
    })
}

/// A role's leaves.
#[derive(Clone, Default)]
pub struct RoleTree {
    /// The Merkle tree (both modes: it holds the versions).
    pub tree: Tree,
    /// Names by key, kept for classic roles (their `targets.json` lists names).
    pub names: Option<HashMap<Digest, String>>,
}

/// Changes validated against a tree but not yet applied.
#[derive(Debug, Default)]
pub struct Staged {
    overlay: HashMap<Digest, LeafContents>,
    /// What each overlay insertion replaced, in order, so that [`Staged::rollback`] can undo
    /// the requests staged after a [`Mark`].
    journal: Vec<(Digest, Option<LeafContents>)>,
    /// The accepted changes that change something, in order: what is logged, applied to the
    /// tree and listed in the change record.
    pub changes: Vec<Change>,
}

/// A position in a [`Staged`], to roll back to.
#[derive(Debug, Clone, Copy)]
pub struct Mark {
    /// `changes.len()` at the mark.
    pub changes: usize,
    journal: usize,
}

impl Staged {
    /// The current position.
    pub fn mark(&self) -> Mark {
        Mark {
            changes: self.changes.len(),
            journal: self.journal.len(),
        }
    }

    /// Undoes everything staged after `mark` (a request accepted by the rules but refused for
    /// its size), so that later requests of the batch are checked as if it never came.
    pub fn rollback(&mut self, mark: Mark) {
        for (key, previous) in self.journal.drain(mark.journal..).rev() {
            match previous {
                Some(p) => self.overlay.insert(key, p),
                None => self.overlay.remove(&key),
            };
        }
        self.changes.truncate(mark.changes);
    }

    /// The changes staged since `mark`.
    pub fn since(&self, mark: Mark) -> &[Change] {
        &self.changes[mark.changes..]
    }
}

impl RoleTree {
    /// An empty tree; `keep_names` for classic roles.
    pub fn new(keep_names: bool) -> Self {
        RoleTree {
            tree: Tree::new(),
            names: keep_names.then(HashMap::new),
        }
    }

    /// Validates one request's ops against the tree and what `staged` already holds; on success
    /// adds them to `staged`, on failure leaves `staged` as it was.
    /// The error carries the index of the refused op.
    pub fn stage(
        &self,
        staged: &mut Staged,
        ops: &[Op],
    ) -> Result<Vec<Applied>, (usize, RuleError)> {
        let mut local: HashMap<Digest, LeafContents> = HashMap::new();
        let mut applied = Vec::with_capacity(ops.len());
        let mut keys = Vec::with_capacity(ops.len());
        for (index, op) in ops.iter().enumerate() {
            let key = key_of(op.name());
            let current = local
                .get(&key)
                .or_else(|| staged.overlay.get(&key))
                .copied()
                .or_else(|| self.tree.get_key(&key));
            let new = next_contents(op, current).map_err(|e| (index, e))?;
            local.insert(key, new);
            keys.push(key);
            applied.push(Applied {
                name: op.name().to_owned(),
                old: current,
                new,
                changed: current != Some(new),
            });
        }
        for (a, key) in applied.iter().zip(keys) {
            if a.changed {
                let previous = staged.overlay.insert(key, a.new);
                staged.journal.push((key, previous));
                staged.changes.push(Change {
                    name: a.name.clone(),
                    key,
                    old: a.old,
                    new: a.new,
                });
            }
        }
        Ok(applied)
    }

    /// Applies accepted changes (in order) to the tree.
    pub fn apply(&mut self, changes: &[Change]) {
        if let Some(names) = &mut self.names {
            for c in changes {
                names.insert(c.key, c.name.clone());
            }
        }
        self.tree.set_many(changes.iter().map(|c| (c.key, c.new)));
    }

    /// The present targets with names, sorted by name (classic `targets.json`).
    pub fn present_targets(&self) -> BTreeMap<String, (u64, Digest)> {
        let mut out = BTreeMap::new();
        if let Some(names) = &self.names {
            self.tree.for_each_leaf(|key, contents| {
                if let (LeafContents::Present { length, sha256, .. }, Some(name)) =
                    (contents, names.get(key))
                {
                    out.insert(name.clone(), (length, sha256));
                }
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tuf_merkle::hash::sha256;

    fn up(name: &str, bytes: &[u8]) -> Op {
        Op::Upsert {
            name: name.into(),
            length: bytes.len() as u64,
            sha256: sha256(bytes),
        }
    }

    #[test]
    fn versions_follow_d2_within_a_batch() {
        let t = RoleTree::new(true);
        let mut s = Staged::default();
        let a = t
            .stage(&mut s, &[up("a", b"1"), up("a", b"1"), up("a", b"2")])
            .unwrap();
        assert_eq!(
            a.iter()
                .map(|x| (x.new.version(), x.changed))
                .collect::<Vec<_>>(),
            [(1, true), (1, false), (2, true)]
        );
        let d = t.stage(&mut s, &[Op::Delete { name: "a".into() }]).unwrap();
        assert_eq!(d[0].new, LeafContents::Deleted { version: 3 });
        // A retried delete is accepted and changes nothing.
        let before = s.changes.len();
        let again = t.stage(&mut s, &[Op::Delete { name: "a".into() }]).unwrap();
        assert_eq!(
            (again[0].new, again[0].changed),
            (LeafContents::Deleted { version: 3 }, false)
        );
        assert_eq!(s.changes.len(), before);
        // A failing request leaves the staged state alone.
        assert_eq!(
            t.stage(&mut s, &[up("b", b"x"), Op::Delete { name: "zz".into() }]),
            Err((1, RuleError::NotFound("zz".into())))
        );
        assert_eq!(s.changes.len(), before);
        assert_eq!(
            t.stage(&mut s, &[Op::Delete { name: "zz".into() }]),
            Err((0, RuleError::NotFound("zz".into())))
        );
        let mut t = t;
        t.apply(&s.changes);
        assert_eq!(t.tree.get("a"), Some(LeafContents::Deleted { version: 3 }));
        assert!(t.present_targets().is_empty());
        let mut s = Staged::default();
        t.stage(&mut s, &[up("a", b"9")]).unwrap();
        assert_eq!(s.changes[0].new.version(), 4);

        // A rolled-back request leaves no trace: the next one sees the state before it.
        let mark = s.mark();
        t.stage(&mut s, &[up("a", b"10"), up("b", b"1")]).unwrap();
        s.rollback(mark);
        assert_eq!(s.changes.len(), 1);
        let again = t.stage(&mut s, &[up("a", b"10"), up("b", b"1")]).unwrap();
        assert_eq!(
            again.iter().map(|a| a.new.version()).collect::<Vec<_>>(),
            [5, 1]
        );
    }
}
