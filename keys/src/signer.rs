//! The one signer of this crate: [`Signer`] turns any key source's raw signatures ([`RawSigner`],
//! [`LocalRawSigner`]) into tough's [`Sign`] and this crate's [`TufSigner`], checking every
//! signature on the way out.
//!
//! Properties kept:
//! - every signature a [`Signer`] returns, through [`Signer::sign_message`],
//!   [`Signer::sign_message_blocking`] or tough's [`Sign::sign`], has been verified against the
//!   key's TUF public key, here and nowhere else, exactly as tough verifies it; one that does not
//!   verify is an error ([`BadSignature`]), so a faulty key source (a wrong key, a wrong
//!   algorithm, a faulty token or KMS endpoint) never gets a signature published that TUF
//!   clients would reject;
//! - [`TufSigner`] is sealed: a `dyn TufSigner` is always a [`Signer`], so whoever holds one holds
//!   that guarantee;
//! - the key sources of this crate are reachable only inside a [`Signer`] (their types have no
//!   public constructors and a [`Signer`] never lends out its source), so their unverified raw
//!   signatures never leave the crate.

use std::fmt;
use std::future::Future;

use async_trait::async_trait;
use aws_lc_rs::rand::SecureRandom;
use tough::schema::key::Key;
use tough::sign::Sign;

use crate::error::BadSignature;
use crate::tuf_key::{KeyAlgorithm, TufPublicKey};

/// What a key source provides: its public key, and raw TUF signatures that nobody has checked
/// yet. Wrap it in a [`Signer`] to sign with it.
///
/// A raw signature is what TUF puts into `signatures[].sig`: for `ed25519` the 64-byte pure
/// Ed25519 signature over the message; for `ecdsa-sha2-nistp256` the DER
/// `SEQUENCE { INTEGER r, INTEGER s }` over the message's SHA-256.
///
/// Sources that sign without waiting on a remote service implement [`LocalRawSigner`] instead,
/// which gives them this trait and [`Signer::sign_message_blocking`].
pub trait RawSigner: fmt::Display + fmt::Debug + Send + Sync + 'static {
    /// Why signing failed. [`Signer`] reports a signature that does not verify as this error
    /// too, through `From<BadSignature>`, so a source keeps one error type.
    type Error: std::error::Error + From<BadSignature> + Send + Sync + 'static;

    /// The TUF public key that the source's signatures must verify under.
    fn public_key(&self) -> &TufPublicKey;

    /// Signs `message` (for TUF: the canonical JSON of a role's `signed`), unchecked.
    fn sign_raw(&self, message: &[u8])
    -> impl Future<Output = Result<Vec<u8>, Self::Error>> + Send;
}

/// A key source that signs right away, in this process or on a token attached to this machine
/// (key files, PKCS#11 tokens): callers without an async runtime (the ceremony, auditors) can
/// sign with it through [`Signer::sign_message_blocking`]. Every such source is a [`RawSigner`].
pub trait LocalRawSigner: fmt::Display + fmt::Debug + Send + Sync + 'static {
    /// Why signing failed; see [`RawSigner::Error`].
    type Error: std::error::Error + From<BadSignature> + Send + Sync + 'static;

    /// The TUF public key that the source's signatures must verify under.
    fn public_key(&self) -> &TufPublicKey;

    /// Signs `message`, unchecked, blocking the calling thread until it is done.
    fn sign_raw_blocking(&self, message: &[u8]) -> Result<Vec<u8>, Self::Error>;
}

impl<T: LocalRawSigner> RawSigner for T {
    type Error = <T as LocalRawSigner>::Error;

    fn public_key(&self) -> &TufPublicKey {
        LocalRawSigner::public_key(self)
    }

    fn sign_raw(
        &self,
        message: &[u8],
    ) -> impl Future<Output = Result<Vec<u8>, Self::Error>> + Send {
        std::future::ready(self.sign_raw_blocking(message))
    }
}

