//! Signing TUF metadata with keys held on PKCS#11 tokens: HSMs, YubiHSM, YubiKey PIV through
//! ykcs11, and SoftHSM2 in tests (`docs/design.md`, D4, D7).
//!
//! Two key types, as everywhere in this crate:
//!
//! - **ECDSA P-256** (`CKK_EC` on prime256v1): the message is hashed with SHA-256 here and the
//!   digest signed with plain `CKM_ECDSA`, because not every token offers `CKM_ECDSA_SHA256`
//!   (SoftHSM2 does not). PKCS#11 returns the signature as raw `r || s`; TUF wants DER, so it is
//!   re-encoded before it leaves this module.
//! - **Ed25519** (`CKK_EC_EDWARDS` on edwards25519): `CKM_EDDSA` without parameters, which is
//!   pure Ed25519 over the whole message, the scheme TUF's `ed25519` means.
//!
//! The public key comes from the token's public key object (`CKA_EC_POINT`, which tokens return
//! wrapped in a DER OCTET STRING; a bare point is accepted too) with the same `CKA_LABEL` as
//! the private key.
//!
//! Security properties kept here:
//! - the PIN is taken as a [`Pin`](crate::pkcs11::Pin) (zeroed when dropped), handed only to
//!   `C_Login`, and never written into an error, a `Debug` output or a log; it is never part of
//!   a [`Pkcs11KeySpec`](crate::pkcs11::Pkcs11KeySpec) (nor of a [`KeySpec`](crate::KeySpec)),
//!   so it is never in a config file either: a spec names at most its source
//!   ([`PinSource`](crate::pkcs11::PinSource): an environment variable, or a file that only its
//!   owner can read); a signer keeps it, zeroed when dropped, only to log in again;
//! - a signer whose session is lost (token removed or reset, module finalised, sessions
//!   closed) re-opens it and signs again once, and only with the same key: the key found under
//!   the label must have the public key the signer was opened with; while the token stays
//!   away, signing fails with [`Pkcs11Error::SessionLost`](crate::pkcs11::Pkcs11Error) and the
//!   next signature tries again;
//! - a wrong PIN, a locked PIN, a missing token and a missing or ambiguous key are distinct
//!   errors ([`Pkcs11Error`](crate::pkcs11::Pkcs11Error)) that say what to do;
//! - every signature is checked against the token's public key before it is returned (by
//!   [`Signer`]), so a token fault (or a key that does not match its public object) never
//!   yields a signature that clients would reject;
//! - generated private keys are sensitive and never extractable.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use serde::{Deserialize, Serialize};
use tough::sign::Sign;

use crate::error::{BadSignature, PublicKeyError};
use crate::signer::{LocalRawSigner, Signer};
use crate::tuf_key::{KeyAlgorithm, TufPublicKey};

pub use cryptoki::types::AuthPin as Pin;

/// DER of the prime256v1 (P-256) OID, as `CKA_EC_PARAMS` holds it.
const P256_EC_PARAMS: [u8; 10] = [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
/// DER of the id-Ed25519 OID (RFC 8410), one way `CKA_EC_PARAMS` names edwards25519.
const ED25519_EC_PARAMS_OID: [u8; 5] = [0x06, 0x03, 0x2b, 0x65, 0x70];
/// DER PrintableString "edwards25519", the other way (PKCS#11 3.0 allows both).
const ED25519_EC_PARAMS_NAME: [u8; 14] = [
    0x13, 0x0c, b'e', b'd', b'w', b'a', b'r', b'd', b's', b'2', b'5', b'5', b'1', b'9',
];

/// Which token to use. In a [`KeySpec`](crate::KeySpec): `token = { label = "…" }` or
/// `token = { slot = N }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum TokenSelector {
    /// The token whose label is this (trailing padding ignored). Must match exactly one token.
    Label(String),
    /// The slot with this ID.
    Slot(u64),
}

impl fmt::Display for TokenSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenSelector::Label(l) => write!(f, "token labelled {l:?}"),
            TokenSelector::Slot(s) => write!(f, "token in slot {s}"),
        }
    }
}

/// The largest PIN read from a file or an environment variable, in bytes. Token PINs are far
/// shorter; anything longer is not a PIN file.
pub const MAX_PIN_LEN: usize = 256;

/// Where an unattended process (the signer) reads a token's PIN from, as configuration names
/// it: `pin = { env = "NAME" }` or `pin = { file = "/path" }`. Only the source is configured,
/// never the PIN, so a config file naming one need not be secret.
///
/// The PIN is what the variable holds, or the file's contents without one trailing newline.
/// A PIN file must be readable by its owner only (mode 0600 or stricter), as a key file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum PinSource {
    /// An environment variable of the process.
    Env(String),
    /// A file (mode 0600): e.g. a systemd credential or a mounted secret.
    File(PathBuf),
}

impl fmt::Display for PinSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PinSource::Env(var) => write!(f, "environment variable {var}"),
            PinSource::File(path) => write!(f, "file {}", path.display()),
        }
    }
}

