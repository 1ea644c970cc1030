//! The core alone against a real signer: tuf-signer runs in-process (as `client/tests` start
//! it), publishes and deletes targets, and the core verifies the role's root chain, its
//! timestamp, single proofs and a multi-proof from the signer's read API, with nothing else.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::SystemTime;

use serde_json::{Value, json};
use tuf_merkle::LeafContents;
use tuf_testkit::signer::Background;
use tuf_testkit::{CLASSIC, MERKLE};
use tuf_verify_core::{Freshness, Membership, TrustedRoot, VerifyError, verify_timestamp};

/// The trusted root of `role`: its `1.root.json`, then every `N+1.root.json` the signer has.
fn root_chain(signer: &Background, role: &str) -> TrustedRoot {
    let mut root = TrustedRoot::new(&signer.get(&format!("{role}/1.root.json"))).unwrap();
    loop {
        let next = signer.req(
            "GET",
            &format!("/{role}/{}.root.json", root.version() + 1),
            &[],
            b"",
        );
        if next.status == 404 {
            break;
        }
        assert_eq!(next.status, 200);
        root.update(&next.body).unwrap();
    }
    root.check_expiry(SystemTime::now()).unwrap();
    root
}

/// The `proof` member of a proof answer, as JSON text.
fn proof_of(answer: &Value) -> Vec<u8> {
    serde_json::to_vec(&answer["proof"]).unwrap()
}

