//! The Merkle prefix tree of D3, persistent and path-compressed.
//!
//! # Shape
//! The tree D3 defines is a binary trie over 256-bit keys in which a leaf sits at the shallowest
//! depth where it is alone. Where all the leaves below a node go the same way, D3's tree has a
//! unary level whose other side is the empty hash `E`. This implementation does not store those
//! levels: a [`Branch`] records the depth `split` at which its two (never empty) children part,
//! and its stored hash is already folded through the unary levels above it, up to the depth at
//! which it hangs from its parent. The roots and proofs are exactly D3's; only the memory is less
//! (`n - 1` branches for `n` leaves, against about `1.44 n` interior nodes unfolded).
//!
//! Leaves keep their key and contents, not their hash: the leaf hash costs four SHA-256 blocks to
//! recompute, and it is needed only along the paths that change or are proved.
//!
//! # Versions
//! Nodes are reference counted and never changed while shared. Cloning a [`Tree`] is O(1) and
//! gives an immutable version that stays readable (for proofs) while the original moves on; a
//! change copies only the nodes on its path that another version still holds. Dropping a version
//! frees the nodes no other version holds.
//!
//! # Updates
//! Changes first mark the branches on their paths dirty, then one pass rehashes every dirty
//! branch once, so a batch of changes shares the work on the upper levels. Every public method
//! leaves the tree clean: a clean tree's stored hashes are exactly D3's.

use crate::contents::LeafContents;
use crate::hash::{Digest, EMPTY, KEY_BITS, interior_hash, key_of, leaf_hash};
use crate::rules::{self, Op, RuleError};
use triomphe::Arc;

/// A leaf: the key and its contents, 80 bytes.
#[derive(Clone)]
struct Leaf {
    key: Digest,
    contents: Stored,
}

/// Leaf contents packed into 48 bytes; a tombstone is a length of `u64::MAX`, a value that
/// [`LeafContents`] cannot hold.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Stored {
    version: u64,
    length: u64,
    sha256: [u8; 32],
}

const TOMBSTONE: u64 = u64::MAX;

impl From<LeafContents> for Stored {
    fn from(c: LeafContents) -> Self {
        match c {
            LeafContents::Present {
                version,
                length,
                sha256,
            } => Stored {
                version,
                length,
                sha256: sha256.0,
            },
            LeafContents::Deleted { version } => Stored {
                version,
                length: TOMBSTONE,
                sha256: [0; 32],
            },
        }
    }
}

impl From<Stored> for LeafContents {
    fn from(s: Stored) -> Self {
        if s.length == TOMBSTONE {
            LeafContents::Deleted { version: s.version }
        } else {
            LeafContents::Present {
                version: s.version,
                length: s.length,
                sha256: Digest(s.sha256),
            }
        }
    }
}

impl Leaf {
    fn hash(&self) -> Digest {
        leaf_hash(&self.key, &LeafContents::from(self.contents).hash())
    }
}

/// An interior node where the keys below part at bit `split`; both children are non-empty.
#[derive(Clone)]
struct Branch {
    /// The tree hash of this subtree at the depth where it hangs from its parent (the root hangs
    /// at 0), meaningful only when `dirty` is false.
    hash: Digest,
    children: [Node; 2],
    split: u8,
    dirty: bool,
}

#[derive(Clone)]
enum Node {
    Leaf(Arc<Leaf>),
    Branch(Arc<Branch>),
}

impl Node {
    /// The tree hash at the depth where the node hangs. Requires a clean subtree.
    fn hash(&self) -> Digest {
        match self {
            Node::Leaf(l) => l.hash(),
            Node::Branch(b) => b.hash,
        }
    }

    /// Any key below the node: the leftmost. Used for the prefix bits of unary levels.
    fn some_key(&self) -> Digest {
        let mut node = self;
        loop {
            match node {
                Node::Leaf(l) => return l.key,
                Node::Branch(b) => node = &b.children[0],
            }
        }
    }

    /// Follows `key`'s bits at each split down to a leaf: the only leaf that can hold `key`.
    fn blind_leaf(&self, key: &Digest) -> &Leaf {
        let mut node = self;
        loop {
            match node {
                Node::Leaf(l) => return l,
                Node::Branch(b) => node = &b.children[usize::from(key.bit(usize::from(b.split)))],
            }
        }
    }
}

/// Hashes a branch's children together at `split` and folds the result up through the unary
/// levels to depth `hang`, taking the side at each level from `prefix` (any key below it).
fn branch_hash(children: &[Node; 2], split: usize, hang: usize, prefix: &Digest) -> Digest {
    let h = interior_hash(&children[0].hash(), &children[1].hash());
    fold(h, split, hang, prefix)
}

/// Takes the hash `h` of a subtree at depth `from` to depth `to <= from` through unary levels,
/// whose other sides are all empty.
fn fold(mut h: Digest, from: usize, to: usize, prefix: &Digest) -> Digest {
    for level in (to..from).rev() {
        h = if prefix.bit(level) {
            interior_hash(&EMPTY, &h)
        } else {
            interior_hash(&h, &EMPTY)
        };
    }
    h
}

/// What a change did to a leaf.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// A new leaf: the tree had no leaf for the name.
    Inserted,
    /// The leaf existed with the given contents and now has the new ones.
    Updated(LeafContents),
    /// The leaf already had exactly these contents; nothing changed.
    Unchanged,
}

/// Why a change to a target was refused. The tree is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TreeError {
    /// Deleting a target the tree never held.
    #[error("no target with key {0} to delete")]
    NotFound(Digest),
    /// A target's version would reach 2^63.
    #[error("version of {0} would overflow")]
    VersionOverflow(Digest),
    /// The same key twice in one build.
    #[error("key {0} appears twice")]
    DuplicateKey(Digest),
}

