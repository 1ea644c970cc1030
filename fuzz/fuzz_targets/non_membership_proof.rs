//! This POUF's non-membership proof from untrusted bytes.
//!
//! As `membership_proof`: parsing never panics, a parsed proof re-encodes canonically and parses
//! back equal, `Proof::from_json` agrees, verification never panics and behaves as
//! `check_verification` says. A leaf terminal on the name's own key is refused.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tuf_merkle::{MembershipProof, NonMembershipProof, Proof, ProofError, Terminal, key_of};

fuzz_target!(|data: &[u8]| {
    tuf_fuzz::begin(data.len());
    let parsed = NonMembershipProof::from_json(data);
    tuf_fuzz::check_limit(data, &parsed, NonMembershipProof::from_json_with_limit);
    let either = Proof::from_json(data);
    let Ok(proof) = parsed else {
        if let Ok(p) = either {
            assert!(matches!(p, Proof::Membership(_)), "{p:?}");
            assert_eq!(
                MembershipProof::from_json(data).map(Proof::Membership),
                Ok(p)
            );
        }
        return;
    };
    assert_eq!(either, Ok(Proof::NonMembership(proof.clone())));
    assert!(MembershipProof::from_json(data).is_err());

    let json = proof.to_json();
    let again = NonMembershipProof::from_json(&json).expect("the re-encoded proof parses");
    assert_eq!(again, proof, "re-encoding changed the proof");
    assert_eq!(again.to_json(), json, "the encoding is not canonical");

    let root = tuf_fuzz::some_root(data);
    tuf_fuzz::check_verification(|r| proof.verify(r), &root);
    if let Terminal::Leaf { key, .. } = proof.terminal {
        if key == key_of(&proof.name) {
            assert_eq!(
                proof.verify(&root),
                Err(ProofError::TerminalOffPath(proof.name.clone()))
            );
        }
    }
});
