//! TAP-16 snapshot Merkle metadata (a membership proof) from untrusted bytes.
//!
//! Parsing never panics and never allocates out of proportion to the input; a proof that
//! parses re-encodes to a canonical form that parses back to the same proof and encodes to the
//! same bytes; `Proof::from_json` (which tells the two forms apart) agrees with the specific
//! parser; verification never panics and behaves as `check_verification` says.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tuf_merkle::{MembershipProof, NonMembershipProof, Proof};

fuzz_target!(|data: &[u8]| {
    tuf_fuzz::begin(data.len());
    let parsed = MembershipProof::from_json(data);
    tuf_fuzz::check_limit(data, &parsed, MembershipProof::from_json_with_limit);
    let either = Proof::from_json(data);
    let Ok(proof) = parsed else {
        // Refused as a membership proof: the dispatcher may only take it as the other form.
        if let Ok(p) = either {
            assert!(matches!(p, Proof::NonMembership(_)), "{p:?}");
            assert_eq!(
                NonMembershipProof::from_json(data).map(Proof::NonMembership),
                Ok(p)
            );
        }
        return;
    };
    assert_eq!(either, Ok(Proof::Membership(proof.clone())));
    assert!(NonMembershipProof::from_json(data).is_err());

    let json = proof.to_json();
    let again = MembershipProof::from_json(&json).expect("the re-encoded proof parses");
    assert_eq!(again, proof, "re-encoding changed the proof");
    assert_eq!(again.to_json(), json, "the encoding is not canonical");

    tuf_fuzz::check_verification(|root| proof.verify(root), &tuf_fuzz::some_root(data));
});
