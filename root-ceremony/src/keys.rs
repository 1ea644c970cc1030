//! Member and online public keys, and the signers members sign with: PKCS#8 key files and
//! PKCS#11 tokens (through `tuf_keys`).
//!
//! Security properties: the PIN comes from the `TUF_CEREMONY_PIN` environment variable or a
//! prompt on the terminal, never from the command line (where `ps` and shell history see it);
//! the binary takes it out of its environment at the very start of `main` (so no child process
//! inherits it and `/proc/PID/environ` no longer shows it) and hands it down as an [`EnvPin`];
//! it is held in zeroing memory ([`EnvPin`], [`Pin`]) and never printed. Key files are read
//! with a size limit ([`crate::files::MAX_PUBLIC_KEY_FILE`], [`tuf_keys::MAX_KEY_FILE_LEN`]).

use std::path::{Path, PathBuf};

use tuf_keys::pkcs11::{Pin, Pkcs11KeySpec, Pkcs11Signer, TokenSelector};
use tuf_keys::{FileSigner, TufPublicKey};
use zeroize::Zeroizing;

use crate::error::CeremonyError;
use crate::files::{MAX_PUBLIC_KEY_FILE, read_limited};

/// The environment variable a PIN may come from (for scripted use; the runbook uses the prompt).
pub const PIN_ENV: &str = "TUF_CEREMONY_PIN";

/// A PIN taken from [`PIN_ENV`] when the process started, zeroed when dropped.
pub type EnvPin = Zeroizing<String>;

/// Reads a public key: a file with exactly one PEM `PUBLIC KEY` block (other text around it,
/// such as the key ID lines `tuf-signer key export` prints, is ignored), a DER
/// SubjectPublicKeyInfo (what AWS KMS `GetPublicKey` returns), or a PKCS#8 `PRIVATE KEY` file
/// (whose public half is taken; the file must then be mode 0600).
pub fn read_public_key_file(path: &Path) -> Result<TufPublicKey, CeremonyError> {
    let bad = |reason: String| CeremonyError::BadPublicKey {
        path: path.display().to_string(),
        reason,
    };
    let text = read_limited(path, MAX_PUBLIC_KEY_FILE, "a public key file")?;
    // Zeroed on drop: the file may be a private key, whose public half is taken below.
    let text = match String::from_utf8(text) {
        Ok(t) => Zeroizing::new(t),
        // Binary: a DER SubjectPublicKeyInfo (e.g. AWS KMS `GetPublicKey`, base64-decoded).
        Err(e) => {
            return TufPublicKey::from_spki_der(e.as_bytes()).map_err(|e| {
                bad(format!(
                    "neither PEM text nor a DER Ed25519/P-256 SubjectPublicKeyInfo: {e}"
                ))
            });
        }
    };
    if text.contains("PRIVATE KEY-----") {
        return Ok(FileSigner::load(path)?.public_key().clone());
    }
    // Only the PEM blocks: `tuf-signer key export` prints a key ID line and JSON after it.
    let blocks = pem_blocks(&text);
    if blocks.is_empty() {
        return Err(bad(
            "no PEM \"PUBLIC KEY\" block found; export it with `tuf-ceremony pubkey …`, \
             `tuf-signer key export --role R` or `openssl pkey -pubout`"
                .into(),
        ));
    }
    if blocks.len() > 1 {
        return Err(bad(format!(
            "{} PEM blocks found; give one key per file",
            blocks.len()
        )));
    }
    TufPublicKey::from_spki_pem(&blocks[0]).map_err(|e| bad(e.to_string()))
}

/// The `-----BEGIN …----- … -----END …-----` blocks of `text`.
fn pem_blocks(text: &str) -> Vec<String> {
    // A block starts and ends on lines of their own, so a PEM key quoted inside JSON (as
    // `tuf-signer key export` prints after the block, with `\n` escapes) is not a second block.
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines().map(str::trim) {
        if line.starts_with("-----BEGIN ") && line.ends_with("-----") {
            current = Some(String::new());
        }
        if let Some(block) = current.as_mut() {
            block.push_str(line);
            block.push('\n');
            if line.starts_with("-----END ") && line.ends_with("-----") {
                out.extend(current.take());
            }
        }
    }
    // An unterminated block is still reported, so that the parser can say what is wrong.
    out.extend(current);
    out
}

