//! `tuf-ceremony`: the offline root-key ceremony for every TUF role (see `docs/ceremony.md`).

use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use root_ceremony::ceremony::{Ceremony, RoleInit, check_typed_digest, spoken};
use root_ceremony::chain::load_chain;
use root_ceremony::error::CeremonyError;
use root_ceremony::keys::{EnvPin, PIN_ENV, TokenArgs, open_signer, read_member_key};
use root_ceremony::model::{
    DEFAULT_ROLES, RootSpec, check_role_name, expires_in_days, fmt_time, spec_of,
};
use root_ceremony::transcript::{TRANSCRIPT_FILE, verify_transcript};
use tuf_keys::{FileSigner, KeyAlgorithm, TufPublicKey};

/// The offline TUF root-key ceremony: a quorum signs the next root of every role at once.
///
/// Typical first ceremony: `init` (once, by the coordinator), then each member reads the digest
/// aloud and runs `sign`, then `status`, `finalize` and `verify`. Rotations start with
/// `init --previous-roots ROOTS` and may be adjusted with `add-member`, `remove-member`,
/// `set-threshold`, `set-online-key` and `set-expiry` before the first signature.
/// This tool never uses the network. See docs/ceremony.md for the full runbook.
#[derive(Debug, Parser)]
#[command(name = "tuf-ceremony", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Args)]
struct DirArg {
    /// The ceremony directory (on the removable media).
    #[arg(long, value_name = "DIR")]
    dir: PathBuf,
    /// Who is at the keyboard, recorded in the transcript.
    #[arg(long, value_name = "NAME")]
    operator: Option<String>,
}

#[derive(Debug, Args)]
struct TokenOpts {
    /// PKCS#11 module (e.g. /usr/lib/softhsm/libsofthsm2.so, /usr/lib/x86_64-linux-gnu/libykcs11.so).
    #[arg(long, value_name = "MODULE")]
    pkcs11_module: Option<PathBuf>,
    /// The token's label.
    #[arg(long, value_name = "LABEL", conflicts_with = "slot")]
    token_label: Option<String>,
    /// The token's slot ID (instead of its label).
    #[arg(long, value_name = "ID")]
    slot: Option<u64>,
    /// The key's label (CKA_LABEL) on the token.
    #[arg(long, value_name = "LABEL")]
    key_label: Option<String>,
}