impl PinSource {
    /// Reads the PIN, refusing a PIN file that its group or others can access (checked on the
    /// opened file, so a swap between check and read cannot slip through), and a PIN that is
    /// empty, longer than [`MAX_PIN_LEN`] or not UTF-8. No error contains the PIN.
    pub fn read(&self) -> Result<Pin, Pkcs11Error> {
        use std::io::Read as _;
        use std::os::unix::fs::PermissionsExt as _;
        use zeroize::Zeroizing;

        let unusable = |reason| Pkcs11Error::PinUnusable {
            source_name: self.to_string(),
            reason,
        };
        let mut bytes = Zeroizing::new(Vec::with_capacity(MAX_PIN_LEN + 2));
        match self {
            PinSource::Env(var) => {
                if var.is_empty() || var.contains(['=', '\0']) {
                    // No such variable can be set.
                    return Err(Pkcs11Error::PinEnvMissing { var: var.clone() });
                }
                let value = std::env::var_os(var)
                    .ok_or_else(|| Pkcs11Error::PinEnvMissing { var: var.clone() })?;
                let value = Zeroizing::new(std::os::unix::ffi::OsStringExt::into_vec(value));
                bytes.extend_from_slice(&value[..value.len().min(MAX_PIN_LEN + 1)]);
            }
            PinSource::File(path) => {
                let err = |source| Pkcs11Error::PinFile {
                    path: path.clone(),
                    source,
                };
                let file = std::fs::File::open(path).map_err(err)?;
                let metadata = file.metadata().map_err(err)?;
                if !metadata.is_file() {
                    return Err(err(std::io::Error::other("not a regular file")));
                }
                let mode = metadata.permissions().mode() & 0o7777;
                if mode & 0o077 != 0 {
                    return Err(Pkcs11Error::PinFileInsecure {
                        path: path.clone(),
                        mode,
                    });
                }
                // Room for the limit and a newline, so the buffer never reallocates and leaves
                // an unzeroed copy behind.
                file.take(MAX_PIN_LEN as u64 + 2)
                    .read_to_end(&mut bytes)
                    .map_err(err)?;
                if bytes.ends_with(b"\n") {
                    bytes.pop();
                    if bytes.ends_with(b"\r") {
                        bytes.pop();
                    }
                }
            }
        }
        if bytes.is_empty() {
            return Err(unusable("it is empty"));
        }
        if bytes.len() > MAX_PIN_LEN {
            return Err(unusable("it is longer than 256 bytes"));
        }
        let text = std::str::from_utf8(&bytes).map_err(|_| unusable("it is not UTF-8"))?;
        Ok(Pin::from(text))
    }
}

/// Where a key lives: the PKCS#11 module, the token and the key's label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pkcs11KeySpec {
    /// The PKCS#11 module (shared library), e.g. `/usr/lib/softhsm/libsofthsm2.so`.
    pub module: PathBuf,
    /// The token.
    pub token: TokenSelector,
    /// `CKA_LABEL` of the key pair (the private and the public key object).
    pub key_label: String,
}

impl fmt::Display for Pkcs11KeySpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "key {:?} on the {} of {}",
            self.key_label,
            self.token,
            self.module.display()
        )
    }
}

