//! Verifying a role's root chain `1.root.json` … `N.root.json` exactly as a TUF client does
//! (TUF specification 5.3, as tough and python-tuf implement it): root 1 is the trust anchor
//! and must be signed by its own threshold; each later root must carry the version after its
//! predecessor and be signed both by the predecessor's root threshold and by its own; only the
//! newest root must be unexpired. Signature checks are tough's own ([`Root::verify_role`]),
//! which also rejects two signatures by one key ID; parsing is tough's, which recomputes and
//! checks every key ID. Each root must also have the D1 shape ([`check_shape`]), which refuses
//! one key listed under two key IDs (tough would count its signatures twice). Each file is
//! read with a size limit ([`crate::files::MAX_ROOT_FILE`]).

use std::path::{Path, PathBuf};

use tough::schema::{Root, Signed};

use crate::error::CeremonyError;
use crate::model::{check_shape, fmt_time};

/// One root of a chain: its exact file bytes and the parsed metadata.
#[derive(Debug, Clone)]
pub struct ChainRoot {
    /// The file.
    pub path: PathBuf,
    /// Its bytes.
    pub bytes: Vec<u8>,
    /// Parsed.
    pub root: Signed<Root>,
}

/// A verified chain.
#[derive(Debug, Clone)]
pub struct Chain {
    /// Roots 1..=N in order.
    pub roots: Vec<ChainRoot>,
}

impl Chain {
    /// The newest root.
    pub fn last(&self) -> Option<&ChainRoot> {
        self.roots.last()
    }

    /// The newest version (0 when empty).
    pub fn version(&self) -> u64 {
        self.roots.last().map_or(0, |r| r.root.signed.version.get())
    }
}

/// Lists the `N.root.json` files of `dir` as (N, path), sorted.
fn root_files(dir: &Path) -> Result<Vec<(u64, PathBuf)>, CeremonyError> {
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(CeremonyError::io("list", dir)(e)),
    };
    for entry in entries {
        let entry = entry.map_err(CeremonyError::io("list", dir))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(n) = name.strip_suffix(".root.json")
            && let Ok(v) = n.parse::<u64>()
            && n == v.to_string()
        {
            out.push((v, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// Loads and verifies the chain in `dir` as a client would. `now` is the time for the expiry
/// check of the newest root (`None` skips it). An empty directory is an empty chain.
pub fn load_chain(
    role: &str,
    dir: &Path,
    now: Option<jiff::Timestamp>,
) -> Result<Chain, CeremonyError> {
    let files = root_files(dir)?;
    let broken = |file: String, reason: String| CeremonyError::ChainBroken {
        role: role.to_owned(),
        dir: dir.to_owned(),
        file,
        reason,
    };
    let mut roots: Vec<ChainRoot> = Vec::new();
    for (i, (n, path)) in files.iter().enumerate() {
        let expected = i as u64 + 1;
        if *n != expected {
            return Err(broken(
                format!("{expected}.root.json"),
                format!(
                    "it is missing, so {n}.root.json cannot be reached (clients fetch one version \
                     after the other)"
                ),
            ));
        }
        let name = format!("{n}.root.json");
        let bytes = crate::files::read_limited(path, crate::files::MAX_ROOT_FILE, "a root")?;
        let root: Signed<Root> = serde_json::from_slice(&bytes)
            .map_err(|e| broken(name.clone(), format!("not valid TUF root metadata: {e}")))?;
        if root.signed.version.get() != *n {
            return Err(broken(
                name,
                format!(
                    "it holds version {}, not {n} (a version skip or a misnamed file)",
                    root.signed.version
                ),
            ));
        }
        root.signed.verify_role(&root).map_err(|e| {
            broken(
                name.clone(),
                format!("not signed by its own root threshold: {e}"),
            )
        })?;
        if let Some(prev) = roots.last() {
            prev.root.signed.verify_role(&root).map_err(|e| {
                broken(
                    name.clone(),
                    format!(
                        "not signed by the root threshold of version {} (clients trusting it \
                         would refuse this rotation): {e}",
                        n - 1
                    ),
                )
            })?;
        }
        check_shape(&root.signed).map_err(|e| broken(name.clone(), e.to_string()))?;
        roots.push(ChainRoot {
            path: path.clone(),
            bytes,
            root,
        });
    }
    if let (Some(now), Some(last)) = (now, roots.last())
        && last.root.signed.expires <= now
    {
        return Err(broken(
            format!("{}.root.json", last.root.signed.version),
            format!(
                "the newest root expired at {}; clients refuse it until a new root is signed \
                 (run a rotation: `tuf-ceremony init --previous-roots … --allow-expired-previous`)",
                fmt_time(last.root.signed.expires)
            ),
        ));
    }
    Ok(Chain { roots })
}