/// A signer of TUF metadata that knows the TUF public key it signs for.
///
/// Implemented only by [`Signer`] (the trait is sealed), so every signature a `dyn TufSigner`
/// returns has been verified. A `Box<dyn TufSigner + Send + Sync>` (what
/// [`KeySpec::open`](crate::KeySpec::open) returns) lets a caller pick the key source from
/// configuration and still use tough's [`Sign`] (`&*boxed as &dyn Sign`).
pub trait TufSigner: Sign + fmt::Debug + sealed::Sealed {
    /// The TUF public key (and key ID) that every signature of this signer verifies under.
    fn public_key(&self) -> &TufPublicKey;
}

mod sealed {
    /// Keeps [`TufSigner`](super::TufSigner) implemented by [`Signer`](super::Signer) alone.
    pub trait Sealed {}
    impl<S: super::RawSigner> Sealed for super::Signer<S> {}
}

/// A key source whose every signature is verified before it is returned: the one
/// implementation of tough's [`Sign`] and of [`TufSigner`] in this crate.
///
/// [`FileSigner`](crate::FileSigner), [`KmsSigner`](crate::KmsSigner) and
/// `pkcs11::Pkcs11Signer` are this type over each source; their constructors live with the
/// source.
#[derive(Clone)]
pub struct Signer<S> {
    /// Never lent out: raw signatures leave only through [`Signer::checked`].
    pub(crate) raw: S,
}

impl<S: RawSigner> Signer<S> {
    /// Wraps a key source, so that its signatures are verified.
    pub fn new(raw: S) -> Self {
        Self { raw }
    }

    /// The TUF public key this signer signs for.
    pub fn public_key(&self) -> &TufPublicKey {
        self.raw.public_key()
    }

    /// The algorithm of the key.
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.public_key().algorithm()
    }

    /// Signs `message` (for TUF: the canonical JSON of a role's `signed`): Ed25519 over the
    /// message, or ECDSA P-256 over its SHA-256 with a DER signature.
    ///
    /// The signature is verified against [`Signer::public_key`] before it is returned; one that
    /// does not verify is the source's error made from [`BadSignature`].
    pub async fn sign_message(&self, message: &[u8]) -> Result<Vec<u8>, S::Error> {
        let signature = self.raw.sign_raw(message).await?;
        self.checked(message, signature)
    }

    /// The one place where a raw signature becomes a signature: it is handed out only if it
    /// verifies under the public key, the way tough (and every TUF client) verifies it.
    fn checked(&self, message: &[u8], signature: Vec<u8>) -> Result<Vec<u8>, S::Error> {
        let public = self.public_key();
        if public.verify(message, &signature) {
            Ok(signature)
        } else {
            Err(BadSignature {
                signer: self.raw.to_string(),
                key_id: public.key_id_hex(),
            }
            .into())
        }
    }
}

impl<S: LocalRawSigner> Signer<S> {
    /// [`Signer::sign_message`] without an async runtime, for sources that sign right away
    /// (key files; PKCS#11 tokens, whose calls block this thread while the token works).
    pub fn sign_message_blocking(&self, message: &[u8]) -> Result<Vec<u8>, S::Error> {
        let signature = self.raw.sign_raw_blocking(message)?;
        self.checked(message, signature)
    }
}

impl<S: RawSigner> fmt::Debug for Signer<S> {
    /// The source's `Debug`, which shows where the key is and its key ID, never key material.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.raw, f)
    }
}

impl<S: RawSigner> fmt::Display for Signer<S> {
    /// Where the key is, e.g. `key file keys/timestamp.pem` or `KMS key arn:aws:kms:…`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.raw, f)
    }
}

#[async_trait]
impl<S: RawSigner> Sign for Signer<S> {
    fn tuf_key(&self) -> Key {
        self.public_key().key().clone()
    }

    /// [`Signer::sign_message`]. `rng` is not used: file keys draw ECDSA nonces from the system
    /// generator themselves, and the other sources sign elsewhere.
    async fn sign(
        &self,
        msg: &[u8],
        _rng: &(dyn SecureRandom + Sync),
    ) -> Result<Vec<u8>, Box<dyn std::error::Error + Send + Sync + 'static>> {
        Ok(self.sign_message(msg).await?)
    }
}