/// Why a PKCS#11 key could not be found, generated or used. Never contains the PIN.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Pkcs11Error {
    /// The module could not be loaded or initialised.
    #[error(
        "cannot load PKCS#11 module {module}: {source}; check the path (SoftHSM2: \
         /usr/lib/softhsm/libsofthsm2.so, YubiKey: libykcs11.so) and that it matches this machine"
    )]
    Module {
        /// The module path.
        module: PathBuf,
        /// What went wrong.
        source: CkError,
    },
    /// No token matches the selector.
    #[error(
        "no {selector} in {module} (tokens present: {present}); insert the token, or check \
         the token's label or slot"
    )]
    TokenNotFound {
        /// The module.
        module: PathBuf,
        /// What was looked for.
        selector: String,
        /// The labels (and slots) of the tokens that are present.
        present: String,
    },
    /// More than one token has the label.
    #[error("{count} tokens are labelled {label:?}; select one with --slot")]
    AmbiguousToken {
        /// The label.
        label: String,
        /// How many tokens carry it.
        count: usize,
    },
    /// The PIN was refused.
    #[error(
        "the token refused the PIN (wrong PIN); nothing was signed. Tokens lock after a few \
         wrong PINs: check it before trying again"
    )]
    WrongPin,
    /// The PIN is locked.
    #[error(
        "the token's user PIN is locked after too many wrong PINs; it must be unlocked with \
         the security officer PIN (or the key is lost: see the runbook)"
    )]
    PinLocked,
    /// The token needs a PIN but none was given.
    #[error("the token needs a PIN to sign")]
    PinRequired,
    /// No key with the label.
    #[error(
        "no {class} labelled {label:?} on the token (keys present: {present}); check the key's \
         label"
    )]
    KeyNotFound {
        /// `private key` or `public key`.
        class: &'static str,
        /// The label.
        label: String,
        /// Labels of the keys of that class on the token.
        present: String,
    },
    /// More than one key object with the label.
    #[error("{count} {class} objects are labelled {label:?}; labels must be unique on the token")]
    AmbiguousKey {
        /// `private key` or `public key`.
        class: &'static str,
        /// The label.
        label: String,
        /// How many.
        count: usize,
    },
    /// A key generation was asked for a label that is taken.
    #[error("the token already has a key labelled {label:?}; refusing to create a second one")]
    KeyExists {
        /// The label.
        label: String,
    },
    /// The key is not an Ed25519 or P-256 key, or its attributes are malformed.
    #[error("key {label:?} is not usable for TUF: {reason}")]
    UnsupportedKey {
        /// The label.
        label: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The key is of a key type other than `CKK_EC` and `CKK_EC_EDWARDS`.
    #[error(
        "key {label:?} is not usable for TUF: its key type is {key_type}; TUF keys here are \
         ECDSA P-256 (CKK_EC) or Ed25519 (CKK_EC_EDWARDS)"
    )]
    UnsupportedKeyType {
        /// The label.
        label: String,
        /// The token's name for its key type.
        key_type: String,
    },
    /// The key's public key is not a valid TUF key.
    #[error("key {label:?} is not usable for TUF: {source}")]
    PublicKey {
        /// The label.
        label: String,
        /// Why.
        source: PublicKeyError,
    },
    /// The token returned an ECDSA signature that is not 64 bytes (`r || s` on P-256).
    #[error(
        "the token returned a {len}-byte ECDSA signature for key {label:?}; P-256 gives 64 (r || s)"
    )]
    SignatureLength {
        /// The label.
        label: String,
        /// The length returned.
        len: usize,
    },
    /// A PKCS#11 call failed for another reason.
    #[error("PKCS#11 {operation} failed: {source}")]
    Call {
        /// What was being done.
        operation: &'static str,
        /// The module's error.
        source: CkError,
    },
    /// The session was lost (the token removed or reset, the module finalised) and opening a
    /// new one failed too; the next signature tries again.
    #[error(
        "the PKCS#11 session for {key} was lost ({cause}), and re-opening it failed: {reopen}; \
         nothing was signed, and the next signature tries again"
    )]
    SessionLost {
        /// Where the key is.
        key: String,
        /// The failure that showed the session was lost.
        cause: String,
        /// Why re-opening failed.
        reopen: Box<Pkcs11Error>,
    },
    /// After the session was re-opened, the key with the label has another public key.
    #[error(
        "key {label:?} on the re-opened token has key ID {found}, not {expected} as when the \
         signer started; refusing to sign with another key (was the token replaced?)"
    )]
    KeyChanged {
        /// The label.
        label: String,
        /// The key ID when the signer was opened.
        expected: String,
        /// The key ID found now.
        found: String,
    },
    /// The environment variable a PIN is to be read from is not set.
    #[error(
        "the PIN is to be read from the environment variable {var}, which is not set; set it \
         in the service's environment (or use a PIN file)"
    )]
    PinEnvMissing {
        /// The variable's name.
        var: String,
    },
    /// A PIN file could not be read.
    #[error("cannot read the PIN file {path}: {source}")]
    PinFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A PIN file that its group or other users can access.
    #[error(
        "the PIN file {path} has mode {mode:04o}, so its group or other users can access it; \
         a PIN file must be readable by its owner only: run `chmod 600 {path}`"
    )]
    PinFileInsecure {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// A PIN (from a file or an environment variable) that is empty, too long or not UTF-8.
    #[error("the PIN from {source_name} is unusable: {reason}")]
    PinUnusable {
        /// Where it came from (`environment variable X`, `file Y`); never the PIN.
        source_name: String,
        /// What is wrong (never the PIN).
        reason: &'static str,
    },
    /// An earlier signing attempt panicked while it held the session.
    #[error("the PKCS#11 session is unusable: an earlier signing attempt panicked")]
    SessionPoisoned,
    /// `KeySource::write` was called on a PKCS#11 key source.
    #[error("a PKCS#11 key cannot be written; generate it on the token")]
    WriteUnsupported,
    /// The token's signature does not verify under the key's public key (refused by
    /// [`Signer`]).
    #[error("{0} (the private and public objects do not belong together, or the token is faulty)")]
    BadSignature(#[from] BadSignature),
}

fn call(operation: &'static str) -> impl FnOnce(CkError) -> Pkcs11Error {
    move |source| Pkcs11Error::Call { operation, source }
}

/// A loaded, initialised module.
fn open_module(module: &Path) -> Result<Pkcs11, Pkcs11Error> {
    let ctx = Pkcs11::new(module).map_err(|source| Pkcs11Error::Module {
        module: module.to_owned(),
        source,
    })?;
    initialize(&ctx, module)?;
    Ok(ctx)
}

/// Initialises the module, unless it is already (by another user in this process, or before
/// it was finalised).
fn initialize(ctx: &Pkcs11, module: &Path) -> Result<(), Pkcs11Error> {
    match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => Ok(()),
        Err(source) => Err(Pkcs11Error::Module {
            module: module.to_owned(),
            source,
        }),
    }
}