impl TokenOpts {
    fn args(&self) -> TokenArgs {
        TokenArgs {
            module: self.pkcs11_module.clone(),
            token_label: self.token_label.clone(),
            slot: self.slot,
            key_label: self.key_label.clone(),
        }
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start a ceremony: write the unsigned drafts of every role's next root and print the digest
    /// members compare aloud.
    ///
    /// A KEY is a PEM file (a public key, e.g. from `tuf-ceremony pubkey` or
    /// `tuf-signer key export --role R`) or a key on a token, `pkcs11:token=LABEL;object=KEYLABEL`
    /// (with --pkcs11-module). With --previous-roots this is a rotation: members, threshold and
    /// online keys default to those of each role's newest root.
    Init {
        #[command(flatten)]
        dir: DirArg,
        /// The roles (each its own repository and root chain).
        #[arg(long, value_delimiter = ',', default_values_t = DEFAULT_ROLES.map(String::from))]
        roles: Vec<String>,
        /// A root member's public key (repeat for each member).
        #[arg(long = "member", value_name = "KEY")]
        members: Vec<String>,
        /// How many members must sign a root.
        #[arg(long)]
        threshold: Option<u64>,
        /// A role's online public key, ROLE=KEY (repeat for each role).
        #[arg(long = "online-key", value_name = "ROLE=KEY")]
        online_keys: Vec<String>,
        /// Days until the new roots expire.
        #[arg(long, default_value_t = 365)]
        expires_days: u64,
        /// The published root chains, ROOTS/ROLE/1.root.json…: makes this a rotation.
        #[arg(long, value_name = "ROOTS")]
        previous_roots: Option<PathBuf>,
        /// Rotate even though the newest previous root has expired.
        #[arg(long)]
        allow_expired_previous: bool,
        /// The new version (must be the previous version plus one; computed when omitted).
        #[arg(long)]
        version: Option<u64>,
        /// PKCS#11 module for `pkcs11:` member keys.
        #[arg(long, value_name = "MODULE")]
        pkcs11_module: Option<PathBuf>,
    },
    /// Rotation: add a root member to every role's draft (before anyone signs).
    AddMember {
        #[command(flatten)]
        dir: DirArg,
        /// The new member's public key (PEM file or pkcs11: URI).
        #[arg(long, value_name = "KEY")]
        member: String,
        /// Also set the threshold.
        #[arg(long)]
        threshold: Option<u64>,
        /// PKCS#11 module for a `pkcs11:` key.
        #[arg(long, value_name = "MODULE")]
        pkcs11_module: Option<PathBuf>,
    },
    /// Rotation: remove a root member from every role's draft (before anyone signs). The removed
    /// member can still sign to meet the previous root's threshold.
    RemoveMember {
        #[command(flatten)]
        dir: DirArg,
        /// The member's key ID (hex).
        #[arg(long, value_name = "KEYID")]
        key_id: String,
        /// Also set the threshold.
        #[arg(long)]
        threshold: Option<u64>,
    },
    /// Rotation: change the root threshold of every role's draft (before anyone signs).
    SetThreshold {
        #[command(flatten)]
        dir: DirArg,
        /// The new threshold.
        #[arg(long)]
        threshold: u64,
    },
    /// Rotation: replace one role's online key, e.g. after a KMS key compromise (before anyone signs).
    SetOnlineKey {
        #[command(flatten)]
        dir: DirArg,
        /// The role.
        #[arg(long)]
        role: String,
        /// The new online public key (PEM, e.g. `tuf-signer key export --role R`).
        #[arg(long, value_name = "KEY")]
        key: String,
    },
    /// Renew: set every draft's expiry to now plus DAYS (before anyone signs).
    SetExpiry {
        #[command(flatten)]
        dir: DirArg,
        /// Days from now.
        #[arg(long)]
        expires_days: u64,
    },
    /// Sign every role's draft with one member's key (a key file or a PKCS#11 token).
    ///
    /// The PIN is read from the terminal, or from TUF_CEREMONY_PIN; never give it as an argument.
    /// Signing again with the same key changes nothing.
    Sign {
        #[command(flatten)]
        dir: DirArg,
        /// The digest read aloud (at least its first 32 hex digits). Asked for when omitted.
        #[arg(long, value_name = "HEX")]
        expect_digest: Option<String>,
        /// A PKCS#8 private key file (mode 0600).
        #[arg(long, value_name = "FILE")]
        key_file: Option<PathBuf>,
        #[command(flatten)]
        token: TokenOpts,
    },
    /// Show, per role, who signed, whether both thresholds are met, what changed, and expiry.
    Status {
        /// The ceremony directory.
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
    },
    /// Write ROOTS/ROLE/N.root.json for every role, only when every threshold is met.
    Finalize {
        #[command(flatten)]
        dir: DirArg,
        /// The root chains directory (ROOTS/ROLE/…); for a rotation, the one given at init.
        #[arg(long, value_name = "ROOTS")]
        roots: PathBuf,
    },
    /// Check every role's chain 1.root.json…N.root.json as a TUF client does, and optionally a
    /// ceremony's transcript.
    Verify {
        /// The root chains directory (ROOTS/ROLE/…).
        #[arg(long, value_name = "ROOTS")]
        roots: PathBuf,
        /// The roles to check (default: every directory in ROOTS).
        #[arg(long, value_delimiter = ',')]
        roles: Vec<String>,
        /// A transcript to check against these roots (a ceremony's transcript.jsonl).
        #[arg(long, value_name = "FILE")]
        transcript: Vec<PathBuf>,
    },
    /// Generate a member key: a PKCS#8 file (mode 0600) or a key pair on a token; prints the
    /// public key PEM to give to the coordinator.
    Keygen {
        /// ed25519 or p256.
        #[arg(long, default_value = "ed25519")]
        algorithm: String,
        /// Write a PKCS#8 key file here (never overwritten).
        #[arg(long, value_name = "FILE")]
        key_file: Option<PathBuf>,
        #[command(flatten)]
        token: TokenOpts,
    },
    /// Print the public key (PEM) and key ID of a key file or token key.
    Pubkey {
        /// A PKCS#8 private key file, or a public key PEM file.
        #[arg(long, value_name = "FILE")]
        key_file: Option<PathBuf>,
        #[command(flatten)]
        token: TokenOpts,
    },
}

fn main() -> ExitCode {
    // First, while this is the only thread: no child process, and nothing reading
    // /proc/PID/environ, may see the PIN after this line.
    let env_pin = take_pin_from_env();
    let cli = Cli::parse();
    let result = env_pin.and_then(|pin| run(cli.command, pin.as_ref()));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Takes the PIN out of the environment: removes [`PIN_ENV`] (so no child process inherits it)
/// and overwrites its bytes in the environment block the kernel set up (which
/// `/proc/PID/environ` shows, and which `remove_var` alone leaves in place). Must run before
/// any other thread exists. A PIN that is not UTF-8 is an error (after it is removed).
#[allow(unsafe_code)]
fn take_pin_from_env() -> Result<Option<EnvPin>, CeremonyError> {
    use std::os::unix::ffi::OsStringExt;
    use zeroize::Zeroize;

    let Some(value) = std::env::var_os(PIN_ENV) else {
        return Ok(None);
    };
    let pin = String::from_utf8(value.into_vec())
        .map(EnvPin::new)
        .map_err(|e| e.into_bytes().zeroize());

    unsafe extern "C" {
        /// The C library's environment: a null-terminated array of `NAME=VALUE` strings.
        static mut environ: *const *mut std::ffi::c_char;
    }
    let prefix = format!("{PIN_ENV}=");
    let mut entries: Vec<(*mut u8, usize)> = Vec::new();
    // SAFETY: main calls this first, before any other thread exists, so nothing else reads or
    // changes the environment meanwhile (the reason `remove_var` is unsafe in edition 2024).
    // `environ` is the C library's null-terminated array of pointers to NUL-terminated strings;
    // it is read by value (no reference to the `static mut`), and each entry is read only up to
    // its NUL. Nothing in this program has called `setenv` or `putenv` yet, so every entry is
    // the kernel's block on the initial stack or the C library's own heap copy: writable.
    unsafe {
        let mut p = environ;
        while !p.is_null() && !(*p).is_null() {
            let entry = std::ffi::CStr::from_ptr(*p);
            if entry.to_bytes().starts_with(prefix.as_bytes()) {
                entries.push(((*p).cast::<u8>(), entry.to_bytes().len()));
            }
            p = p.add(1);
        }
        std::env::remove_var(PIN_ENV);
        // After `remove_var` no array entry points at them any more: overwrite the strings
        // themselves (name and value) where the kernel put them.
        for (start, len) in entries {
            std::slice::from_raw_parts_mut(start, len).zeroize();
        }
    }
    match pin {
        Ok(pin) => Ok(Some(pin)),
        Err(()) => Err(CeremonyError::Usage(format!(
            "{PIN_ENV} is not valid UTF-8"
        ))),
    }
}

fn print_digest(c: &Ceremony) {
    println!();
    println!("Digest to read aloud: {}", spoken(c.digest()));
    println!("(full SHA-256: {})", c.digest());
}

fn run(command: Command, env_pin: Option<&EnvPin>) -> Result<(), CeremonyError> {
    match command {
        Command::Init {
            dir,
            roles,
            members,
            threshold,
            online_keys,
            expires_days,
            previous_roots,
            allow_expired_previous,
            version,
            pkcs11_module,
        } => {
            let expires = expires_in_days(expires_days)?;
            let module = pkcs11_module.as_deref();
            let member_keys = members
                .iter()
                .map(|m| read_member_key(m, module))
                .collect::<Result<Vec<_>, _>>()?;
            let mut online: BTreeMap<String, TufPublicKey> = BTreeMap::new();
            for o in &online_keys {
                let (role, key) = o.split_once('=').ok_or_else(|| {
                    CeremonyError::Usage(format!("--online-key {o}: write ROLE=KEYFILE"))
                })?;
                if !roles.iter().any(|r| r == role) {
                    return Err(CeremonyError::Usage(format!(
                        "--online-key {o}: {role} is not one of the roles ({})",
                        roles.join(", ")
                    )));
                }
                online.insert(role.to_owned(), read_member_key(key, module)?);
            }
            let now = jiff::Timestamp::now();
            let mut inits = BTreeMap::new();
            for role in &roles {
                check_role_name(role)?;
                let previous = match &previous_roots {
                    Some(roots) => {
                        let d = roots.join(role);
                        let chain = load_chain(role, &d, None)?;
                        let Some(last) = chain.last() else {
                            return Err(CeremonyError::Usage(format!(
                                "{} holds no roots for role {role}; a rotation needs each role's chain",
                                d.display()
                            )));
                        };
                        if last.root.signed.expires <= now && !allow_expired_previous {
                            return Err(CeremonyError::ExpiredPrevious {
                                role: role.clone(),
                                version: last.root.signed.version.get(),
                                expires: fmt_time(last.root.signed.expires),
                                dir: d,
                            });
                        }
                        Some(chain)
                    }
                    None => None,
                };
                let base = previous
                    .as_ref()
                    .and_then(|c| c.last())
                    .map(|l| spec_of(&l.root.signed))
                    .transpose()
                    .map_err(CeremonyError::Usage)?;
                let prev_version = base.as_ref().map_or(0, |b| b.version);
                let new_version = version.unwrap_or(prev_version + 1);
                if new_version != prev_version + 1 {
                    return Err(CeremonyError::VersionSkip {
                        role: role.clone(),
                        version: new_version,
                        previous: prev_version,
                    });
                }
                let members = if !member_keys.is_empty() {
                    member_keys.clone()
                } else if let Some(b) = &base {
                    b.members.clone()
                } else {
                    return Err(CeremonyError::Usage(
                        "a first ceremony needs the root members: --member KEY for each".into(),
                    ));
                };
                let threshold = match (threshold, &base) {
                    (Some(t), _) => t,
                    (None, Some(b)) => b.threshold,
                    (None, None) => {
                        return Err(CeremonyError::Usage(
                            "a first ceremony needs --threshold".into(),
                        ));
                    }
                };
                let online_key = match (online.get(role), &base) {
                    (Some(k), _) => k.clone(),
                    (None, Some(b)) => b.online.clone(),
                    (None, None) => {
                        return Err(CeremonyError::Usage(format!(
                            "no online key for role {role}: add --online-key {role}=FILE \
                             (from `tuf-signer key export --role {role}`)"
                        )));
                    }
                };
                inits.insert(
                    role.clone(),
                    RoleInit {
                        previous,
                        spec: RootSpec {
                            members,
                            threshold,
                            online: online_key,
                            version: new_version,
                            expires,
                        },
                    },
                );
            }
            let c = Ceremony::create(&dir.dir, inits, dir.operator.as_deref())?;
            print_status(&c)?;
            print_digest(&c);
            Ok(())
        }
        Command::AddMember {
            dir,
            member,
            threshold,
            pkcs11_module,
        } => {
            let key = read_member_key(&member, pkcs11_module.as_deref())?;
            let mut c = Ceremony::load(&dir.dir)?;
            let id = key.key_id_hex();
            let mut detail = vec![format!("added root member {id}")];
            if let Some(t) = threshold {
                detail.push(format!("threshold {t}"));
            }
            c.amend("add-member", dir.operator.as_deref(), detail, |_, spec| {
                // The same key may be written another way in the draft (carried over from a
                // previous root), under another key ID.
                if let Some(m) = spec.members.iter().find(|m| m.is_same_key(&key)) {
                    return Err(CeremonyError::Usage(if m.key_id() == key.key_id() {
                        format!("{id} is a member already")
                    } else {
                        format!(
                            "{id} is a member already, written another way as {}",
                            m.key_id_hex()
                        )
                    }));
                }
                spec.members.push(key.clone());
                if let Some(t) = threshold {
                    spec.threshold = t;
                }
                Ok(())
            })?;
            print_status(&c)?;
            print_digest(&c);
            Ok(())
        }
        Command::RemoveMember {
            dir,
            key_id,
            threshold,
        } => {
            let mut c = Ceremony::load(&dir.dir)?;
            let id = key_id.trim().to_ascii_lowercase();
            let mut detail = vec![format!("removed root member {id}")];
            if let Some(t) = threshold {
                detail.push(format!("threshold {t}"));
            }
            c.amend(
                "remove-member",
                dir.operator.as_deref(),
                detail,
                |_, spec| {
                    let before = spec.members.len();
                    spec.members.retain(|m| m.key_id_hex() != id);
                    if spec.members.len() == before {
                        return Err(CeremonyError::Usage(format!(
                            "{id} is not a member (see `tuf-ceremony status`)"
                        )));
                    }
                    if let Some(t) = threshold {
                        spec.threshold = t;
                    }
                    Ok(())
                },
            )?;
            print_status(&c)?;
            print_digest(&c);
            Ok(())
        }
        Command::SetThreshold { dir, threshold } => {
            let mut c = Ceremony::load(&dir.dir)?;
            c.amend(
                "set-threshold",
                dir.operator.as_deref(),
                vec![format!("root threshold {threshold}")],
                |_, spec| {
                    spec.threshold = threshold;
                    Ok(())
                },
            )?;
            print_status(&c)?;
            print_digest(&c);
            Ok(())
        }
        Command::SetOnlineKey { dir, role, key } => {
            let key = read_member_key(&key, None)?;
            let mut c = Ceremony::load(&dir.dir)?;
            if !c.file.roles.contains_key(&role) {
                return Err(CeremonyError::Usage(format!(
                    "{role} is not a role of this ceremony"
                )));
            }
            c.amend(
                "set-online-key",
                dir.operator.as_deref(),
                vec![format!("{role}: online key {}", key.key_id_hex())],
                |name, spec| {
                    if name == role {
                        spec.online = key.clone();
                    }
                    Ok(())
                },
            )?;
            print_status(&c)?;
            print_digest(&c);
            Ok(())
        }
        Command::SetExpiry { dir, expires_days } => {
            let expires = expires_in_days(expires_days)?;
            let mut c = Ceremony::load(&dir.dir)?;
            c.amend(
                "set-expiry",
                dir.operator.as_deref(),
                vec![format!("expires {}", fmt_time(expires))],
                |_, spec| {
                    spec.expires = expires;
                    Ok(())
                },
            )?;
            print_status(&c)?;
            print_digest(&c);
            Ok(())
        }
        Command::Sign {
            dir,
            expect_digest,
            key_file,
            token,
        } => {
            let mut c = Ceremony::load(&dir.dir)?;
            let typed = match expect_digest {
                Some(d) => d,
                None => ask_digest(&c)?,
            };
            check_typed_digest(&typed, c.digest())?;
            // A token key is checked for membership before its PIN is asked for, so a wrong
            // token never costs a PIN attempt.
            if let Some(spec) = token.args().spec()? {
                match tuf_keys::pkcs11::read_public_key_only(&spec) {
                    Ok(public) => c.check_member(&public)?,
                    // Visible only after login on some tokens; checked again after signing in.
                    Err(tuf_keys::pkcs11::Pkcs11Error::KeyNotFound { .. }) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            let signer = open_signer(key_file.as_deref(), &token.args(), env_pin)?;
            let id = signer.public_key().key_id_hex();
            let n = c.sign(&signer, dir.operator.as_deref())?;
            if n == 0 {
                println!("Key {id} had signed every draft already; nothing changed.");
            } else {
                println!("Key {id} signed {n} draft(s).");
            }
            print_status(&c)
        }
        Command::Status { dir } => {
            let c = Ceremony::load(&dir)?;
            print_status(&c)?;
            match verify_transcript(&dir.join(TRANSCRIPT_FILE), Some(&c.file_sha256), None) {
                Ok(t) => println!(
                    "Transcript: {} recorded steps, consistent.",
                    t.entries.len()
                ),
                Err(e) => println!("Transcript: BROKEN: {e}"),
            }
            print_digest(&c);
            Ok(())
        }
        Command::Finalize { dir, roots } => {
            let c = Ceremony::load(&dir.dir)?;
            let written = c.finalize(&roots, dir.operator.as_deref())?;
            for p in &written {
                println!("wrote {}", p.display());
            }
            println!(
                "Keep {} with the published roots; check them with `tuf-ceremony verify --roots {} --transcript {}`.",
                dir.dir.join(TRANSCRIPT_FILE).display(),
                roots.display(),
                dir.dir.join(TRANSCRIPT_FILE).display()
            );
            Ok(())
        }
        Command::Verify {
            roots,
            roles,
            transcript,
        } => verify(&roots, roles, &transcript),
        Command::Keygen {
            algorithm,
            key_file,
            token,
        } => {
            let algorithm: KeyAlgorithm = algorithm
                .parse()
                .map_err(|e: tuf_keys::PublicKeyError| CeremonyError::Usage(e.to_string()))?;
            let public = match (key_file, token.args().spec()?) {
                (Some(path), None) => FileSigner::generate(&path, algorithm)?.public_key().clone(),
                (None, Some(spec)) => {
                    let pin = root_ceremony::keys::read_pin(&spec.to_string(), env_pin)?;
                    tuf_keys::pkcs11::generate(&spec, algorithm, Some(&pin))?
                }
                _ => {
                    return Err(CeremonyError::Usage(
                        "give either --key-file FILE or --pkcs11-module with --token-label \
                         (or --slot) and --key-label"
                            .into(),
                    ));
                }
            };
            print_public(&public);
            Ok(())
        }
        Command::Pubkey { key_file, token } => {
            let public = match (key_file, token.args().spec()?) {
                (Some(path), None) => root_ceremony::keys::read_public_key_file(&path)?,
                (None, Some(spec)) => tuf_keys::pkcs11::read_public_key_only(&spec)?,
                _ => {
                    return Err(CeremonyError::Usage(
                        "give either --key-file FILE or --pkcs11-module with --token-label \
                         (or --slot) and --key-label"
                            .into(),
                    ));
                }
            };
            print_public(&public);
            Ok(())
        }
    }
}

fn print_public(public: &TufPublicKey) {
    print!("{}", public.to_spki_pem());
    println!("key ID: {} ({})", public.key_id_hex(), public.algorithm());
}

/// Asks the member to type the digest read aloud.
fn ask_digest(c: &Ceremony) -> Result<String, CeremonyError> {
    if !std::io::stdin().is_terminal() {
        return Err(CeremonyError::Usage(
            "give --expect-digest with the digest read aloud (no terminal to ask on)".into(),
        ));
    }
    print_status(c)?;
    print!("Type the digest read aloud (8 groups of 4 hex digits): ");
    std::io::stdout()
        .flush()
        .map_err(CeremonyError::io("write", Path::new("stdout")))?;
    let mut line = String::new();
    // A digest is 32-64 hex digits and spaces: a line longer than this is not one.
    std::io::stdin()
        .lock()
        .take(1024)
        .read_line(&mut line)
        .map_err(CeremonyError::io("read", Path::new("stdin")))?;
    Ok(line)
}

fn print_status(c: &Ceremony) -> Result<(), CeremonyError> {
    let mut all = true;
    for s in c.status()? {
        let complete = s.complete();
        all &= complete;
        println!(
            "{} version {} (expires {}): {}",
            s.role,
            s.version,
            fmt_time(s.expires),
            if complete {
                "READY"
            } else {
                "needs signatures"
            }
        );
        println!(
            "  new root:      {} of {} signed {}",
            s.new_signers.len(),
            s.new_threshold,
            list(&s.new_signers)
        );
        if let Some((signers, t)) = &s.old {
            println!(
                "  previous root: {} of {} signed {}",
                signers.len(),
                t,
                list(signers)
            );
        }
        for change in &s.changes {
            println!("  {change}");
        }
    }
    if let Some(first) = c.file.roles.values().next() {
        println!("Root members (key IDs):");
        for id in root_ceremony::model::root_keyids(&first.draft.signed) {
            println!("  {id}");
        }
    }
    println!(
        "{}",
        if all {
            "Every threshold is met: run `tuf-ceremony finalize`."
        } else {
            "Not every threshold is met yet."
        }
    );
    Ok(())
}

fn list(ids: &[String]) -> String {
    if ids.is_empty() {
        String::new()
    } else {
        format!("({})", ids.join(", "))
    }
}

fn verify(roots: &Path, roles: Vec<String>, transcripts: &[PathBuf]) -> Result<(), CeremonyError> {
    let roles = if roles.is_empty() {
        let mut found = Vec::new();
        let entries = std::fs::read_dir(roots).map_err(CeremonyError::io("list", roots))?;
        for e in entries {
            let e = e.map_err(CeremonyError::io("list", roots))?;
            if e.path().is_dir()
                && let Some(n) = e.file_name().to_str()
                && !n.starts_with('.')
            {
                found.push(n.to_owned());
            }
        }
        found.sort();
        found
    } else {
        roles
    };
    if roles.is_empty() {
        return Err(CeremonyError::VerifyFailed(format!(
            "{} holds no role directories",
            roots.display()
        )));
    }
    let now = jiff::Timestamp::now();
    let mut failures = Vec::new();
    let mut quorum: Option<(Vec<String>, u64)> = None;
    for role in &roles {
        match load_chain(role, &roots.join(role), Some(now)) {
            Ok(chain) => match chain.last() {
                None => failures.push(format!("{role}: no roots")),
                Some(last) => {
                    let r = &last.root.signed;
                    let mut ids = root_ceremony::model::root_keyids(r);
                    ids.sort();
                    let t = r
                        .roles
                        .get(&tough::schema::RoleType::Root)
                        .map_or(0, |k| k.threshold.get());
                    match &quorum {
                        None => quorum = Some((ids, t)),
                        Some(q) if *q == (ids.clone(), t) => {}
                        Some(_) => failures.push(format!(
                            "{role}: its root quorum differs from the other roles' (D1: one quorum for all)"
                        )),
                    }
                    println!(
                        "{role}: OK, versions 1..{} verify as a client would; expires {}",
                        chain.version(),
                        fmt_time(r.expires)
                    );
                }
            },
            Err(e) => {
                println!("{role}: BROKEN: {e}");
                failures.push(e.to_string());
            }
        }
    }
    for t in transcripts {
        match verify_transcript(t, None, Some(roots)) {
            Ok(s) => println!(
                "transcript {}: OK, {} steps, finalized roots match",
                t.display(),
                s.entries.len()
            ),
            Err(e) => {
                println!("transcript {}: BROKEN: {e}", t.display());
                failures.push(e.to_string());
            }
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(CeremonyError::VerifyFailed(failures.join("; ")))
    }
}