/// Why a tree could not be rebuilt from stored interior hashes ([`Tree::from_stored`]), or
/// why its stored hashes are not those of its leaves ([`Tree::check_hashes`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoredHashesError {
    /// The leaves are not in strictly increasing key order (the order [`Tree::for_each_leaf`]
    /// visits them in, and the only one whose branches the hashes can follow).
    #[error("leaf {index} (key {key}) is not after the one before it in key order")]
    NotSorted {
        /// Its position.
        index: usize,
        /// Its key.
        key: Digest,
    },
    /// A tree of `n` leaves has `n - 1` branches, each with one stored hash.
    #[error("{leaves} leaves need {} branch hashes, found {found}", leaves.saturating_sub(1))]
    Count {
        /// The leaves.
        leaves: usize,
        /// The hashes.
        found: usize,
    },
    /// A stored hash is not the hash of the leaves below it.
    #[error(
        "the stored hash of the branch above key {key} at bit {split} is {stored}, but its \
         leaves hash to {computed}"
    )]
    Mismatch {
        /// A key below the branch (its leftmost).
        key: Digest,
        /// The bit at which the branch's children part.
        split: usize,
        /// What was stored.
        stored: Digest,
        /// What the leaves give.
        computed: Digest,
    },
}

/// A Merkle prefix tree over the targets of one role: a map from key (`H(name)`) to contents.
///
/// Cloning is O(1) and yields an independent version (see the module documentation).
#[derive(Clone, Default)]
pub struct Tree {
    root: Option<Node>,
    leaves: usize,
    tombstones: usize,
}

impl Tree {
    /// An empty tree, whose root is `E`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds a tree from leaves at once, using every core with the `parallel` feature.
    ///
    /// The root equals the one reached by inserting the same leaves one by one in any order.
    pub fn from_leaves(
        leaves: impl IntoIterator<Item = (Digest, LeafContents)>,
    ) -> Result<Self, TreeError> {
        let mut items: Vec<(Digest, Stored)> = leaves
            .into_iter()
            .map(|(k, c)| (k, Stored::from(c)))
            .collect();
        sort_by_key(&mut items);
        let splits = splits(&items).map_err(TreeError::DuplicateKey)?;
        // The build counts tombstones on its way, in parallel.
        let (root, tombstones) = if items.is_empty() {
            (None, 0)
        } else {
            let (root, tombstones) = build(&items, &splits, 0);
            (Some(root), tombstones)
        };
        Ok(Tree {
            root,
            leaves: items.len(),
            tombstones,
        })
    }

    /// Every branch's hash, in pre-order (a branch, then its 0 side, then its 1 side): what
    /// [`Tree::from_stored`] takes back with the leaves, in key order, to rebuild the tree
    /// without hashing. `len() - 1` hashes (none for a tree of fewer than two leaves).
    pub fn for_each_branch_hash(&self, mut f: impl FnMut(&Digest)) {
        fn walk(node: &Node, f: &mut impl FnMut(&Digest)) {
            if let Node::Branch(b) = node {
                f(&b.hash);
                walk(&b.children[0], f);
                walk(&b.children[1], f);
            }
        }
        if let Some(root) = &self.root {
            walk(root, &mut f);
        }
    }

    /// Rebuilds a tree from its leaves in key order and its branch hashes as
    /// [`Tree::for_each_branch_hash`] gave them, **taking the hashes on trust**: nothing is
    /// hashed, so the build costs the allocations only. The shape is checked (sorted, distinct
    /// keys; one hash per branch); whether the hashes are those of the leaves is what
    /// [`Tree::check_hashes`] finds out, which a caller runs before it relies on the root.
    pub fn from_stored(
        leaves: impl IntoIterator<Item = (Digest, LeafContents)>,
        hashes: &[Digest],
    ) -> Result<Self, StoredHashesError> {
        let items: Vec<(Digest, Stored)> = leaves
            .into_iter()
            .map(|(k, c)| (k, Stored::from(c)))
            .collect();
        if hashes.len() != items.len().saturating_sub(1) {
            return Err(StoredHashesError::Count {
                leaves: items.len(),
                found: hashes.len(),
            });
        }
        if let Some(i) = unsorted(&items) {
            return Err(StoredHashesError::NotSorted {
                index: i,
                key: items[i].0,
            });
        }
        // Sorted and strictly increasing: no repeated key.
        let splits =
            splits(&items).map_err(|key| StoredHashesError::NotSorted { index: 0, key })?;
        let (root, tombstones) = if items.is_empty() {
            (None, 0)
        } else {
            let (root, tombstones) = build_stored(&items, &splits, hashes);
            (Some(root), tombstones)
        };
        Ok(Tree {
            root,
            leaves: items.len(),
            tombstones,
        })
    }

    /// Rehashes every leaf and branch and compares each branch's hash with the one it holds:
    /// `Ok` means the root is D3's root of the leaves. Needed only after [`Tree::from_stored`]
    /// (every other way of building or changing a tree computes its hashes); reads only, so
    /// it runs on a clone while the original moves on. Uses every core with the `parallel`
    /// feature.
    pub fn check_hashes(&self) -> Result<(), StoredHashesError> {
        match &self.root {
            Some(root) => check_node(root, 0).map(|_| ()),
            None => Ok(()),
        }
    }

    /// The root hash: `E` for an empty tree.
    pub fn root(&self) -> Digest {
        self.root.as_ref().map_or(EMPTY, Node::hash)
    }

    /// Number of leaves, tombstones included.
    pub fn len(&self) -> usize {
        self.leaves
    }

    /// Whether the tree has no leaves.
    pub fn is_empty(&self) -> bool {
        self.leaves == 0
    }

    /// Number of tombstones.
    pub fn tombstones(&self) -> usize {
        self.tombstones
    }

    /// The contents of the leaf for `key`, if there is one.
    pub fn get_key(&self, key: &Digest) -> Option<LeafContents> {
        let leaf = self.root.as_ref()?.blind_leaf(key);
        (leaf.key == *key).then(|| leaf.contents.into())
    }

    /// The contents of the leaf for the target `name`.
    pub fn get(&self, name: &str) -> Option<LeafContents> {
        self.get_key(&key_of(name))
    }

    /// Sets the contents of `key`'s leaf as given, inserting it if needed. This is the raw
    /// operation, with no version rules: see [`Tree::publish`] and [`Tree::delete`] for D2's.
    pub fn set(&mut self, key: Digest, contents: LeafContents) -> Change {
        let contents = Stored::from(contents);
        if let Some(root) = self.root.as_mut() {
            let found = root.blind_leaf(&key);
            if found.key == key {
                if found.contents == contents {
                    return Change::Unchanged;
                }
                // A new version of an existing target, the common case: one descent that
                // rehashes on its way back up.
                let change = Change::Updated(found.contents.into());
                update_sorted(
                    root,
                    0,
                    &mut [Entry {
                        key,
                        contents,
                        index: 0,
                        change: None,
                    }],
                );
                self.count_update(change, contents);
                return change;
            }
        }
        let change = self.put(key, contents);
        self.rehash();
        change
    }