/// Finds the slot of the token `selector` names.
fn find_slot(ctx: &Pkcs11, module: &Path, selector: &TokenSelector) -> Result<Slot, Pkcs11Error> {
    let slots = ctx.get_slots_with_token().map_err(call("C_GetSlotList"))?;
    let mut present = Vec::new();
    let mut matches = Vec::new();
    for slot in slots {
        let label = match ctx.get_token_info(slot) {
            Ok(info) => info.label().trim_end().to_owned(),
            Err(_) => continue,
        };
        present.push(format!("{label:?} in slot {}", slot.id()));
        let hit = match selector {
            TokenSelector::Label(want) => label == want.trim_end(),
            TokenSelector::Slot(id) => slot.id() == *id,
        };
        if hit {
            matches.push(slot);
        }
    }
    match matches.len() {
        1 => Ok(matches[0]),
        0 => Err(Pkcs11Error::TokenNotFound {
            module: module.to_owned(),
            selector: selector.to_string(),
            present: if present.is_empty() {
                "none".to_owned()
            } else {
                present.join(", ")
            },
        }),
        count => Err(Pkcs11Error::AmbiguousToken {
            label: match selector {
                TokenSelector::Label(l) => l.clone(),
                TokenSelector::Slot(s) => s.to_string(),
            },
            count,
        }),
    }
}

fn login(session: &Session, pin: Option<&Pin>) -> Result<(), Pkcs11Error> {
    let Some(pin) = pin else {
        return Err(Pkcs11Error::PinRequired);
    };
    match session.login(UserType::User, Some(pin)) {
        Ok(()) => Ok(()),
        Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(()),
        Err(CkError::Pkcs11(RvError::PinIncorrect | RvError::PinInvalid, _)) => {
            Err(Pkcs11Error::WrongPin)
        }
        Err(CkError::Pkcs11(RvError::PinLocked, _)) => Err(Pkcs11Error::PinLocked),
        Err(e) => Err(call("C_Login")(e)),
    }
}

/// Labels of the objects of `class` on the token, for error messages.
fn labels(session: &Session, class: ObjectClass) -> String {
    let handles = session
        .find_objects(&[Attribute::Class(class)])
        .unwrap_or_default();
    let mut out = Vec::new();
    for h in handles {
        if let Ok(attrs) = session.get_attributes(h, &[AttributeType::Label]) {
            for a in attrs {
                if let Attribute::Label(l) = a {
                    out.push(format!("{:?}", String::from_utf8_lossy(&l)));
                }
            }
        }
    }
    if out.is_empty() {
        "none".to_owned()
    } else {
        out.join(", ")
    }
}

/// The single object of `class` labelled `label`.
fn find_key(
    session: &Session,
    class: ObjectClass,
    label: &str,
) -> Result<ObjectHandle, Pkcs11Error> {
    let class_name = if class == ObjectClass::PRIVATE_KEY {
        "private key"
    } else {
        "public key"
    };
    let found = session
        .find_objects(&[
            Attribute::Class(class),
            Attribute::Label(label.as_bytes().to_vec()),
        ])
        .map_err(call("C_FindObjects"))?;
    match found.len() {
        1 => Ok(found[0]),
        0 => Err(Pkcs11Error::KeyNotFound {
            class: class_name,
            label: label.to_owned(),
            present: labels(session, class),
        }),
        count => Err(Pkcs11Error::AmbiguousKey {
            class: class_name,
            label: label.to_owned(),
            count,
        }),
    }
}

/// Strips the DER OCTET STRING that tokens wrap `CKA_EC_POINT` in; a bare point of the
/// expected length (some tokens return one) is taken as it is.
fn unwrap_ec_point(value: &[u8], expected_len: usize) -> Option<&[u8]> {
    if value.len() == expected_len && (expected_len != 65 || value[0] == 0x04) {
        // A bare uncompressed P-256 point, or 32 raw Ed25519 bytes. (A DER OCTET STRING of
        // 32 bytes is 34 long, and one of 65 bytes is 67, so these cannot be confused.)
        return Some(value);
    }
    match value {
        [0x04, len, rest @ ..]
            if usize::from(*len) == expected_len && rest.len() == expected_len =>
        {
            Some(rest)
        }
        [0x04, 0x81, len, rest @ ..]
            if usize::from(*len) == expected_len && rest.len() == expected_len =>
        {
            Some(rest)
        }
        _ => None,
    }
}

