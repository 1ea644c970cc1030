//! Where `keygen` puts a member's new key and where `pubkey` reads one: a PKCS#8 key file or
//! a key on a PKCS#11 token, exactly one of them.

use std::path::PathBuf;

use tuf_keys::pkcs11::Pkcs11KeySpec;
use tuf_keys::{FileSigner, KeyAlgorithm, TufPublicKey};

use crate::error::CeremonyError;
use crate::keys::{EnvPin, TokenArgs, read_pin, read_public_key_file};

/// A member's key: a file or a token key.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum KeySource {
    /// A PKCS#8 private key file (for `pubkey`, also a public key PEM file).
    File(PathBuf),
    /// A key on a PKCS#11 token.
    Token(Pkcs11KeySpec),
}

impl KeySource {
    /// The one source `key_file` and `token` name; [`CeremonyError::KeySourceNeeded`] for
    /// neither or both.
    pub fn from_args(key_file: Option<PathBuf>, token: &TokenArgs) -> Result<Self, CeremonyError> {
        match (key_file, token.spec()?) {
            (Some(path), None) => Ok(KeySource::File(path)),
            (None, Some(spec)) => Ok(KeySource::Token(spec)),
            _ => Err(CeremonyError::KeySourceNeeded),
        }
    }

    /// Generates a key of `algorithm` here: a key file (mode 0600, never overwriting one), or
    /// a key pair on the token, logging in with `env_pin` or a PIN asked for on the terminal.
    /// Returns its public key.
    pub fn generate(
        &self,
        algorithm: KeyAlgorithm,
        env_pin: Option<&EnvPin>,
    ) -> Result<TufPublicKey, CeremonyError> {
        match self {
            KeySource::File(path) => {
                Ok(FileSigner::generate(path, algorithm)?.public_key().clone())
            }
            KeySource::Token(spec) => {
                let pin = read_pin(&spec.to_string(), env_pin)?;
                Ok(tuf_keys::pkcs11::generate(spec, algorithm, Some(&pin))?)
            }
        }
    }

    /// The public key here (a token's without logging in).
    pub fn public_key(&self) -> Result<TufPublicKey, CeremonyError> {
        match self {
            KeySource::File(path) => read_public_key_file(path),
            KeySource::Token(spec) => Ok(tuf_keys::pkcs11::read_public_key_only(spec)?),
        }
    }
}