    /// Sets many leaves and rehashes once: each node above them is hashed once per batch.
    /// Later entries for the same key win. Returns one [`Change`] per entry.
    ///
    /// Changes to existing leaves are applied in key order by one descent that splits the batch
    /// at each branch (across threads with the `parallel` feature) and rehashes on its way up;
    /// new leaves are then inserted one by one and their paths rehashed.
    pub fn set_many(
        &mut self,
        entries: impl IntoIterator<Item = (Digest, LeafContents)>,
    ) -> Vec<Change> {
        let mut entries: Vec<Entry> = entries
            .into_iter()
            .enumerate()
            .map(|(index, (key, c))| Entry {
                key,
                contents: c.into(),
                index,
                change: None,
            })
            .collect();
        sort_entries(&mut entries);
        if entries.windows(2).any(|w| w[0].key == w[1].key) {
            // Repeated keys: apply in the given order, so that each entry's change is relative
            // to the one before it.
            entries.sort_unstable_by_key(|e| e.index);
            let changes = entries
                .into_iter()
                .map(|e| self.put(e.key, e.contents))
                .collect();
            self.rehash();
            return changes;
        }
        // Which entries change an existing leaf: read only, so that nothing is copied for an
        // entry that turns out to be new or unchanged.
        if let Some(root) = self.root.as_ref() {
            classify(root, &mut entries);
        }
        let (mut updates, inserts): (Vec<Entry>, Vec<Entry>) =
            entries.into_iter().partition(|e| e.change.is_some());
        let mut changes = vec![Change::Unchanged; updates.len() + inserts.len()];
        updates.retain(|e| e.change != Some(Change::Unchanged));
        if let (Some(root), false) = (self.root.as_mut(), updates.is_empty()) {
            update_sorted(root, 0, &mut updates);
        }
        for e in &updates {
            let change = e.change.unwrap_or(Change::Unchanged);
            self.count_update(change, e.contents);
            changes[e.index] = change;
        }
        for e in &inserts {
            changes[e.index] = self.put(e.key, e.contents);
        }
        if !inserts.is_empty() {
            self.rehash();
        }
        changes
    }

    /// Keeps the tombstone count after an update that [`update_sorted`] applied.
    fn count_update(&mut self, change: Change, contents: Stored) {
        if let Change::Updated(old) = change {
            self.tombstones -= usize::from(old.is_deleted());
            self.tombstones += usize::from(contents.length == TOMBSTONE);
        }
    }

    /// Applies `op` to `key`'s leaf by D2's rules ([`crate::rules`]) and returns the contents
    /// now in the tree. A refused change leaves the tree as it was.
    pub fn change(&mut self, key: Digest, op: Op) -> Result<LeafContents, RuleError> {
        let next = self.next_contents(&key, op)?;
        self.set(key, next);
        Ok(next)
    }

    /// The contents [`Tree::change`] would write, without writing them.
    pub fn next_contents(&self, key: &Digest, op: Op) -> Result<LeafContents, RuleError> {
        rules::next_contents(self.get_key(key), op)
    }

    /// Publishes new bytes for a target by D2's rules: a new target starts at version 1, a
    /// changed (or deleted) one goes to its version plus one, and identical contents change
    /// nothing. Returns the contents now in the tree. [`Tree::change`] with the key in the error.
    pub fn publish(
        &mut self,
        key: Digest,
        length: u64,
        sha256: Digest,
    ) -> Result<LeafContents, PublishError> {
        let next = self.next_present(&key, length, sha256)?;
        self.set(key, next);
        Ok(next)
    }

    /// Deletes a target by D2's rules: its leaf becomes a tombstone at its version plus one.
    /// [`Tree::change`] with the key in the error.
    pub fn delete(&mut self, key: Digest) -> Result<LeafContents, TreeError> {
        let next = self.next_tombstone(&key)?;
        self.set(key, next);
        Ok(next)
    }

    /// The contents [`Tree::publish`] would write, without writing them.
    pub fn next_present(
        &self,
        key: &Digest,
        length: u64,
        sha256: Digest,
    ) -> Result<LeafContents, PublishError> {
        self.next_contents(key, Op::Upsert { length, sha256 })
            .map_err(|e| PublishError::keyed(key, e))
    }

    /// The contents [`Tree::delete`] would write, without writing them.
    pub fn next_tombstone(&self, key: &Digest) -> Result<LeafContents, TreeError> {
        self.next_contents(key, Op::Delete)
            .map_err(|e| match PublishError::keyed(key, e) {
                PublishError::Tree(e) => e,
                // A deletion has no length to refuse; kept total rather than unreachable.
                PublishError::Contents(_) => TreeError::VersionOverflow(*key),
            })
    }

    /// Visits every leaf in key order.
    pub fn for_each_leaf(&self, mut f: impl FnMut(&Digest, LeafContents)) {
        fn walk(node: &Node, f: &mut impl FnMut(&Digest, LeafContents)) {
            match node {
                Node::Leaf(l) => f(&l.key, l.contents.into()),
                Node::Branch(b) => {
                    walk(&b.children[0], f);
                    walk(&b.children[1], f);
                }
            }
        }
        if let Some(root) = &self.root {
            walk(root, &mut f);
        }
    }

    /// Inserts or replaces without hashing; marks the path dirty.
    fn put(&mut self, key: Digest, contents: Stored) -> Change {
        let Some(root) = self.root.as_mut() else {
            self.root = Some(Node::Leaf(Arc::new(Leaf { key, contents })));
            self.count_new(contents);
            return Change::Inserted;
        };
        let found = root.blind_leaf(&key);
        let diverge = found.key.first_difference(&key);
        if diverge.is_none() && found.contents == contents {
            return Change::Unchanged;
        }
        let found_key = found.key;
        match diverge {
            Some(j) => {
                insert_at(root, 0, key, contents, j, &found_key);
                self.count_new(contents);
                Change::Inserted
            }
            None => {
                let old = update_at(root, &key, contents);
                self.tombstones -= usize::from(old.length == TOMBSTONE);
                self.tombstones += usize::from(contents.length == TOMBSTONE);
                Change::Updated(old.into())
            }
        }
    }