/// Reads the TUF public key of the public key object `handle`.
fn read_public_key(
    session: &Session,
    handle: ObjectHandle,
    label: &str,
) -> Result<TufPublicKey, Pkcs11Error> {
    let unsupported = |reason: &'static str| Pkcs11Error::UnsupportedKey {
        label: label.to_owned(),
        reason,
    };
    let attrs = session
        .get_attributes(
            handle,
            &[
                AttributeType::KeyType,
                AttributeType::EcParams,
                AttributeType::EcPoint,
            ],
        )
        .map_err(call("C_GetAttributeValue"))?;
    let (mut key_type, mut params, mut point) = (None, None, None);
    for a in attrs {
        match a {
            Attribute::KeyType(t) => key_type = Some(t),
            Attribute::EcParams(p) => params = Some(p),
            Attribute::EcPoint(p) => point = Some(p),
            _ => {}
        }
    }
    let key_type = key_type.ok_or_else(|| unsupported("it has no CKA_KEY_TYPE"))?;
    let params = params.ok_or_else(|| unsupported("it has no CKA_EC_PARAMS"))?;
    let point = point.ok_or_else(|| unsupported("it has no CKA_EC_POINT"))?;
    let result = if key_type == KeyType::EC {
        if params != P256_EC_PARAMS {
            return Err(unsupported(
                "it is an EC key on another curve than P-256 (prime256v1)",
            ));
        }
        let raw = unwrap_ec_point(&point, 65)
            .ok_or_else(|| unsupported("its CKA_EC_POINT is not an uncompressed P-256 point"))?;
        TufPublicKey::ecdsa_p256(raw)
    } else if key_type == KeyType::EC_EDWARDS {
        if params != ED25519_EC_PARAMS_OID && params != ED25519_EC_PARAMS_NAME {
            return Err(unsupported(
                "it is an Edwards key on another curve than edwards25519",
            ));
        }
        let raw = unwrap_ec_point(&point, 32)
            .ok_or_else(|| unsupported("its CKA_EC_POINT is not a 32-byte Ed25519 key"))?;
        TufPublicKey::ed25519(raw)
    } else {
        return Err(Pkcs11Error::UnsupportedKeyType {
            label: label.to_owned(),
            key_type: key_type.to_string(),
        });
    };
    result.map_err(|source| Pkcs11Error::PublicKey {
        label: label.to_owned(),
        source,
    })
}

/// The public key object that belongs to the private key `private`: the one with the same
/// label, or else the one with the same `CKA_ID` (YubiKey PIV labels its private and public
/// objects differently but gives them one ID).
fn find_public_for(
    session: &Session,
    private: ObjectHandle,
    label: &str,
) -> Result<ObjectHandle, Pkcs11Error> {
    match find_key(session, ObjectClass::PUBLIC_KEY, label) {
        Err(Pkcs11Error::KeyNotFound { .. }) => {}
        other => return other,
    }
    let id = session
        .get_attributes(private, &[AttributeType::Id])
        .map_err(call("C_GetAttributeValue"))?
        .into_iter()
        .find_map(|a| match a {
            Attribute::Id(id) if !id.is_empty() => Some(id),
            _ => None,
        });
    let found = match id {
        Some(id) => session
            .find_objects(&[Attribute::Class(ObjectClass::PUBLIC_KEY), Attribute::Id(id)])
            .map_err(call("C_FindObjects"))?,
        None => Vec::new(),
    };
    match found.len() {
        1 => Ok(found[0]),
        0 => Err(Pkcs11Error::KeyNotFound {
            class: "public key",
            label: label.to_owned(),
            present: labels(session, ObjectClass::PUBLIC_KEY),
        }),
        count => Err(Pkcs11Error::AmbiguousKey {
            class: "public key",
            label: label.to_owned(),
            count,
        }),
    }
}

/// Reads the TUF public key of the key `spec` names, without logging in (public key objects
/// are readable without a PIN on every token this was written for).
pub fn read_public_key_only(spec: &Pkcs11KeySpec) -> Result<TufPublicKey, Pkcs11Error> {
    let ctx = open_module(&spec.module)?;
    let slot = find_slot(&ctx, &spec.module, &spec.token)?;
    let session = ctx.open_ro_session(slot).map_err(call("C_OpenSession"))?;
    let handle = match find_key(&session, ObjectClass::PUBLIC_KEY, &spec.key_label) {
        Ok(h) => h,
        // Private objects are visible without login on some tokens: find the pair by CKA_ID.
        Err(e @ Pkcs11Error::KeyNotFound { .. }) => {
            match find_key(&session, ObjectClass::PRIVATE_KEY, &spec.key_label) {
                Ok(private) => find_public_for(&session, private, &spec.key_label)?,
                Err(_) => return Err(e),
            }
        }
        Err(e) => return Err(e),
    };
    read_public_key(&session, handle, &spec.key_label)
}

