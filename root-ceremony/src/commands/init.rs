//! `tuf-ceremony init`: read the keys named on the command line, then start the ceremony
//! ([`InitRequest::create`]).

use std::collections::BTreeMap;
use std::path::PathBuf;

use root_ceremony::error::CeremonyError;
use root_ceremony::init::InitRequest;
use root_ceremony::keys::read_member_key;
use root_ceremony::model::{DEFAULT_ROLES, expires_in_days};

use super::{DirArg, print_amended};

#[derive(Debug, clap::Args)]
pub struct Args {
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
}

pub fn run(args: Args) -> Result<(), CeremonyError> {
    let expires = expires_in_days(args.expires_days)?;
    let module = args.pkcs11_module.as_deref();
    let members = args
        .members
        .iter()
        .map(|m| read_member_key(m, module))
        .collect::<Result<Vec<_>, _>>()?;
    // Each `--online-key` is checked before its key is read, so a typo in the role is named
    // as such and not as a problem with the key.
    let mut online_keys = BTreeMap::new();
    for arg in &args.online_keys {
        let (role, key) = arg
            .split_once('=')
            .ok_or_else(|| CeremonyError::OnlineKeySyntax(arg.clone()))?;
        if !args.roles.iter().any(|r| r == role) {
            return Err(CeremonyError::OnlineKeyForOtherRole {
                arg: arg.clone(),
                role: role.to_owned(),
                roles: args.roles.clone(),
            });
        }
        online_keys.insert(role.to_owned(), read_member_key(key, module)?);
    }
    let request = InitRequest {
        roles: args.roles,
        members,
        threshold: args.threshold,
        online_keys,
        expires,
        previous_roots: args.previous_roots,
        allow_expired_previous: args.allow_expired_previous,
        version: args.version,
    };
    let c = request.create(&args.dir.dir, args.dir.operator.as_deref())?;
    print_amended(&c)
}
