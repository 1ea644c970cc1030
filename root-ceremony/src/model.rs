//! Root metadata as the ceremony writes it (`docs/design.md`, D1, D4), canonical JSON, digests.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::num::NonZeroU64;

use serde::Serialize;
use sha2::{Digest as _, Sha256};
use tough::schema::decoded::{Decoded, Hex};
use tough::schema::key::Key;
use tough::schema::{RoleKeys, RoleType, Root, Signed};
use tuf_keys::TufPublicKey;

use crate::error::{CeremonyError, ShapeError};

/// The `spec_version` written: tough's editor insists on exactly "1.0.0", and tough's loader
/// and python-tuf accept any 1.x, so this is what every tool reads (the signer writes the same).
pub const SPEC_VERSION: &str = "1.0.0";

/// The four roles of D1, each its own TUF repository with its own root chain.
pub const DEFAULT_ROLES: [&str; 4] = ["crates.io", "releases", "nightly", "rustup"];

/// The three online roles, held by the role's single online key with threshold 1.
pub const ONLINE_ROLES: [RoleType; 3] =
    [RoleType::Timestamp, RoleType::Snapshot, RoleType::Targets];

/// OLPC canonical JSON of `value`: the bytes TUF signs.
pub fn canonical<T: Serialize>(value: &T) -> Result<Vec<u8>, CeremonyError> {
    let mut out = Vec::new();
    let mut ser =
        serde_json::Serializer::with_formatter(&mut out, olpc_cjson::CanonicalFormatter::new());
    value.serialize(&mut ser)?;
    Ok(out)
}

/// Lowercase hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Lowercase hex of a key ID.
pub fn id_hex(id: &Decoded<Hex>) -> String {
    hex::encode(id.as_ref())
}

/// A root's publishable bytes: its canonical JSON, re-indented for people to read (key order
/// stays sorted, so the bytes are deterministic), with a final newline.
pub fn root_file_bytes(root: &Signed<Root>) -> Result<Vec<u8>, CeremonyError> {
    pretty_sorted(root)
}

/// `value` as indented JSON with every object's keys sorted, and a final newline: the same
/// bytes for the same value, whatever the order of the maps inside.
pub fn pretty_sorted<T: Serialize>(value: &T) -> Result<Vec<u8>, CeremonyError> {
    fn sort(v: serde_json::Value) -> serde_json::Value {
        match v {
            serde_json::Value::Object(map) => {
                let mut entries: Vec<_> = map.into_iter().collect();
                entries.sort_by(|a, b| a.0.cmp(&b.0));
                serde_json::Value::Object(entries.into_iter().map(|(k, v)| (k, sort(v))).collect())
            }
            serde_json::Value::Array(a) => {
                serde_json::Value::Array(a.into_iter().map(sort).collect())
            }
            other => other,
        }
    }
    let value = serde_json::to_value(value)?;
    let mut out = serde_json::to_vec_pretty(&sort(value))?;
    out.push(b'\n');
    Ok(out)
}

/// Checks a role name for use as a directory and URL prefix.
pub fn check_role_name(name: &str) -> Result<(), CeremonyError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
        && name.as_bytes()[0].is_ascii_alphanumeric();
    if ok {
        Ok(())
    } else {
        Err(CeremonyError::BadRoleName(name.to_owned()))
    }
}

/// What one role's new root says: its root members and threshold, its online key, version and
/// expiry.
#[derive(Debug, Clone)]
pub struct RootSpec {
    /// The root members' keys.
    pub members: Vec<TufPublicKey>,
    /// The root threshold.
    pub threshold: u64,
    /// The role's online key (timestamp, snapshot, targets).
    pub online: TufPublicKey,
    /// The version.
    pub version: u64,
    /// Expiry.
    pub expires: jiff::Timestamp,
}

/// Checks that no key is listed twice among `members`, nor is both a member and `online`,
/// comparing key material ([`TufPublicKey::is_same_key`]), not key IDs: one key written two
/// ways has two key IDs, and tough would count its signatures twice towards the threshold.
pub fn check_distinct_keys(
    members: &[TufPublicKey],
    online: &TufPublicKey,
) -> Result<(), ShapeError> {
    for (i, m) in members.iter().enumerate() {
        if let Some(other) = members[..i].iter().find(|o| o.is_same_key(m)) {
            return Err(if other.key_id() == m.key_id() {
                ShapeError::MemberListedTwice(m.key_id_hex())
            } else {
                ShapeError::MemberWrittenTwice {
                    first: other.key_id_hex(),
                    second: m.key_id_hex(),
                }
            });
        }
        if m.is_same_key(online) {
            return Err(ShapeError::MemberIsOnlineKey {
                member: m.key_id_hex(),
                online: online.key_id_hex(),
            });
        }
    }
    Ok(())
}