/// Generates a key pair of `algorithm` on the token, labelled `spec.key_label`, with a
/// private key that is sensitive and never extractable. Refuses a label that is taken.
pub fn generate(
    spec: &Pkcs11KeySpec,
    algorithm: KeyAlgorithm,
    pin: Option<&Pin>,
) -> Result<TufPublicKey, Pkcs11Error> {
    let ctx = open_module(&spec.module)?;
    let slot = find_slot(&ctx, &spec.module, &spec.token)?;
    let session = ctx.open_rw_session(slot).map_err(call("C_OpenSession"))?;
    login(&session, pin)?;
    let label = spec.key_label.as_bytes().to_vec();
    for class in [ObjectClass::PRIVATE_KEY, ObjectClass::PUBLIC_KEY] {
        let found = session
            .find_objects(&[Attribute::Class(class), Attribute::Label(label.clone())])
            .map_err(call("C_FindObjects"))?;
        if !found.is_empty() {
            return Err(Pkcs11Error::KeyExists {
                label: spec.key_label.clone(),
            });
        }
    }
    let (mechanism, params) = match algorithm {
        KeyAlgorithm::EcdsaP256 => (Mechanism::EccKeyPairGen, P256_EC_PARAMS.to_vec()),
        KeyAlgorithm::Ed25519 => (
            Mechanism::EccEdwardsKeyPairGen,
            ED25519_EC_PARAMS_NAME.to_vec(),
        ),
    };
    let public_template = [
        Attribute::Token(true),
        Attribute::Private(false),
        Attribute::Verify(true),
        Attribute::EcParams(params),
        Attribute::Label(label.clone()),
    ];
    let private_template = [
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Sign(true),
        Attribute::Label(label),
    ];
    let (public, _private) = session
        .generate_key_pair(&mechanism, &public_template, &private_template)
        .map_err(call("C_GenerateKeyPair"))?;
    read_public_key(&session, public, &spec.key_label)
}

/// A signer for a key on a PKCS#11 token, logged in for its lifetime: [`Pkcs11Signer::open`].
///
/// A signing call that finds its session gone (the token was removed or reset, the module was
/// finalised, every session was closed: see [`session_lost`]) re-opens the session once (the
/// module initialised again if needed, the token and key found again, logged in again) and
/// signs again; the re-opened key must have the same public key. If re-opening fails too, the
/// call fails with [`Pkcs11Error::SessionLost`], and the next call tries again.
pub type Pkcs11Signer = Signer<Pkcs11Key>;

/// The key source of a [`Pkcs11Signer`]: the module, the key's TUF public key, the PIN (for
/// logging in again after the session is lost) and, while the token is there, a logged-in
/// session. Only a [`Pkcs11Signer`] holds one.
pub struct Pkcs11Key {
    spec: Pkcs11KeySpec,
    // Keeps the module loaded; sessions are opened through it.
    ctx: Pkcs11,
    public: TufPublicKey,
    // Zeroed on drop, never shown; handed only to `C_Login`.
    pin: Option<Pin>,
    // The session is not `Sync`; tough's `Sign` must be. `None` after the session was lost
    // and re-opening failed: the next signature opens one first.
    session: Mutex<Option<KeySession>>,
    reopened: AtomicU64,
}

/// A logged-in session and the handle of the private key in it (handles are per session on
/// some tokens, and change when a token comes back).
struct KeySession {
    session: Session,
    private: ObjectHandle,
    // The key needs the PIN again for every signature (YubiKey PIV's signature slot).
    always_authenticate: bool,
}

/// Whether a failed call means that the session (or the login, or the token, or the module's
/// initialisation) is gone, so that opening a new session is worth trying: the token was
/// removed or reset, its sessions were closed, or the module was finalised. Any other error
/// (a wrong mechanism, a faulty key) would fail again the same way.
pub fn session_lost(error: &CkError) -> bool {
    matches!(
        error,
        CkError::Pkcs11(
            RvError::SessionHandleInvalid
                | RvError::SessionClosed
                | RvError::DeviceRemoved
                | RvError::DeviceError
                | RvError::TokenNotPresent
                | RvError::TokenNotRecognized
                | RvError::SlotIdInvalid
                | RvError::CryptokiNotInitialized
                | RvError::UserNotLoggedIn
                | RvError::KeyHandleInvalid
                | RvError::ObjectHandleInvalid,
            _
        )
    )
}

/// Opens a session on the token `spec` names, logs in and finds the key pair; returns the
/// session and the key's public key.
fn open_key_session(
    ctx: &Pkcs11,
    spec: &Pkcs11KeySpec,
    pin: Option<&Pin>,
) -> Result<(KeySession, TufPublicKey), Pkcs11Error> {
    let slot = find_slot(ctx, &spec.module, &spec.token)?;
    let session = ctx.open_ro_session(slot).map_err(call("C_OpenSession"))?;
    login(&session, pin)?;
    let private = find_key(&session, ObjectClass::PRIVATE_KEY, &spec.key_label)?;
    let public_handle = find_public_for(&session, private, &spec.key_label)?;
    let public = read_public_key(&session, public_handle, &spec.key_label)?;
    let always_authenticate = session
        .get_attributes(private, &[AttributeType::AlwaysAuthenticate])
        .ok()
        .into_iter()
        .flatten()
        .any(|a| matches!(a, Attribute::AlwaysAuthenticate(true)));
    Ok((
        KeySession {
            session,
            private,
            always_authenticate,
        },
        public,
    ))
}