    fn count_new(&mut self, contents: Stored) {
        self.leaves += 1;
        self.tombstones += usize::from(contents.length == TOMBSTONE);
    }

    fn rehash(&mut self) {
        if let Some(root) = self.root.as_mut() {
            rehash(root, 0);
        }
    }

    /// The root node and the depth it hangs at, for proofs.
    pub(crate) fn root_node(&self) -> Option<NodeRef<'_>> {
        self.root.as_ref().map(|n| NodeRef { node: n })
    }
}

/// Why a publish was refused. The tree is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    /// The version rules refused it.
    #[error(transparent)]
    Tree(#[from] TreeError),
    /// The contents are not valid (a length over 2^63 - 1).
    #[error(transparent)]
    Contents(crate::contents::ContentsError),
}

impl PublishError {
    /// The error the key-less rules give, as this tree's errors name it: with the key.
    fn keyed(key: &Digest, error: RuleError) -> Self {
        match error {
            RuleError::NotFound => TreeError::NotFound(*key).into(),
            RuleError::VersionOverflow { .. } => TreeError::VersionOverflow(*key).into(),
            RuleError::LengthTooLarge { length } => {
                PublishError::Contents(crate::contents::ContentsError::TooLarge {
                    field: "length",
                    value: length,
                })
            }
        }
    }
}

/// One entry of a batch, kept with its place in the batch so that its change goes back there.
struct Entry {
    key: Digest,
    contents: Stored,
    index: usize,
    /// For an existing leaf: what setting it does (`Unchanged` or `Updated`). `None`: new.
    change: Option<Change>,
}

/// Batches at least this large are split across threads at a branch.
const PARALLEL_BATCH: usize = 64;

fn sort_entries(entries: &mut [Entry]) {
    #[cfg(feature = "parallel")]
    if entries.len() >= 4 * PARALLEL_BATCH {
        use rayon::slice::ParallelSliceMut as _;
        entries.par_sort_unstable_by(|a, b| cmp_keys(&a.key, &b.key));
        return;
    }
    entries.sort_unstable_by(|a, b| cmp_keys(&a.key, &b.key));
}

/// Whether two halves of a batch are worth handing to two threads.
fn in_parallel(lo: &[Entry], hi: &[Entry]) -> bool {
    cfg!(feature = "parallel") && lo.len() >= PARALLEL_BATCH && hi.len() >= PARALLEL_BATCH
}

/// Runs `a` and `b`, on two threads when the `parallel` feature is on and `both` says so.
fn join<A: Send, B: Send>(
    both: bool,
    a: impl FnOnce() -> A + Send,
    b: impl FnOnce() -> B + Send,
) -> (A, B) {
    #[cfg(feature = "parallel")]
    if both {
        return rayon::join(a, b);
    }
    #[cfg(not(feature = "parallel"))]
    let _ = both;
    (a(), b())
}

/// Sets each entry's `change` to what setting it would do to the leaf already holding its key,
/// or leaves it `None` if the key is new. `entries` are sorted and distinct. Reads only.
fn classify(node: &Node, entries: &mut [Entry]) {
    match node {
        Node::Leaf(l) => {
            for e in entries.iter_mut().filter(|e| e.key == l.key) {
                e.change = Some(if l.contents == e.contents {
                    Change::Unchanged
                } else {
                    Change::Updated(l.contents.into())
                });
            }
        }
        Node::Branch(b) => {
            let split = usize::from(b.split);
            let mid = entries.partition_point(|e| !e.key.bit(split));
            let (lo, hi) = entries.split_at_mut(mid);
            let [left, right] = &b.children;
            join(
                in_parallel(lo, hi),
                || (!lo.is_empty()).then(|| classify(left, lo)),
                || (!hi.is_empty()).then(|| classify(right, hi)),
            );
        }
    }
}

/// Writes the new contents of `entries` into their leaves below `node`, which hangs at `hang`,
/// and rehashes every branch on their paths on the way back up. Every entry names an existing
/// leaf of the subtree and changes it; `entries` are sorted, distinct and not empty. Copies
/// shared nodes. The tree must be clean outside these paths.
fn update_sorted(node: &mut Node, hang: usize, entries: &mut [Entry]) {
    match node {
        Node::Leaf(l) => {
            // Distinct keys: only one entry can reach a leaf.
            debug_assert!(entries.len() == 1 && entries[0].key == l.key);
            Arc::make_mut(l).contents = entries[0].contents;
        }
        Node::Branch(b) => {
            let b = Arc::make_mut(b);
            let split = usize::from(b.split);
            let mid = entries.partition_point(|e| !e.key.bit(split));
            let (lo, hi) = entries.split_at_mut(mid);
            let [left, right] = &mut b.children;
            join(
                in_parallel(lo, hi),
                || (!lo.is_empty()).then(|| update_sorted(left, split + 1, lo)),
                || (!hi.is_empty()).then(|| update_sorted(right, split + 1, hi)),
            );
            // Any entry's key lies below this branch: it gives the prefix for the unary levels.
            b.hash = branch_hash(&b.children, split, hang, &entries[0].key);
            b.dirty = false;
        }
    }
}

/// Replaces the contents of `key`'s leaf, which the blind descent found, copying shared nodes
/// and marking branches dirty on the way. Returns the old contents.
fn update_at(node: &mut Node, key: &Digest, contents: Stored) -> Stored {
    match node {
        Node::Branch(b) => {
            let b = Arc::make_mut(b);
            b.dirty = true;
            let side = usize::from(key.bit(usize::from(b.split)));
            update_at(&mut b.children[side], key, contents)
        }
        Node::Leaf(l) => {
            let leaf = Arc::make_mut(l);
            debug_assert!(leaf.key == *key);
            std::mem::replace(&mut leaf.contents, contents)
        }
    }
}