/// Builds the unsigned root `spec` describes, after checking the threshold and that no key is
/// listed twice ([`check_distinct_keys`]).
pub fn build_root(spec: &RootSpec) -> Result<Root, CeremonyError> {
    let members = spec.members.len();
    if spec.threshold == 0 || spec.threshold > members as u64 {
        return Err(CeremonyError::BadThreshold {
            threshold: spec.threshold,
            members,
        });
    }
    check_distinct_keys(&spec.members, &spec.online)?;
    let threshold = NonZeroU64::new(spec.threshold).ok_or(CeremonyError::BadThreshold {
        threshold: 0,
        members,
    })?;
    let version = NonZeroU64::new(spec.version).ok_or_else(|| CeremonyError::VersionSkip {
        role: String::new(),
        version: 0,
        previous: 0,
    })?;
    let mut keys = HashMap::new();
    for m in &spec.members {
        keys.insert(m.key_id().clone(), m.key().clone());
    }
    keys.insert(spec.online.key_id().clone(), spec.online.key().clone());
    let mut roles = HashMap::new();
    roles.insert(
        RoleType::Root,
        RoleKeys {
            keyids: spec.members.iter().map(|m| m.key_id().clone()).collect(),
            threshold,
            _extra: HashMap::new(),
        },
    );
    for role in ONLINE_ROLES {
        roles.insert(
            role,
            RoleKeys {
                keyids: vec![spec.online.key_id().clone()],
                threshold: NonZeroU64::MIN,
                _extra: HashMap::new(),
            },
        );
    }
    Ok(Root {
        spec_version: SPEC_VERSION.to_owned(),
        consistent_snapshot: true,
        version,
        expires: spec.expires,
        keys,
        roles,
        _extra: HashMap::new(),
    })
}

/// Reads a root back into a [`RootSpec`] (for rotations that start from the previous root).
pub fn spec_of(root: &Root) -> Result<RootSpec, ShapeError> {
    let members = root_members(root)?;
    let online = online_key(root)?;
    let threshold = root
        .roles
        .get(&RoleType::Root)
        .map_or(0, |r| r.threshold.get());
    Ok(RootSpec {
        members,
        threshold,
        online,
        version: root.version.get(),
        expires: root.expires,
    })
}

/// The root role's member keys, in the order the root lists them.
pub fn root_members(root: &Root) -> Result<Vec<TufPublicKey>, ShapeError> {
    let role = root
        .roles
        .get(&RoleType::Root)
        .ok_or(ShapeError::NoRootRole)?;
    role.keyids
        .iter()
        .map(|id| {
            let key = root.keys.get(id).ok_or_else(|| ShapeError::KeyMissing {
                what: "root key",
                key_id: id_hex(id),
            })?;
            TufPublicKey::from_tuf_key(key.clone()).map_err(|source| ShapeError::BadMemberKey {
                key_id: id_hex(id),
                source,
            })
        })
        .collect()
}

/// The single online key that timestamp, snapshot and targets share (D1).
pub fn online_key(root: &Root) -> Result<TufPublicKey, ShapeError> {
    let mut found: Option<Decoded<Hex>> = None;
    for role in ONLINE_ROLES {
        let keys = root
            .roles
            .get(&role)
            .ok_or(ShapeError::NoOnlineRole(role))?;
        if keys.keyids.len() != 1 || keys.threshold.get() != 1 {
            return Err(ShapeError::OnlineRoleKeys {
                role,
                keys: keys.keyids.len(),
                threshold: keys.threshold.get(),
            });
        }
        match &found {
            None => found = Some(keys.keyids[0].clone()),
            Some(id) if *id == keys.keyids[0] => {}
            Some(_) => return Err(ShapeError::OnlineKeysDiffer),
        }
    }
    // ONLINE_ROLES is not empty, so the loop above found a key or returned.
    let id = found.ok_or(ShapeError::NoOnlineRole(RoleType::Timestamp))?;
    let key: &Key = root.keys.get(&id).ok_or_else(|| ShapeError::KeyMissing {
        what: "online key",
        key_id: id_hex(&id),
    })?;
    TufPublicKey::from_tuf_key(key.clone()).map_err(ShapeError::BadOnlineKey)
}