/// Why one signing attempt failed: a call whose error may mean the session is gone (kept
/// whole, so that [`session_lost`] can look at it), or any other error.
enum Attempt {
    Call(&'static str, CkError),
    Other(Pkcs11Error),
}

impl From<Attempt> for Pkcs11Error {
    fn from(a: Attempt) -> Self {
        match a {
            Attempt::Call(operation, source) => Pkcs11Error::Call { operation, source },
            Attempt::Other(e) => e,
        }
    }
}

impl Pkcs11Key {
    /// Opens a new session after the old one was lost: initialises the module again (a no-op
    /// unless it was finalised), finds the token and the key again, logs in, and checks that
    /// the key is still the one whose public key this signer reports.
    fn reopen(&self) -> Result<KeySession, Pkcs11Error> {
        initialize(&self.ctx, &self.spec.module)?;
        let (session, public) = open_key_session(&self.ctx, &self.spec, self.pin.as_ref())?;
        if public != self.public {
            return Err(Pkcs11Error::KeyChanged {
                label: self.spec.key_label.clone(),
                expected: self.public.key_id_hex(),
                found: public.key_id_hex(),
            });
        }
        self.reopened.fetch_add(1, Ordering::Relaxed);
        Ok(session)
    }

    /// One signature with `open`, the TUF way for the key's type.
    fn sign_with(&self, open: &KeySession, message: &[u8]) -> Result<Vec<u8>, Attempt> {
        if open.always_authenticate
            && let Some(pin) = &self.pin
        {
            match open.session.login(UserType::ContextSpecific, Some(pin)) {
                Ok(()) => {}
                Err(CkError::Pkcs11(RvError::PinIncorrect, _)) => {
                    return Err(Attempt::Other(Pkcs11Error::WrongPin));
                }
                Err(CkError::Pkcs11(RvError::PinLocked, _)) => {
                    return Err(Attempt::Other(Pkcs11Error::PinLocked));
                }
                Err(e) => return Err(Attempt::Call("C_Login (context specific)", e)),
            }
        }
        match self.public.algorithm() {
            KeyAlgorithm::EcdsaP256 => {
                let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, message);
                let raw = open
                    .session
                    .sign(&Mechanism::Ecdsa, open.private, digest.as_ref())
                    .map_err(|e| Attempt::Call("C_Sign (CKM_ECDSA)", e))?;
                raw_ecdsa_to_der(&raw).ok_or_else(|| {
                    Attempt::Other(Pkcs11Error::SignatureLength {
                        label: self.spec.key_label.clone(),
                        len: raw.len(),
                    })
                })
            }
            KeyAlgorithm::Ed25519 => open
                .session
                .sign(
                    &Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Pure)),
                    open.private,
                    message,
                )
                .map_err(|e| Attempt::Call("C_Sign (CKM_EDDSA)", e)),
        }
    }
}

impl fmt::Debug for Pkcs11Key {
    /// Shows the key's location, algorithm and key ID; never the PIN.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pkcs11Signer")
            .field("spec", &self.spec)
            .field("algorithm", &self.public.algorithm())
            .field("key_id", &self.public.key_id_hex())
            .finish()
    }
}

impl fmt::Display for Pkcs11Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PKCS#11 {}", self.spec)
    }
}

impl LocalRawSigner for Pkcs11Key {
    type Error = Pkcs11Error;

    fn public_key(&self) -> &TufPublicKey {
        &self.public
    }

    /// Signs the TUF way for the key's type: Ed25519 (`CKM_EDDSA`) over the message; ECDSA
    /// P-256 (`CKM_ECDSA`) over its SHA-256, re-encoded from `r || s` to DER. A session found
    /// lost is re-opened once and the signature tried again (see [`Pkcs11Signer`]).
    fn sign_raw_blocking(&self, message: &[u8]) -> Result<Vec<u8>, Pkcs11Error> {
        let mut guard = self
            .session
            .lock()
            .map_err(|_| Pkcs11Error::SessionPoisoned)?;
        let cause = match guard.as_ref() {
            Some(open) => match self.sign_with(open, message) {
                Ok(signature) => return Ok(signature),
                Err(Attempt::Call(operation, source)) if session_lost(&source) => {
                    format!("{operation} failed: {source}")
                }
                Err(e) => return Err(e.into()),
            },
            None => "it was lost before, and could not be re-opened then".to_owned(),
        };
        // Closes the old session (harmlessly failing if it is gone) before a new one is
        // opened, so that a new session that happens to get the old handle is never closed.
        *guard = None;
        let reopened = self.reopen().map_err(|e| Pkcs11Error::SessionLost {
            key: self.spec.to_string(),
            cause: cause.clone(),
            reopen: Box::new(e),
        })?;
        tracing::warn!(
            key = %self.spec,
            cause,
            "the PKCS#11 session was lost; re-opened it and logged in again"
        );
        let open = guard.insert(reopened);
        self.sign_with(open, message).map_err(Pkcs11Error::from)
    }
}