/// Inserts a leaf for `key`, which parts from `found` (the leaf the blind descent reached, and
/// so from every key on the way) at bit `j`. Descends from `node`, hanging at `hang`, to the
/// first node that splits below `j`, and hangs a new branch at `j` there.
fn insert_at(
    node: &mut Node,
    hang: usize,
    key: Digest,
    contents: Stored,
    j: usize,
    found: &Digest,
) {
    if let Node::Branch(b) = node
        && usize::from(b.split) < j
    {
        let b = Arc::make_mut(b);
        b.dirty = true;
        let split = usize::from(b.split);
        let side = usize::from(key.bit(split));
        return insert_at(&mut b.children[side], split + 1, key, contents, j, found);
    }
    let mut existing = node.clone();
    if let Node::Branch(b) = &mut existing {
        // The existing branch now hangs at j + 1: refold its hash to that depth. Its prefix
        // is `found`'s, as `found` lies below it.
        let b = Arc::make_mut(b);
        b.hash = branch_hash(&b.children, usize::from(b.split), j + 1, found);
    }
    let leaf = Node::Leaf(Arc::new(Leaf { key, contents }));
    let children = if key.bit(j) {
        [existing, leaf]
    } else {
        [leaf, existing]
    };
    debug_assert!(hang <= j && j < KEY_BITS);
    // j < 256 as it indexes a bit of a 256-bit key.
    let split = u8::try_from(j).unwrap_or(u8::MAX);
    *node = Node::Branch(Arc::new(Branch {
        hash: EMPTY,
        children,
        split,
        dirty: true,
    }));
}

/// Rehashes every dirty branch below `node` (which hangs at `hang`). Returns a key below the
/// node when the caller may need one for folding (always, unless the node was clean).
fn rehash(node: &mut Node, hang: usize) -> Option<Digest> {
    match node {
        Node::Leaf(l) => Some(l.key),
        Node::Branch(b) if !b.dirty => None,
        Node::Branch(b) => {
            let b = Arc::make_mut(b);
            let split = usize::from(b.split);
            let [left, right] = &mut b.children;
            let (k0, k1) = rehash_pair(left, right, split + 1);
            // A dirty branch always has a dirty or leaf child; the walk is the fallback.
            let prefix = k0.or(k1).unwrap_or_else(|| b.children[0].some_key());
            b.hash = branch_hash(&b.children, split, hang, &prefix);
            b.dirty = false;
            Some(prefix)
        }
    }
}

/// Rehashes two sibling subtrees, in parallel where both are dirty and near the root.
fn rehash_pair(
    left: &mut Node,
    right: &mut Node,
    depth: usize,
) -> (Option<Digest>, Option<Digest>) {
    #[cfg(feature = "parallel")]
    {
        let dirty = |n: &Node| matches!(n, Node::Branch(b) if b.dirty);
        if depth <= PARALLEL_DEPTH && dirty(left) && dirty(right) {
            return rayon::join(|| rehash(left, depth), || rehash(right, depth));
        }
    }
    (rehash(left, depth), rehash(right, depth))
}

/// Depth down to which dirty sibling subtrees are rehashed on separate threads.
#[cfg(feature = "parallel")]
const PARALLEL_DEPTH: usize = 3;

/// Subtrees smaller than this are built on one thread.
const PARALLEL_BUILD: usize = 1 << 13;

fn sort_by_key(items: &mut [(Digest, Stored)]) {
    #[cfg(feature = "parallel")]
    {
        use rayon::slice::ParallelSliceMut as _;
        items.par_sort_unstable_by(|a, b| cmp_keys(&a.0, &b.0));
    }
    #[cfg(not(feature = "parallel"))]
    items.sort_unstable_by(|a, b| cmp_keys(&a.0, &b.0));
}

/// The order of keys, as `Ord` has it, but decided by their first eight bytes where those
/// differ (nearly always, for hashes) without a call to `memcmp`.
#[inline]
fn cmp_keys(a: &Digest, b: &Digest) -> std::cmp::Ordering {
    let head = |k: &Digest| {
        u64::from_be_bytes([
            k.0[0], k.0[1], k.0[2], k.0[3], k.0[4], k.0[5], k.0[6], k.0[7],
        ])
    };
    head(a).cmp(&head(b)).then_with(|| a.cmp(b))
}

/// For sorted keys, the bit at which each key first differs from the next: `splits[i]` for
/// `items[i]` and `items[i + 1]`. The smallest repeated key is the error.
///
/// In a run of keys that share their first `s` bits and part at bit `s`, exactly one neighbour
/// pair differs at `s` (where the 0s end) and every other pair later, so the build finds each
/// branch's split and its two sides by scanning this compact array instead of binary-searching
/// the keys, which costs a cache miss per probe in a large build.
fn splits(items: &[(Digest, Stored)]) -> Result<Vec<u16>, Digest> {
    const REPEATED: u16 = u16::MAX;
    let split = |w: &[(Digest, Stored)]| match w[0].0.first_difference(&w[1].0) {
        // A bit index of a 256-bit key: below 256.
        Some(j) => u16::try_from(j).unwrap_or(REPEATED),
        None => REPEATED,
    };
    #[cfg(feature = "parallel")]
    let splits: Vec<u16> = {
        use rayon::prelude::*;
        items.par_windows(2).map(split).collect()
    };
    #[cfg(not(feature = "parallel"))]
    let splits: Vec<u16> = items.windows(2).map(split).collect();
    match splits.iter().position(|s| *s == REPEATED) {
        Some(i) => Err(items[i].0),
        None => Ok(splits),
    }
}

/// Builds the subtree of sorted, distinct, non-empty `items` hanging at depth `hang`, with
/// their [`splits`], and counts its tombstones.
fn build(items: &[(Digest, Stored)], splits: &[u16], hang: usize) -> (Node, usize) {
    let first = &items[0];
    let Some(&split) = splits.iter().min() else {
        let tombstone = usize::from(first.1.length == TOMBSTONE);
        let leaf = Node::Leaf(Arc::new(Leaf {
            key: first.0,
            contents: first.1,
        }));
        return (leaf, tombstone);
    };
    // The one pair that parts at `split` is where the 0s at `split` end.
    let mid = splits.iter().position(|s| *s == split).map_or(1, |i| i + 1);
    let (lo, hi) = items.split_at(mid);
    let ((left, t0), (right, t1)) = join(
        items.len() >= PARALLEL_BUILD,
        || build(lo, &splits[..mid - 1], usize::from(split) + 1),
        || build(hi, &splits[mid..], usize::from(split) + 1),
    );
    let children = [left, right];
    let hash = branch_hash(&children, usize::from(split), hang, &first.0);
    let branch = Node::Branch(Arc::new(Branch {
        hash,
        children,
        // Below 256, as `splits` holds no repeated keys.
        split: u8::try_from(split).unwrap_or(u8::MAX),
        dirty: false,
    }));
    (branch, t0 + t1)
}