impl<S: RawSigner> TufSigner for Signer<S> {
    fn public_key(&self) -> &TufPublicKey {
        Signer::public_key(self)
    }
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _};

    use super::*;

    /// A source that signs correctly until told to sign wrongly (another key's signature, or a
    /// flipped bit): a stand-in for a faulty token or KMS endpoint.
    struct Faulty {
        pair: Ed25519KeyPair,
        other: Ed25519KeyPair,
        public: TufPublicKey,
        fault: std::sync::Mutex<Fault>,
    }

    #[derive(Clone, Copy, PartialEq)]
    enum Fault {
        None,
        OtherKey,
        FlippedBit,
        Truncated,
    }

    #[derive(Debug, thiserror::Error)]
    enum FaultyError {
        #[error(transparent)]
        Bad(#[from] BadSignature),
    }

    impl fmt::Debug for Faulty {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("Faulty")
        }
    }

    impl fmt::Display for Faulty {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("faulty test key")
        }
    }

    impl Faulty {
        fn new() -> Self {
            let rng = SystemRandom::new();
            let pair = |rng| {
                Ed25519KeyPair::from_pkcs8(Ed25519KeyPair::generate_pkcs8(rng).unwrap().as_ref())
                    .unwrap()
            };
            let (pair, other) = (pair(&rng), pair(&rng));
            let public = TufPublicKey::ed25519(pair.public_key().as_ref()).unwrap();
            Faulty {
                pair,
                other,
                public,
                fault: std::sync::Mutex::new(Fault::None),
            }
        }
    }

    impl LocalRawSigner for Faulty {
        type Error = FaultyError;

        fn public_key(&self) -> &TufPublicKey {
            &self.public
        }

        fn sign_raw_blocking(&self, message: &[u8]) -> Result<Vec<u8>, FaultyError> {
            let mut signature = self.pair.sign(message).as_ref().to_vec();
            match *self.fault.lock().unwrap() {
                Fault::None => {}
                Fault::OtherKey => signature = self.other.sign(message).as_ref().to_vec(),
                Fault::FlippedBit => signature[10] ^= 0x01,
                Fault::Truncated => signature.truncate(63),
            }
            Ok(signature)
        }
    }

    fn set(signer: &Signer<Faulty>, fault: Fault) {
        *signer.raw.fault.lock().unwrap() = fault;
    }

    #[tokio::test]
    async fn a_raw_signature_that_does_not_verify_is_refused_on_every_path() {
        let signer = Signer::new(Faulty::new());
        let message = b"canonical json";
        let good = signer.sign_message_blocking(message).unwrap();
        assert!(signer.public_key().verify(message, &good));
        assert_eq!(signer.sign_message(message).await.unwrap(), good);

        for fault in [Fault::OtherKey, Fault::FlippedBit, Fault::Truncated] {
            set(&signer, fault);
            let err = signer.sign_message_blocking(message).unwrap_err();
            let FaultyError::Bad(bad) = &err;
            assert_eq!(bad.signer, "faulty test key");
            assert_eq!(bad.key_id, signer.public_key().key_id_hex());
            assert!(err.to_string().contains("faulty test key"), "{err}");

            assert!(matches!(
                signer.sign_message(message).await,
                Err(FaultyError::Bad(_))
            ));
            // Through tough's trait, as the signer and tough's SignedRole call it.
            let sign: &dyn Sign = &signer;
            let err = sign.sign(message, &SystemRandom::new()).await.unwrap_err();
            assert!(err.to_string().contains("does not verify"), "{err}");
            // And through a `dyn TufSigner`, as `KeySpec::open` returns it.
            let faulty = Signer::new(Faulty::new());
            set(&faulty, fault);
            let boxed: Box<dyn TufSigner + Send + Sync> = Box::new(faulty);
            let sign: &dyn Sign = &*boxed;
            assert_eq!(&sign.tuf_key(), boxed.public_key().key());
            assert!(sign.sign(message, &SystemRandom::new()).await.is_err());
        }
        set(&signer, Fault::None);
        assert!(signer.sign_message_blocking(message).is_ok());
    }

    #[test]
    fn display_and_debug_are_the_sources() {
        let signer = Signer::new(Faulty::new());
        assert_eq!(signer.to_string(), "faulty test key");
        assert_eq!(format!("{signer:?}"), "Faulty");
        assert_eq!(signer.algorithm(), KeyAlgorithm::Ed25519);
    }
}