/// Checks the D1 shape of one root: consistent snapshots, a 1.x spec version, the online roles
/// held by one key with threshold 1, a root threshold that its members can meet, and no key
/// listed twice nor both a root member and the online key, however the keys are written
/// ([`check_distinct_keys`]).
pub fn check_shape(root: &Root) -> Result<(), ShapeError> {
    if !root.consistent_snapshot {
        return Err(ShapeError::InconsistentSnapshots);
    }
    if !(root.spec_version == "1" || root.spec_version.starts_with("1.")) {
        return Err(ShapeError::SpecVersion(root.spec_version.clone()));
    }
    let members = root_members(root)?;
    let threshold = root
        .roles
        .get(&RoleType::Root)
        .map_or(0, |r| r.threshold.get());
    if threshold == 0 || threshold > members.len() as u64 {
        return Err(ShapeError::ThresholdUnmeetable {
            threshold,
            members: members.len(),
        });
    }
    let online = online_key(root)?;
    check_distinct_keys(&members, &online)
}

/// What a new root changes compared with the previous one.
pub fn describe_changes(previous: &Root, new: &Root) -> Vec<String> {
    let mut out = Vec::new();
    let ids = |r: &Root| -> BTreeSet<String> {
        r.roles
            .get(&RoleType::Root)
            .map(|k| k.keyids.iter().map(id_hex).collect())
            .unwrap_or_default()
    };
    let (old, newer) = (ids(previous), ids(new));
    for id in newer.difference(&old) {
        out.push(format!("root member added: {id}"));
    }
    for id in old.difference(&newer) {
        out.push(format!("root member removed: {id}"));
    }
    let th = |r: &Root| {
        r.roles
            .get(&RoleType::Root)
            .map_or(0, |k| k.threshold.get())
    };
    if th(previous) != th(new) {
        out.push(format!("root threshold: {} -> {}", th(previous), th(new)));
    }
    let online = |r: &Root| online_key(r).map(|k| k.key_id_hex()).unwrap_or_default();
    if online(previous) != online(new) {
        out.push(format!(
            "online key: {} -> {}",
            online(previous),
            online(new)
        ));
    }
    out.push(format!(
        "expires: {} -> {}",
        previous.expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
        new.expires.strftime("%Y-%m-%dT%H:%M:%SZ")
    ));
    out
}

/// The key IDs of the root role, as hex, in order.
pub fn root_keyids(root: &Root) -> Vec<String> {
    root.roles
        .get(&RoleType::Root)
        .map(|k| k.keyids.iter().map(id_hex).collect())
        .unwrap_or_default()
}

/// Counts the signatures on `signed` that verify under keys of `root`'s root role (each key
/// once), returning the signing key IDs.
pub fn valid_root_signers(
    root: &Root,
    signed: &Signed<Root>,
) -> Result<Vec<String>, CeremonyError> {
    let message = canonical(&signed.signed)?;
    let members: BTreeMap<String, Key> = match root.roles.get(&RoleType::Root) {
        Some(k) => k
            .keyids
            .iter()
            .filter_map(|id| root.keys.get(id).map(|key| (id_hex(id), key.clone())))
            .collect(),
        None => BTreeMap::new(),
    };
    let mut out = BTreeSet::new();
    for sig in &signed.signatures {
        let id = id_hex(&sig.keyid);
        if let Some(key) = members.get(&id)
            && let Ok(public) = TufPublicKey::from_tuf_key(key.clone())
            && public.verify(&message, &sig.sig)
        {
            out.insert(id);
        }
    }
    Ok(out.into_iter().collect())
}

/// Formats a timestamp the TUF way.
pub fn fmt_time(t: jiff::Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Now plus `days`, to the second.
pub fn expires_in_days(days: u64) -> Result<jiff::Timestamp, CeremonyError> {
    let bad = || CeremonyError::BadExpiry { days };
    if days == 0 || days > 3660 {
        return Err(bad());
    }
    let now = jiff::Timestamp::now().as_second();
    // At most 3660 days: neither the product nor the sum overflows, and the result is far
    // inside jiff's range unless the clock is wildly wrong (then the expiry is refused too).
    let secs = i64::try_from(days * 86_400).map_err(|_| bad())?;
    jiff::Timestamp::from_second(now + secs).map_err(|_| bad())
}
