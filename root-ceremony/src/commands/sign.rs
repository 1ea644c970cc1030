//! `tuf-ceremony sign`: check the digest the member was read, then sign every draft with the
//! member's key file or token ([`Ceremony::sign`]).

use std::io::{BufRead, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

use root_ceremony::Ceremony;
use root_ceremony::ceremony::check_typed_digest;
use root_ceremony::error::CeremonyError;
use root_ceremony::keys::{EnvPin, open_signer};

use super::{DirArg, TokenOpts, print_status};

#[derive(Debug, clap::Args)]
pub struct Args {
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
}

pub fn run(args: Args, env_pin: Option<&EnvPin>) -> Result<(), CeremonyError> {
    let mut c = Ceremony::load(&args.dir.dir)?;
    let typed = match args.expect_digest {
        Some(d) => d,
        None => ask_digest(&c)?,
    };
    check_typed_digest(&typed, c.digest())?;
    let token = args.token.args();
    if let Some(spec) = token.spec()? {
        c.check_token_key(&spec)?;
    }
    let signer = open_signer(args.key_file.as_deref(), &token, env_pin)?;
    let id = signer.public_key().key_id_hex();
    let n = c.sign(&signer, args.dir.operator.as_deref())?;
    if n == 0 {
        println!("Key {id} had signed every draft already; nothing changed.");
    } else {
        println!("Key {id} signed {n} draft(s).");
    }
    print_status(&c)
}

/// Asks the member to type the digest read aloud, after showing what they are about to sign.
fn ask_digest(c: &Ceremony) -> Result<String, CeremonyError> {
    if !std::io::stdin().is_terminal() {
        return Err(CeremonyError::NoTerminal);
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
