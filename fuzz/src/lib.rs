//! Helpers shared by the fuzz targets (`fuzz_targets/*.rs`); `docs/fuzzing.md` describes them.
//!
//! - An allocation guard: the global allocator aborts (a crash libFuzzer records with its input)
//!   when one allocation is larger than [`ALLOC_BASE`] plus [`ALLOC_FACTOR`] times the current
//!   input's length. Parsers of untrusted bytes must never size a buffer from a length field
//!   they have not checked against the bytes that are really there. libFuzzer's own
//!   `-malloc_limit_mb` needs a sanitizer's malloc hooks, which `--sanitizer none` lacks, so the
//!   targets bring their own.
//! - [`check_verification`]: what every parsed merkle proof must satisfy whatever its content.

#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Every allocation may be this large, whatever the input (buffers, tree nodes, hashers).
pub const ALLOC_BASE: usize = 4 << 20;
/// And this many times the input's length on top (a JSON list of short items expands into
/// structs about ten to thirty times larger, doubled by `Vec` growth).
pub const ALLOC_FACTOR: usize = 256;

static LIMIT: AtomicUsize = AtomicUsize::new(usize::MAX);

struct Guard;

// SAFETY: forwards every call to `System` unchanged; only refuses (by aborting) an allocation
// over the limit, before making it.
unsafe impl GlobalAlloc for Guard {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        check(layout.size());
        // SAFETY: the caller's contract is `System`'s.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        check(layout.size());
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        check(new_size);
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GUARD: Guard = Guard;

fn check(size: usize) {
    let limit = LIMIT.load(Ordering::Relaxed);
    // A panic is already a finding; its report (a backtrace) may allocate what it needs.
    if size > limit && !std::thread::panicking() {
        // No allocation, no unwinding out of the allocator: write and abort. libFuzzer treats
        // the abort as a crash and saves the input.
        use std::io::Write;
        let mut buf = [0u8; 160];
        let mut w = &mut buf[..];
        let _ = write!(
            w,
            "fuzz allocation guard: one allocation of {size} bytes, over the limit of {limit} \
             for this input\n"
        );
        let left = w.len();
        let _ = std::io::stderr().write_all(&buf[..buf.len() - left]);
        std::process::abort();
    }
}

/// Call first in every target: sets the allocation limit for an input of `len` bytes.
pub fn begin(len: usize) {
    LIMIT.store(
        ALLOC_BASE.saturating_add(len.saturating_mul(ALLOC_FACTOR)),
        Ordering::Relaxed,
    );
}

/// A root derived from the input (so that roots vary with it), never the empty hash.
pub fn some_root(data: &[u8]) -> tuf_merkle::Digest {
    let mut d = tuf_merkle::hash::sha256(data);
    d.0[0] |= 1;
    d
}

/// The size limit of a `from_json_with_limit` reader: one byte under the input's length is
/// `TooLarge`, exactly its length gives what the default limit gave.
pub fn check_limit<T: PartialEq + std::fmt::Debug>(
    data: &[u8],
    default: &Result<T, tuf_merkle::ProofError>,
    with_limit: impl Fn(&[u8], usize) -> Result<T, tuf_merkle::ProofError>,
) {
    assert_eq!(&with_limit(data, data.len()), default);
    if let Some(under) = data.len().checked_sub(1) {
        assert!(matches!(
            with_limit(data, under),
            Err(tuf_merkle::ProofError::TooLarge { limit, actual }) if limit == under && actual == data.len()
        ));
    }
}

/// The verification properties every parsed proof must have, whatever its content:
///
/// - verifying never panics, against any root;
/// - errors other than [`ProofError::RootMismatch`] do not depend on the root (the proof is
///   refused for what it is);
/// - a proof that misses a root reports the root it computes, and verifies against exactly
///   that root.
///
/// `verify` is the proof's verification function.
pub fn check_verification(
    verify: impl Fn(&tuf_merkle::Digest) -> Result<(), tuf_merkle::ProofError>,
    other_root: &tuf_merkle::Digest,
) {
    use tuf_merkle::{EMPTY, ProofError};
    let against_empty = verify(&EMPTY);
    let against_other = verify(other_root);
    match &against_empty {
        Ok(()) => {
            // It computes E, so it cannot also compute `other_root` (which is never E).
            assert!(
                matches!(against_other, Err(ProofError::RootMismatch { computed, .. }) if computed == EMPTY),
                "a proof verified against E and then {against_other:?} against another root"
            );
        }
        Err(ProofError::RootMismatch { expected, computed }) => {
            assert_eq!(*expected, EMPTY);
            assert_ne!(*computed, EMPTY);
            assert_eq!(
                verify(computed),
                Ok(()),
                "a proof does not verify against the root it reports computing"
            );
            if computed == other_root {
                assert_eq!(against_other, Ok(()));
            } else {
                assert!(
                    matches!(&against_other, Err(ProofError::RootMismatch { computed: c, .. }) if c == computed),
                    "the computed root depends on the trusted root: {against_other:?}"
                );
            }
        }
        Err(e) => assert_eq!(
            &against_other, &against_empty,
            "a refusal ({e}) depends on the root"
        ),
    }
}

/// A directory for targets that need files (the write-ahead log, the client's state): under
/// `$TUF_FUZZ_SCRATCH` when set (`scripts/fuzz.sh` points it at a temporary directory it
/// removes afterwards), else under `/dev/shm` (fsync costs nothing there) or the temporary
/// directory; one per target and process.
pub fn scratch_dir(target: &str) -> std::path::PathBuf {
    let base = match std::env::var_os("TUF_FUZZ_SCRATCH") {
        Some(dir) => std::path::PathBuf::from(dir),
        None if std::path::Path::new("/dev/shm").is_dir() => "/dev/shm".into(),
        None => std::env::temp_dir(),
    };
    let dir = base.join(format!("tuf-fuzz-{target}-{}", std::process::id()));
    if let Err(e) = std::fs::create_dir_all(&dir) {
        panic!("cannot create the scratch directory {}: {e}", dir.display());
    }
    dir
}

/// What the HTTP body targets (`http_batch`, `proof_request`) share: the mode byte and the
/// properties of a refusal.
#[cfg(feature = "signer")]
pub mod request {
    use tuf_signer::internals::ApiError;
    use tuf_signer::target::Layout;

    /// A mode byte's meaning: bit 0 the role's layout, bits 1-3 the most items (1-8), bit 4 a
    /// body limit of 512 bytes (else 1 MiB), so that inputs the fuzzer grows reach the bounds.
    pub struct Mode {
        /// The role's layout.
        pub layout: Layout,
        /// The most changes or names.
        pub most: usize,
        /// The body limit, bytes.
        pub max_bytes: usize,
    }

    /// Reads a mode byte.
    pub fn mode(byte: u8) -> Mode {
        Mode {
            layout: if byte & 1 == 1 {
                Layout::CratesIndex
            } else {
                Layout::Generic
            },
            most: usize::from((byte >> 1) & 7) + 1,
            max_bytes: if byte & 16 == 0 { 1 << 20 } else { 512 },
        }
    }

    /// A refusal is a 400, or a 413 exactly when the body is over the limit, with a code.
    pub fn check_refusal(e: &ApiError, body_len: usize, max_bytes: usize) {
        let status = e.status().as_u16();
        assert!(status == 400 || status == 413, "status {status}");
        assert_eq!(status == 413, body_len > max_bytes);
        assert!(!e.code().is_empty());
    }
}
