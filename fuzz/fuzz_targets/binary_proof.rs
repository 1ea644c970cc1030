//! The binary encoding of proofs (POUF §10) from untrusted bytes: single proofs, multi-proofs
//! and the signer's binary answers.
//!
//! Decoding never panics and never allocates out of proportion to the input; whatever decodes
//! re-encodes to exactly the input (one byte string per proof) and survives the JSON form
//! unchanged (the two encodings hold the same values); `Proof::from_binary` agrees with the
//! reader of each kind, and at most one kind's reader accepts the input; the multi-proof
//! reader's limit behaves as `check_limit` says; verification never panics and behaves as
//! `check_verification` says. An answer that decodes re-encodes to the input, and its proof is
//! judged by the same readers.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tuf_merkle::binary::Answer;
use tuf_merkle::multiproof::MultiProof;
use tuf_merkle::{MembershipProof, NonMembershipProof, Proof};

fn single(data: &[u8]) {
    let either = Proof::from_binary(data);
    let member = MembershipProof::from_binary(data);
    let absent = NonMembershipProof::from_binary(data);
    match &either {
        Ok(Proof::Membership(p)) => {
            assert_eq!(member.as_ref(), Ok(p));
            assert!(absent.is_err());
        }
        Ok(Proof::NonMembership(p)) => {
            assert_eq!(absent.as_ref(), Ok(p));
            assert!(member.is_err());
        }
        Err(_) => assert!(member.is_err() && absent.is_err()),
    }
    let Ok(proof) = either else {
        return;
    };
    assert_eq!(
        proof.to_binary().as_deref(),
        Ok(data),
        "a decoded proof re-encodes to other bytes"
    );
    // Without the JSON limit: a name of control characters, escaped six bytes each, can take
    // a proof within the binary limit over the JSON one.
    let json = proof.to_json();
    let back = match &proof {
        Proof::Membership(_) => {
            MembershipProof::from_json_with_limit(&json, usize::MAX).map(Proof::Membership)
        }
        Proof::NonMembership(_) => {
            NonMembershipProof::from_json_with_limit(&json, usize::MAX).map(Proof::NonMembership)
        }
    };
    assert_eq!(
        back.as_ref(),
        Ok(&proof),
        "the JSON form of a binary proof reads back as another proof"
    );
    tuf_fuzz::check_verification(|root| proof.verify(root), &tuf_fuzz::some_root(data));
}

fn multi(data: &[u8]) {
    let parsed = MultiProof::from_binary(data);
    tuf_fuzz::check_limit(data, &parsed, MultiProof::from_binary_with_limit);
    let Ok(proof) = parsed else {
        return;
    };
    assert!(
        Proof::from_binary(data).is_err(),
        "a multi-proof read as a single proof"
    );
    assert_eq!(
        proof.to_binary().as_deref(),
        Ok(data),
        "a decoded multi-proof re-encodes to other bytes"
    );
    assert_eq!(
        MultiProof::from_json_with_limit(&proof.to_json(), usize::MAX).as_ref(),
        Ok(&proof),
        "the JSON form of a binary multi-proof reads back as another proof"
    );
    for (name, contents) in proof.targets() {
        assert_eq!(proof.get(name), Some(contents.as_ref()), "{name:?}");
    }
    tuf_fuzz::check_verification(|root| proof.verify(root), &tuf_fuzz::some_root(data));
}

fuzz_target!(|data: &[u8]| {
    tuf_fuzz::begin(data.len());
    single(data);
    multi(data);
    if let Ok(answer) = Answer::decode(data) {
        assert!(Answer::is_binary(data));
        assert_eq!(
            answer.encode().as_deref(),
            Ok(data),
            "an answer re-encodes to other bytes"
        );
        single(answer.proof);
        multi(answer.proof);
    }
});
