//! Checks a signer end to end through tough itself: tough signs a TUF timestamp with the key
//! source ([`SignedRole::new`]), and tough's [`Root::verify_role`] verifies it against a root
//! that lists the signer's public key. Loading that root also makes tough recompute and check
//! the key ID. Used by this crate's tests and, through `test_support`, by other crates' tests.

use aws_lc_rs::rand::SystemRandom;
use serde_json::json;
use tough::editor::signed::SignedRole;
use tough::key_source::KeySource;
use tough::schema::{KeyHolder, Root, Signed, Timestamp};

use crate::TufPublicKey;

/// Signs a timestamp whose canonical JSON is padded with `padding` bytes (in an extra field)
/// through tough with `source`, whose key must be `public`, and verifies the result with tough.
///
/// Returns the signed timestamp and the length of the canonical JSON that was signed.
pub async fn sign_timestamp_with_tough(
    source: Box<dyn KeySource>,
    public: &TufPublicKey,
    padding: usize,
) -> Result<(Signed<Timestamp>, usize), Box<dyn std::error::Error + Send + Sync>> {
    let key_id = public.key_id_hex();
    let role = json!({ "keyids": [key_id], "threshold": 1 });
    let root: Root = serde_json::from_value(json!({
        "_type": "root",
        "spec_version": "1.0.0",
        "consistent_snapshot": true,
        "version": 1,
        "expires": "2100-01-01T00:00:00Z",
        "keys": { key_id.clone(): public.key() },
        "roles": { "root": role, "snapshot": role, "targets": role, "timestamp": role },
    }))?;
    let timestamp: Timestamp = serde_json::from_value(json!({
        "_type": "timestamp",
        "spec_version": "1.0.0",
        "version": 1,
        "expires": "2100-01-01T00:00:00Z",
        "meta": { "snapshot.json": { "version": 1 } },
        "padding": "p".repeat(padding),
    }))?;
    let mut canonical = Vec::new();
    let mut serializer = serde_json::Serializer::with_formatter(
        &mut canonical,
        olpc_cjson::CanonicalFormatter::new(),
    );
    serde::Serialize::serialize(&timestamp, &mut serializer)?;

    let signed = SignedRole::new(
        timestamp,
        &KeyHolder::Root(root.clone()),
        &[source],
        &SystemRandom::new(),
    )
    .await?;
    let signed = signed.signed().clone();
    root.verify_role(&signed)?;
    Ok((signed, canonical.len()))
}
