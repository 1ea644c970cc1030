//! Dropping old versions frees the nodes only they held. Measured with a counting allocator,
//! in a test binary of its own so that nothing else allocates concurrently.
#![allow(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use tuf_merkle::hash::sha256;
use tuf_merkle::{LeafContents, Tree, key_of};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator unchanged and only counts bytes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller's contract for `alloc` is passed through.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

#[test]
fn versions_share_nodes_and_dropping_them_frees_memory() {
    let names: Vec<String> = (0..20_000).map(|i| format!("crate-{i}")).collect();
    let leaves: Vec<_> = names
        .iter()
        .map(|n| (key_of(n), LeafContents::for_bytes(1, n.as_bytes()).unwrap()))
        .collect();
    let start = live();
    let mut tree = Tree::from_leaves(leaves).unwrap();
    let one_tree = live() - start;
    assert!(one_tree > 0);

    // A version costs nothing until the tree changes, then only the changed paths.
    let mut versions = Vec::new();
    for round in 0..10u64 {
        versions.push(tree.clone());
        for n in names.iter().skip(round as usize * 10).take(10) {
            tree.publish(key_of(n), round, sha256(&round.to_be_bytes()))
                .unwrap();
        }
    }
    let with_versions = live() - start;
    assert!(
        with_versions < one_tree + one_tree / 4,
        "ten versions of 20,000 leaves with 100 changes cost {with_versions} bytes against {one_tree} for one"
    );

    drop(versions);
    let after_drop = live() - start;
    assert!(
        after_drop < with_versions,
        "dropping versions freed nothing"
    );
    // What is left is one tree's worth: the same as a fresh tree (give or take the build's
    // temporary allocations, which are freed).
    assert!(
        (after_drop - one_tree).abs() < one_tree / 100,
        "after dropping every old version {after_drop} bytes are live; one tree is {one_tree}"
    );
    drop(tree);
    assert!(
        live() - start < 4096,
        "dropping the tree leaves {} bytes",
        live() - start
    );
}
