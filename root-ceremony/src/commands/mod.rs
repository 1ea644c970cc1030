//! One module per subcommand, each with its arguments (`Args`) and `run`, in the order of
//! `tuf-ceremony --help`; here the arguments several share and what they print alike.

pub mod add_member;
pub mod finalize;
pub mod init;
pub mod keygen;
pub mod pubkey;
pub mod remove_member;
pub mod set_expiry;
pub mod set_online_key;
pub mod set_threshold;
pub mod sign;
pub mod status;
pub mod verify;

use std::path::PathBuf;

use root_ceremony::ceremony::{Ceremony, spoken};
use root_ceremony::error::CeremonyError;
use root_ceremony::keys::TokenArgs;
use root_ceremony::model::{fmt_time, root_keyids};
use tuf_keys::TufPublicKey;

// The ceremony directory of every step that changes it, and who ran the step.
#[derive(Debug, clap::Args)]
pub struct DirArg {
    /// The ceremony directory (on the removable media).
    #[arg(long, value_name = "DIR")]
    pub dir: PathBuf,
    /// Who is at the keyboard, recorded in the transcript.
    #[arg(long, value_name = "NAME")]
    pub operator: Option<String>,
}

// A key on a PKCS#11 token, for the steps that sign with a member's key or make one.
#[derive(Debug, clap::Args)]
pub struct TokenOpts {
    /// PKCS#11 module (e.g. /usr/lib/softhsm/libsofthsm2.so, /usr/lib/x86_64-linux-gnu/libykcs11.so).
    #[arg(long, value_name = "MODULE")]
    pub pkcs11_module: Option<PathBuf>,
    /// The token's label.
    #[arg(long, value_name = "LABEL", conflicts_with = "slot")]
    pub token_label: Option<String>,
    /// The token's slot ID (instead of its label).
    #[arg(long, value_name = "ID")]
    pub slot: Option<u64>,
    /// The key's label (CKA_LABEL) on the token.
    #[arg(long, value_name = "LABEL")]
    pub key_label: Option<String>,
}

impl TokenOpts {
    /// The library's form of these options.
    pub fn args(&self) -> TokenArgs {
        TokenArgs {
            module: self.pkcs11_module.clone(),
            token_label: self.token_label.clone(),
            slot: self.slot,
            key_label: self.key_label.clone(),
        }
    }
}

/// The digest as members read it aloud, and in full.
pub fn print_digest(c: &Ceremony) {
    println!();
    println!("Digest to read aloud: {}", spoken(c.digest()));
    println!("(full SHA-256: {})", c.digest());
}

/// Per role: version, expiry, signatures against each threshold and what changed; then the
/// root members and whether `finalize` may run.
pub fn print_status(c: &Ceremony) -> Result<(), CeremonyError> {
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
        for id in root_keyids(&first.draft.signed) {
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

/// What every step that changes the drafts prints: the status and the new digest.
pub fn print_amended(c: &Ceremony) -> Result<(), CeremonyError> {
    print_status(c)?;
    print_digest(c);
    Ok(())
}

/// A public key's PEM, then its key ID and algorithm.
pub fn print_public(public: &TufPublicKey) {
    print!("{}", public.to_spki_pem());
    println!("key ID: {} ({})", public.key_id_hex(), public.algorithm());
}

/// `(a, b, c)`, or nothing for no key IDs.
fn list(ids: &[String]) -> String {
    if ids.is_empty() {
        String::new()
    } else {
        format!("({})", ids.join(", "))
    }
}