impl Signer<Pkcs11Key> {
    /// Opens the token `spec` names, logs in with `pin` and finds the key pair labelled
    /// `spec.key_label` (private key and public key object). The PIN is kept (zeroed when the
    /// signer is dropped) to log in again if the session is lost.
    pub fn open(spec: &Pkcs11KeySpec, pin: Option<&Pin>) -> Result<Self, Pkcs11Error> {
        let ctx = open_module(&spec.module)?;
        let (session, public) = open_key_session(&ctx, spec, pin)?;
        Ok(Signer::new(Pkcs11Key {
            spec: spec.clone(),
            ctx,
            public,
            pin: pin.cloned(),
            session: Mutex::new(Some(session)),
            reopened: AtomicU64::new(0),
        }))
    }

    /// Where the key is.
    pub fn spec(&self) -> &Pkcs11KeySpec {
        &self.raw.spec
    }

    /// How many times the session has been re-opened after it was lost.
    pub fn reopened(&self) -> u64 {
        self.raw.reopened.load(Ordering::Relaxed)
    }
}

/// A tough [`KeySource`](tough::key_source::KeySource) for a key on a PKCS#11 token: each
/// `as_sign` opens the token and logs in with the PIN held here (zeroed on drop, never shown).
pub struct Pkcs11KeySource {
    /// Where the key is.
    pub spec: Pkcs11KeySpec,
    pin: Pin,
}

impl Pkcs11KeySource {
    /// A key source for `spec`, logging in with `pin`.
    pub fn new(spec: Pkcs11KeySpec, pin: Pin) -> Self {
        Self { spec, pin }
    }
}

impl fmt::Debug for Pkcs11KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pkcs11KeySource")
            .field("spec", &self.spec)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl tough::key_source::KeySource for Pkcs11KeySource {
    async fn as_sign(&self) -> Result<Box<dyn Sign>, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Box::new(Pkcs11Signer::open(&self.spec, Some(&self.pin))?))
    }

    /// Keys are generated on the token ([`generate`]); they are never written through here.
    async fn write(
        &self,
        _value: &str,
        _key_id_hex: &str,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        Err(Box::new(Pkcs11Error::WriteUnsupported))
    }
}

/// Re-encodes a raw P-256 ECDSA signature `r || s` (64 bytes) as the DER
/// `SEQUENCE { INTEGER r, INTEGER s }` that TUF's `ecdsa-sha2-nistp256` uses.
pub fn raw_ecdsa_to_der(raw: &[u8]) -> Option<Vec<u8>> {
    if raw.len() != 64 {
        return None;
    }
    let (r, s) = raw.split_at(32);
    let int = |v: &[u8]| {
        // Minimal two's-complement encoding of an unsigned integer.
        let start = v.iter().position(|&b| b != 0).unwrap_or(v.len() - 1);
        let v = &v[start..];
        let mut out = vec![0x02];
        if v[0] & 0x80 != 0 {
            out.push(u8::try_from(v.len() + 1).unwrap_or(0));
            out.push(0);
        } else {
            out.push(u8::try_from(v.len()).unwrap_or(0));
        }
        out.extend_from_slice(v);
        out
    };
    let (r, s) = (int(r), int(s));
    let mut der = vec![0x30, u8::try_from(r.len() + s.len()).ok()?];
    der.extend(r);
    der.extend(s);
    Some(der)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_encoding_of_raw_signatures() {
        let mut raw = [0u8; 64];
        raw[31] = 1; // r = 1
        raw[32] = 0x80; // s has its high bit set: needs a leading zero
        let der = raw_ecdsa_to_der(&raw).unwrap();
        assert_eq!(&der[..5], &[0x30, 3 + 35, 0x02, 0x01, 0x01]);
        assert_eq!(&der[5..8], &[0x02, 33, 0x00]);
        assert_eq!(der.len(), 2 + 3 + 35);
        assert!(raw_ecdsa_to_der(&raw[..63]).is_none());
    }

    #[test]
    fn ec_points_are_unwrapped() {
        let mut wrapped = vec![0x04, 65, 0x04];
        wrapped.extend([1u8; 64]);
        assert_eq!(unwrap_ec_point(&wrapped, 65).unwrap().len(), 65);
        assert_eq!(unwrap_ec_point(&wrapped[2..], 65).unwrap().len(), 65);
        let mut ed = vec![0x04, 32];
        ed.extend([2u8; 32]);
        assert_eq!(unwrap_ec_point(&ed, 32).unwrap(), &[2u8; 32]);
        assert!(unwrap_ec_point(&ed[..20], 32).is_none());
    }
}