/// The first position whose key is not after the one before it.
fn unsorted(items: &[(Digest, Stored)]) -> Option<usize> {
    #[cfg(feature = "parallel")]
    {
        use rayon::prelude::*;
        items
            .par_windows(2)
            .position_first(|w| cmp_keys(&w[0].0, &w[1].0) != std::cmp::Ordering::Less)
            .map(|i| i + 1)
    }
    #[cfg(not(feature = "parallel"))]
    items
        .windows(2)
        .position(|w| cmp_keys(&w[0].0, &w[1].0) != std::cmp::Ordering::Less)
        .map(|i| i + 1)
}

/// [`build`] with the branches' hashes taken from `hashes` (pre-order, `items.len() - 1` of
/// them) instead of computed.
fn build_stored(items: &[(Digest, Stored)], splits: &[u16], hashes: &[Digest]) -> (Node, usize) {
    let first = &items[0];
    let Some(&split) = splits.iter().min() else {
        let tombstone = usize::from(first.1.length == TOMBSTONE);
        let leaf = Node::Leaf(Arc::new(Leaf {
            key: first.0,
            contents: first.1,
        }));
        return (leaf, tombstone);
    };
    let mid = splits.iter().position(|s| *s == split).map_or(1, |i| i + 1);
    let (lo, hi) = items.split_at(mid);
    // This branch's hash, then the `mid - 1` branches of its 0 side, then those of its 1 side.
    let (left_hashes, right_hashes) = hashes[1..].split_at(mid - 1);
    let ((left, t0), (right, t1)) = join(
        items.len() >= PARALLEL_BUILD,
        || build_stored(lo, &splits[..mid - 1], left_hashes),
        || build_stored(hi, &splits[mid..], right_hashes),
    );
    let branch = Node::Branch(Arc::new(Branch {
        hash: hashes[0],
        children: [left, right],
        // Below 256, as `splits` holds no repeated keys.
        split: u8::try_from(split).unwrap_or(u8::MAX),
        dirty: false,
    }));
    (branch, t0 + t1)
}

/// Checks the stored hashes below `node`, which hangs at `hang`; returns its leftmost key (the
/// prefix its parent folds with).
fn check_node(node: &Node, hang: usize) -> Result<Digest, StoredHashesError> {
    let b = match node {
        Node::Leaf(l) => return Ok(l.key),
        Node::Branch(b) => b,
    };
    let split = usize::from(b.split);
    let [left, right] = &b.children;
    // Both sides on their own threads near the root, where the subtrees are large.
    let (k0, k1) = join(
        split < CHECK_PARALLEL_DEPTH,
        || check_node(left, split + 1),
        || check_node(right, split + 1),
    );
    let (key, _) = (k0?, k1?);
    // The children's hashes are checked (a branch's) or computed (a leaf's) by now.
    let computed = branch_hash(&b.children, split, hang, &key);
    if computed != b.hash {
        return Err(StoredHashesError::Mismatch {
            key,
            split,
            stored: b.hash,
            computed,
        });
    }
    Ok(key)
}

/// Branches splitting above this bit are checked with both sides in parallel (about 2^this
/// tasks for random keys).
const CHECK_PARALLEL_DEPTH: usize = 10;

/// Read access to a node for proof generation.
#[derive(Clone, Copy)]
pub(crate) struct NodeRef<'a> {
    node: &'a Node,
}

/// What a proof walk finds at a position.
pub(crate) enum Visit<'a> {
    /// A leaf, with its key and contents.
    Leaf(Digest, LeafContents),
    /// A branch whose children part at `split`.
    Branch {
        split: usize,
        children: [NodeRef<'a>; 2],
    },
}