/// Where a member's key is, for `init --member` and `add-member`: a PEM file, or a key on a
/// PKCS#11 token written as an RFC 7512 URI subset, `pkcs11:token=LABEL;object=KEYLABEL` or
/// `pkcs11:slot-id=N;object=KEYLABEL` (with `--pkcs11-module`).
pub fn read_member_key(spec: &str, module: Option<&Path>) -> Result<TufPublicKey, CeremonyError> {
    if let Some(uri) = spec.strip_prefix("pkcs11:") {
        let module = module.ok_or_else(|| CeremonyError::Pkcs11NeedsModule {
            spec: spec.to_owned(),
        })?;
        let key = parse_pkcs11_uri(uri, module)?;
        Ok(tuf_keys::pkcs11::read_public_key_only(&key)?)
    } else {
        read_public_key_file(Path::new(spec))
    }
}

fn parse_pkcs11_uri(uri: &str, module: &Path) -> Result<Pkcs11KeySpec, CeremonyError> {
    let usage = |m: &str| CeremonyError::BadPkcs11Uri {
        uri: uri.to_owned(),
        problem: m.to_owned(),
    };
    let (mut token, mut object) = (None, None);
    for part in uri.split(';') {
        let (k, v) = part
            .split_once('=')
            .ok_or_else(|| usage("malformed attribute"))?;
        let v = percent_decode(v).ok_or_else(|| usage("malformed %-escape"))?;
        match k {
            "token" => token = Some(TokenSelector::Label(v)),
            "slot-id" => {
                token = Some(TokenSelector::Slot(
                    v.parse().map_err(|_| usage("slot-id is not a number"))?,
                ))
            }
            "object" => object = Some(v),
            _ => return Err(usage(&format!("unsupported attribute {k:?}"))),
        }
    }
    Ok(Pkcs11KeySpec {
        module: module.to_owned(),
        token: token.ok_or_else(|| usage("no token= or slot-id="))?,
        key_label: object.ok_or_else(|| usage("no object="))?,
    })
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The PIN: `from_env` (taken from [`PIN_ENV`] at start) if given, otherwise read from a
/// prompt on the terminal (not echoed).
pub fn read_pin(what: &str, from_env: Option<&EnvPin>) -> Result<Pin, CeremonyError> {
    if let Some(pin) = from_env {
        eprintln!("Using the PIN from {PIN_ENV} (meant for automated tests; a ceremony types it).");
        // `clone` allocates exactly the PIN's length, so moving it into the zeroing `Pin` does
        // not reallocate and leave a copy behind.
        return Ok(Pin::from(String::clone(pin)));
    }
    rpassword::prompt_password(format!("PIN for {what}: "))
        .map(Pin::from)
        .map_err(|source| CeremonyError::PinPrompt {
            env: PIN_ENV,
            source,
        })
}

/// A member's signing key.
#[derive(Debug)]
#[non_exhaustive]
pub enum MemberSigner {
    /// A PKCS#8 key file.
    File(Box<FileSigner>),
    /// A key on a PKCS#11 token.
    Pkcs11(Box<Pkcs11Signer>),
}

impl MemberSigner {
    /// The TUF public key.
    pub fn public_key(&self) -> &TufPublicKey {
        match self {
            MemberSigner::File(s) => s.public_key(),
            MemberSigner::Pkcs11(s) => s.public_key(),
        }
    }

    /// Signs `message` (checked against the public key before it is returned).
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, CeremonyError> {
        match self {
            MemberSigner::File(s) => Ok(s.sign_message_blocking(message)?),
            MemberSigner::Pkcs11(s) => Ok(s.sign_message_blocking(message)?),
        }
    }

    /// A short description for the transcript ("key file alice.pem", "PKCS#11 key …").
    pub fn describe(&self) -> String {
        match self {
            MemberSigner::File(s) => format!("key file {}", s.path().display()),
            MemberSigner::Pkcs11(s) => format!("PKCS#11 {}", s.spec()),
        }
    }
}

/// How the command line names a key on a token.
#[derive(Debug, Clone, Default)]
pub struct TokenArgs {
    /// The module.
    pub module: Option<PathBuf>,
    /// The token label.
    pub token_label: Option<String>,
    /// The slot.
    pub slot: Option<u64>,
    /// The key label.
    pub key_label: Option<String>,
}

impl TokenArgs {
    /// The key spec, or `None` if no module was given.
    pub fn spec(&self) -> Result<Option<Pkcs11KeySpec>, CeremonyError> {
        let Some(module) = &self.module else {
            if self.token_label.is_some() || self.slot.is_some() || self.key_label.is_some() {
                return Err(CeremonyError::TokenArgsWithoutModule);
            }
            return Ok(None);
        };
        let token = match (&self.token_label, self.slot) {
            (Some(l), None) => TokenSelector::Label(l.clone()),
            (None, Some(s)) => TokenSelector::Slot(s),
            _ => {
                return Err(CeremonyError::TokenSelection);
            }
        };
        let key_label = self
            .key_label
            .clone()
            .ok_or(CeremonyError::MissingKeyLabel)?;
        Ok(Some(Pkcs11KeySpec {
            module: module.clone(),
            token,
            key_label,
        }))
    }
}

/// Opens the member's signer: a key file, or a token (with `env_pin`, or asking for its PIN).
pub fn open_signer(
    key_file: Option<&Path>,
    token: &TokenArgs,
    env_pin: Option<&EnvPin>,
) -> Result<MemberSigner, CeremonyError> {
    match (key_file, token.spec()?) {
        (Some(path), None) => Ok(MemberSigner::File(Box::new(FileSigner::load(path)?))),
        (None, Some(spec)) => {
            // Find the token and key before asking for the PIN, so a missing token fails at
            // once. (Some tokens show key objects only after login: then the key is looked for
            // again after it.)
            match tuf_keys::pkcs11::read_public_key_only(&spec) {
                Ok(_) | Err(tuf_keys::pkcs11::Pkcs11Error::KeyNotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
            let pin = read_pin(&spec.to_string(), env_pin)?;
            Ok(MemberSigner::Pkcs11(Box::new(Pkcs11Signer::open(
                &spec,
                Some(&pin),
            )?)))
        }
        (Some(_), Some(_)) => Err(CeremonyError::KeyFileAndToken),
        (None, None) => Err(CeremonyError::NoSigningKey),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkcs11_uris_parse() {
        let s = parse_pkcs11_uri("token=alice%20x;object=root", Path::new("/m.so")).unwrap();
        assert_eq!(s.token, TokenSelector::Label("alice x".into()));
        assert_eq!(s.key_label, "root");
        let s = parse_pkcs11_uri("slot-id=7;object=root", Path::new("/m.so")).unwrap();
        assert_eq!(s.token, TokenSelector::Slot(7));
        assert!(parse_pkcs11_uri("object=root", Path::new("/m.so")).is_err());
        assert!(parse_pkcs11_uri("token=a;pin-value=1;object=r", Path::new("/m.so")).is_err());
    }

    #[test]
    fn pem_blocks_ignore_surrounding_text() {
        let text =
            "key ID: ab\n-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n{\"x\": 1}\n";
        let blocks = pem_blocks(text);
        assert_eq!(blocks.len(), 1);
        assert!(blocks[0].ends_with("-----END PUBLIC KEY-----\n"));
    }

    #[test]
    fn pem_blocks_skip_a_key_quoted_in_json() {
        // What `tuf-signer key export` prints: the PEM block, the key ID, the TUF key object
        // whose `public` value is the same PEM as a JSON string.
        let text = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\nkey ID: ab\n{\n  \"ab\": {\n    \"keyval\": {\n      \"public\": \"-----BEGIN PUBLIC KEY-----\\nAAAA\\n-----END PUBLIC KEY-----\"\n    }\n  }\n}\n";
        assert_eq!(
            pem_blocks(text),
            vec!["-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n".to_owned()]
        );
    }
}