#[test]
fn a_real_repository_verifies_with_the_core_alone() {
    let signer = Background::start();
    let files: [(&str, &[u8]); 4] = [
        ("se/rd/serde", b"{\"name\":\"serde\",\"vers\":\"1.0.0\"}\n"),
        ("3/s/syn", b"{\"name\":\"syn\",\"vers\":\"2.0.0\"}\n"),
        ("to/ki/tokio", b"{\"name\":\"tokio\",\"vers\":\"1.0.0\"}\n"),
        ("1/a", b"{\"name\":\"a\",\"vers\":\"0.1.0\"}\n"),
    ];
    for (name, bytes) in files {
        signer.publish(MERKLE, name, bytes);
    }
    let first = verify_timestamp(
        &root_chain(&signer, MERKLE),
        &signer.get(&format!("{MERKLE}/timestamp.json")),
        SystemTime::now(),
    )
    .unwrap();
    let version = signer.delete(MERKLE, "1/a");

    let root = root_chain(&signer, MERKLE);
    let ts = verify_timestamp(
        &root,
        &signer.get(&format!("{MERKLE}/timestamp.json")),
        SystemTime::now(),
    )
    .unwrap();
    assert_eq!(ts.version(), version);
    assert!(ts.merkle_root().is_some());
    assert_eq!(ts.check_rollback(&first), Ok(Freshness::Newer));
    assert_eq!(
        first.check_rollback(&ts).unwrap_err(),
        VerifyError::Rollback {
            trusted: ts.version(),
            new: first.version(),
        }
    );
    // The signer's own immutable copy of the same timestamp is the same file.
    let copy = verify_timestamp(
        &root,
        &signer.get(&format!("{MERKLE}/timestamps/{version}.timestamp.json")),
        SystemTime::now(),
    )
    .unwrap();
    assert_eq!(copy.check_rollback(&ts), Ok(Freshness::Unchanged));

    // Single proofs against that version: present, deleted, absent; each also asked in the
    // binary encoding (POUF §10), which must say the same, and whose answer the core takes as
    // it came, as it takes the JSON answer.
    let binary = [("Accept", tuf_verify_core::BINARY_PROOF_MEDIA_TYPE)];
    let single = |name: &str| {
        let path = format!("/api/v1/{MERKLE}/proof/{name}?version={version}");
        let r = signer.req("GET", &path, &[], b"");
        assert_eq!(r.status, 200, "{}", r.text());
        let from_json = ts.verify_proof_json(name, &proof_of(&r.json())).unwrap();
        assert_eq!(ts.verify_proof_answer(name, &r.body).unwrap(), from_json);
        let b = signer.req("GET", &path, &binary, b"");
        assert_eq!(b.status, 200, "{}", b.text());
        assert!(b.body.len() < r.body.len());
        assert_eq!(ts.verify_proof_answer(name, &b.body).unwrap(), from_json);
        let answer = tuf_verify_core::BinaryAnswer::decode(&b.body).unwrap();
        assert_eq!(answer.timestamp_version, version);
        assert_eq!(
            ts.verify_proof_binary(name, answer.proof).unwrap(),
            from_json
        );
        from_json
    };
    assert_eq!(
        single("se/rd/serde"),
        Membership::Member(LeafContents::for_bytes(1, files[0].1).unwrap())
    );
    assert_eq!(
        single("1/a"),
        Membership::Member(LeafContents::deleted(2).unwrap())
    );
    assert_eq!(single("no/th/nothing"), Membership::Absent);

    // A proof for one name is not accepted for another.
    let r = signer.req(
        "GET",
        &format!("/api/v1/{MERKLE}/proof/3/s/syn?version={version}"),
        &[],
        b"",
    );
    assert!(matches!(
        ts.verify_proof_json("se/rd/serde", &proof_of(&r.json())),
        Err(VerifyError::Proof { .. })
    ));

    // One multi-proof for several names.
    let names = ["se/rd/serde", "3/s/syn", "1/a", "no/th/nothing"];
    let r = signer.req(
        "POST",
        &format!("/api/v1/{MERKLE}/proofs"),
        &[("Content-Type", "application/json")],
        &serde_json::to_vec(&json!({"names": names, "version": version})).unwrap(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let found = ts
        .verify_multi_proof_json(&names, &proof_of(&r.json()), 1 << 20)
        .unwrap();
    assert_eq!(
        found["3/s/syn"],
        Membership::Member(LeafContents::for_bytes(1, files[1].1).unwrap())
    );
    assert_eq!(
        found["1/a"],
        Membership::Member(LeafContents::deleted(2).unwrap())
    );
    assert_eq!(found["no/th/nothing"], Membership::Absent);
    // ... and only for the names asked.
    assert!(matches!(
        ts.verify_multi_proof_json(&names[..3], &proof_of(&r.json()), 1 << 20),
        Err(VerifyError::Proof { .. })
    ));
    // The same multi-proof in binary.
    let b = signer.req(
        "POST",
        &format!("/api/v1/{MERKLE}/proofs"),
        &[("Content-Type", "application/json"), binary[0]],
        &serde_json::to_vec(&json!({"names": names, "version": version})).unwrap(),
    );
    assert_eq!(b.status, 200, "{}", b.text());
    assert_eq!(
        ts.verify_multi_proof_answer(&names, &b.body, 1 << 20)
            .unwrap(),
        found
    );
    assert!(matches!(
        ts.verify_multi_proof_answer(&names[..3], &b.body, 1 << 20),
        Err(VerifyError::Proof { .. })
    ));

    // Proofs asked at the older version verify against the older timestamp (while the signer
    // still keeps that version).
    let r = signer.req(
        "GET",
        &format!(
            "/api/v1/{MERKLE}/proof/se/rd/serde?version={}",
            first.version()
        ),
        &[],
        b"",
    );
    if r.status == 200 {
        assert!(
            first
                .verify_proof_json("se/rd/serde", &proof_of(&r.json()))
                .is_ok()
        );
    }

    // A classic role: its timestamp verifies and carries no merkle_root, so no proof is
    // checked against it.
    signer.publish(CLASSIC, "dist/channel-rust-stable.toml", b"[pkg]\n");
    let classic = verify_timestamp(
        &root_chain(&signer, CLASSIC),
        &signer.get(&format!("{CLASSIC}/timestamp.json")),
        SystemTime::now(),
    )
    .unwrap();
    assert!(classic.merkle_root().is_none());
    assert_eq!(
        classic.verify_proof_json("se/rd/serde", b"{}").unwrap_err(),
        VerifyError::NoMerkleRoot {
            version: classic.version()
        }
    );
}