impl<'a> NodeRef<'a> {
    pub(crate) fn visit(self) -> Visit<'a> {
        match self.node {
            Node::Leaf(l) => Visit::Leaf(l.key, l.contents.into()),
            Node::Branch(b) => Visit::Branch {
                split: usize::from(b.split),
                children: [
                    NodeRef {
                        node: &b.children[0],
                    },
                    NodeRef {
                        node: &b.children[1],
                    },
                ],
            },
        }
    }

    /// The node's tree hash at the depth where it hangs in the tree.
    pub(crate) fn hash(self) -> Digest {
        self.node.hash()
    }

    /// The node's tree hash at `depth`, which must lie between where it hangs and its split.
    pub(crate) fn hash_at(self, depth: usize, prefix: &Digest) -> Digest {
        match self.node {
            Node::Leaf(l) => l.hash(),
            Node::Branch(b) => branch_hash(&b.children, usize::from(b.split), depth, prefix),
        }
    }

    /// A key below the node.
    pub(crate) fn some_key(self) -> Digest {
        self.node.some_key()
    }

    /// The leaf `key` would be in.
    pub(crate) fn blind_leaf_key(self, key: &Digest) -> Digest {
        self.node.blind_leaf(key).key
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::sha256;

    /// D3's definition, written as plainly as possible, as the reference for the tests.
    pub(crate) fn reference_root(leaves: &[(Digest, LeafContents)]) -> Digest {
        fn tree(set: &[(Digest, Digest)], d: usize) -> Digest {
            match set {
                [] => EMPTY,
                [(k, ch)] => leaf_hash(k, ch),
                _ => {
                    let (s0, s1): (Vec<_>, Vec<_>) = set.iter().partition(|(k, _)| !k.bit(d));
                    interior_hash(&tree(&s0, d + 1), &tree(&s1, d + 1))
                }
            }
        }
        let set: Vec<_> = leaves.iter().map(|(k, c)| (*k, c.hash())).collect();
        tree(&set, 0)
    }

    fn contents(i: u64) -> LeafContents {
        LeafContents::for_bytes(1 + i % 5, &i.to_le_bytes()).unwrap()
    }

    #[test]
    fn a_tree_rebuilt_from_its_stored_hashes_is_the_same_and_checks() {
        for n in [0usize, 1, 2, 3, 17, 5_000] {
            let leaves: Vec<_> = (0..n as u64)
                .map(|i| (key_of(&format!("n{i}")), contents(i)))
                .collect();
            let t = Tree::from_leaves(leaves.clone()).unwrap();
            let mut sorted = Vec::new();
            t.for_each_leaf(|k, c| sorted.push((*k, c)));
            let mut hashes = Vec::new();
            t.for_each_branch_hash(|h| hashes.push(*h));
            assert_eq!(hashes.len(), n.saturating_sub(1));
            let r = Tree::from_stored(sorted.clone(), &hashes).unwrap();
            assert_eq!(r.root(), t.root());
            assert_eq!(r.len(), n);
            r.check_hashes().unwrap();
            if n < 2 {
                continue;
            }
            // A damaged hash is taken on trust, and found by the check.
            let mut bad = hashes.clone();
            bad[(n - 1) / 2].0[3] ^= 1;
            let r = Tree::from_stored(sorted.clone(), &bad).unwrap();
            assert!(matches!(
                r.check_hashes(),
                Err(StoredHashesError::Mismatch { .. })
            ));
            // So is a changed leaf under intact hashes.
            let mut changed = sorted.clone();
            changed[n - 1].1 = contents(n as u64 + 99);
            let r = Tree::from_stored(changed, &hashes).unwrap();
            assert_eq!(r.root(), t.root());
            assert!(r.check_hashes().is_err());
            // A shape that is not the tree's is refused.
            assert!(matches!(
                Tree::from_stored(sorted.clone(), &hashes[1..]),
                Err(StoredHashesError::Count { .. })
            ));
            let mut swapped = sorted.clone();
            swapped.swap(0, 1);
            assert!(matches!(
                Tree::from_stored(swapped, &hashes),
                Err(StoredHashesError::NotSorted { index: 1, .. })
            ));
        }
    }

    #[test]
    fn a_rebuilt_tree_changes_like_the_original() {
        let leaves: Vec<_> = (0..3_000u64)
            .map(|i| (key_of(&format!("n{i}")), contents(i)))
            .collect();
        let mut t = Tree::from_leaves(leaves).unwrap();
        let mut sorted = Vec::new();
        t.for_each_leaf(|k, c| sorted.push((*k, c)));
        let mut hashes = Vec::new();
        t.for_each_branch_hash(|h| hashes.push(*h));
        let mut r = Tree::from_stored(sorted, &hashes).unwrap();
        let changes: Vec<_> = (2_900..3_100u64)
            .map(|i| (key_of(&format!("n{i}")), contents(i + 7)))
            .collect();
        t.set_many(changes.clone());
        r.set_many(changes);
        assert_eq!(r.root(), t.root());
        r.check_hashes().unwrap();
    }

    #[test]
    fn empty_tree_has_the_empty_root() {
        assert_eq!(Tree::new().root(), EMPTY);
        assert!(Tree::new().is_empty());
        assert_eq!(Tree::from_leaves([]).unwrap().root(), EMPTY);
    }

    #[test]
    fn one_leaf_root_is_its_leaf_hash() {
        let k = key_of("se/rd/serde");
        let c = contents(1);
        let mut t = Tree::new();
        assert_eq!(t.set(k, c), Change::Inserted);
        assert_eq!(t.root(), leaf_hash(&k, &c.hash()));
        assert_eq!(t.get("se/rd/serde"), Some(c));
        assert_eq!(t.get("se/rd/serd"), None);
    }

    #[test]
    fn keys_sharing_a_long_prefix_fold_through_unary_levels() {
        // Two keys that agree on their first 13 bits: D3 has 13 unary levels above their split.
        let a = Digest([0xab; 32]);
        let mut b = a;
        b.0[1] ^= 0b0000_0100;
        let leaves = [(a, contents(1)), (b, contents(2))];
        let t = Tree::from_leaves(leaves).unwrap();
        assert_eq!(t.root(), reference_root(&leaves));
        let mut u = Tree::new();
        u.set(b, contents(2));
        u.set(a, contents(1));
        assert_eq!(u.root(), t.root());
    }

    #[test]
    fn incremental_matches_the_reference_at_every_step() {
        let mut t = Tree::new();
        let mut all = Vec::new();
        for i in 0..300u64 {
            let k = sha256(&i.to_be_bytes());
            t.set(k, contents(i));
            all.push((k, contents(i)));
            assert_eq!(t.root(), reference_root(&all), "after {i}");
        }
        assert_eq!(t.len(), 300);
        assert_eq!(Tree::from_leaves(all.clone()).unwrap().root(), t.root());
    }

    #[test]
    fn versions_are_independent() {
        let keys: Vec<_> = (0..100u64).map(|i| sha256(&i.to_be_bytes())).collect();
        let mut t = Tree::from_leaves(keys.iter().map(|k| (*k, contents(0)))).unwrap();
        let v1 = t.clone();
        let r1 = v1.root();
        t.set(keys[7], contents(9));
        assert_ne!(t.root(), r1);
        assert_eq!(v1.root(), r1);
        assert_eq!(v1.get_key(&keys[7]), Some(contents(0)));
        assert_eq!(t.get_key(&keys[7]), Some(contents(9)));
        let fresh: Vec<_> = keys
            .iter()
            .map(|k| {
                (
                    *k,
                    if *k == keys[7] {
                        contents(9)
                    } else {
                        contents(0)
                    },
                )
            })
            .collect();
        assert_eq!(t.root(), reference_root(&fresh));
    }

    #[test]
    fn publish_and_delete_follow_the_version_rules() {
        let k = key_of("3/s/syn");
        let mut t = Tree::new();
        assert_eq!(t.delete(k), Err(TreeError::NotFound(k)));
        let h1 = sha256(b"one");
        assert_eq!(t.publish(k, 3, h1).unwrap().version(), 1);
        assert_eq!(
            t.publish(k, 3, h1).unwrap().version(),
            1,
            "same bytes change nothing"
        );
        assert_eq!(t.publish(k, 4, sha256(b"four")).unwrap().version(), 2);
        assert_eq!(t.delete(k).unwrap(), LeafContents::Deleted { version: 3 });
        assert_eq!(t.tombstones(), 1);
        let root = t.root();
        assert_eq!(
            t.delete(k).unwrap(),
            LeafContents::Deleted { version: 3 },
            "a retried delete changes nothing"
        );
        assert_eq!(t.root(), root);
        assert_eq!(t.publish(k, 3, h1).unwrap().version(), 4);
        assert_eq!(t.tombstones(), 0);
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn change_applies_the_rules_and_leaves_the_tree_alone_when_refused() {
        let k = key_of("3/s/syn");
        let mut t = Tree::new();
        assert_eq!(t.change(k, Op::Delete), Err(RuleError::NotFound));
        assert!(t.is_empty());
        let up = |b: &[u8]| Op::Upsert {
            length: b.len() as u64,
            sha256: sha256(b),
        };
        assert_eq!(t.change(k, up(b"one")).unwrap().version(), 1);
        let root = t.root();
        assert_eq!(
            t.next_contents(&k, up(b"one")),
            t.get_key(&k).ok_or(RuleError::NotFound)
        );
        assert_eq!(t.change(k, up(b"one")).unwrap().version(), 1);
        assert_eq!(t.root(), root, "same bytes change nothing");
        assert_eq!(
            t.change(k, Op::Delete),
            Ok(LeafContents::Deleted { version: 2 })
        );
        let root = t.root();
        assert_eq!(
            t.change(k, Op::Delete),
            Ok(LeafContents::Deleted { version: 2 })
        );
        assert_eq!(t.root(), root, "a retried delete changes nothing");
        // The keyed errors of `publish` are the rules' with the key.
        let mut full = Tree::new();
        full.set(
            k,
            LeafContents::deleted(crate::contents::MAX_INTEGER).unwrap(),
        );
        assert_eq!(
            full.publish(k, 1, sha256(b"x")),
            Err(PublishError::Tree(TreeError::VersionOverflow(k)))
        );
        assert_eq!(
            full.delete(k),
            LeafContents::deleted(crate::contents::MAX_INTEGER).map_err(|_| TreeError::NotFound(k)),
            "deleting a tombstone at the last version is no change, so no overflow"
        );
        assert!(matches!(
            Tree::new().publish(k, u64::MAX, sha256(b"x")),
            Err(PublishError::Contents(
                crate::contents::ContentsError::TooLarge {
                    field: "length",
                    value: u64::MAX
                }
            ))
        ));
    }

    #[test]
    fn duplicate_keys_in_a_build_are_refused() {
        let k = key_of("a");
        assert_eq!(
            Tree::from_leaves([(k, contents(1)), (k, contents(2))]).err(),
            Some(TreeError::DuplicateKey(k))
        );
        // In a build large enough to go parallel, the smallest repeated key is the one named.
        let mut keys: Vec<_> = (0..20_000u64).map(|i| sha256(&i.to_be_bytes())).collect();
        let mut repeated = [keys[17], keys[19_000], keys[4_000]];
        keys.extend(repeated.iter().copied());
        repeated.sort();
        assert_eq!(
            Tree::from_leaves(keys.iter().map(|k| (*k, contents(1)))).err(),
            Some(TreeError::DuplicateKey(repeated[0]))
        );
    }

    #[test]
    fn builds_count_tombstones() {
        let leaves: Vec<_> = (0..20_000u64)
            .map(|i| {
                let c = if i.is_multiple_of(3) {
                    LeafContents::deleted(2).unwrap()
                } else {
                    contents(i)
                };
                (sha256(&i.to_be_bytes()), c)
            })
            .collect();
        let t = Tree::from_leaves(leaves.iter().copied()).unwrap();
        assert_eq!((t.len(), t.tombstones()), (20_000, 6_667));
        assert_eq!(t.root(), reference_root(&leaves));
    }

    #[test]
    fn large_mixed_batches_equal_single_changes_and_keep_old_versions() {
        // Large enough to split across threads; updates, unchanged entries, tombstones, new
        // keys and (in the second round) repeated keys, on a tree whose nodes other versions
        // share.
        let keys: Vec<_> = (0..3_000u64).map(|i| sha256(&i.to_be_bytes())).collect();
        let mut single =
            Tree::from_leaves(keys[..2_000].iter().map(|k| (*k, contents(0)))).unwrap();
        let mut batch = single.clone();
        for round in 0..3u64 {
            let kept = batch.clone();
            let kept_root = kept.root();
            let mut changes: Vec<(Digest, LeafContents)> = keys
                .iter()
                .enumerate()
                .filter(|(i, _)| !(*i as u64 * 7 + round).is_multiple_of(5))
                .map(|(i, k)| {
                    let c = match (i as u64 + round) % 4 {
                        0 => contents(0),
                        1 => LeafContents::deleted(3 + round).unwrap(),
                        _ => contents(i as u64 + round),
                    };
                    (*k, c)
                })
                .collect();
            if round == 1 {
                changes.extend(keys[10..200].iter().map(|k| (*k, contents(99))));
            }
            let expected: Vec<Change> = changes.iter().map(|(k, c)| single.set(*k, *c)).collect();
            let got = batch.set_many(changes.iter().copied());
            assert_eq!(got, expected, "round {round}");
            assert_eq!(batch.root(), single.root(), "round {round}");
            assert_eq!(
                (batch.len(), batch.tombstones()),
                (single.len(), single.tombstones())
            );
            let mut all = Vec::new();
            batch.for_each_leaf(|k, c| all.push((*k, c)));
            assert_eq!(batch.root(), reference_root(&all));
            assert_eq!(kept.root(), kept_root);
            let mut old = Vec::new();
            kept.for_each_leaf(|k, c| old.push((*k, c)));
            assert_eq!(reference_root(&old), kept_root);
        }
        // Single updates of existing keys take the one-descent path; check it against a build.
        let kept = batch.clone();
        for (i, k) in keys.iter().enumerate().step_by(37) {
            batch.set(*k, contents(1_000 + i as u64));
        }
        let mut all = Vec::new();
        batch.for_each_leaf(|k, c| all.push((*k, c)));
        assert_eq!(batch.root(), Tree::from_leaves(all).unwrap().root());
        assert_ne!(kept.root(), batch.root());
    }

    #[test]
    fn batches_equal_single_changes() {
        let keys: Vec<_> = (0..500u64).map(|i| sha256(&i.to_be_bytes())).collect();
        let mut single = Tree::from_leaves(keys[..250].iter().map(|k| (*k, contents(0)))).unwrap();
        let mut batch = single.clone();
        let changes: Vec<_> = keys[100..400]
            .iter()
            .enumerate()
            .map(|(i, k)| (*k, contents(i as u64)))
            .collect();
        for (k, c) in &changes {
            single.set(*k, *c);
        }
        let result = batch.set_many(changes.iter().copied());
        assert_eq!(
            result.iter().filter(|c| **c == Change::Inserted).count(),
            150
        );
        assert_eq!(batch.root(), single.root());
        assert_eq!(batch.len(), 400);
    }
}
