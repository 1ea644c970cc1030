//! Hostile ceremony media and environments (issue 8): symlinks planted where the tool writes,
//! oversized files where it reads, one member key written two ways, and the PIN left in the
//! process environment.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;
use root_ceremony::Ceremony;
use root_ceremony::keys::MemberSigner;
use root_ceremony::model::{RootSpec, build_root, canonical, expires_in_days, root_file_bytes};
use tough::schema::key::Key;
use tough::schema::{Root, Signed};
use tuf_keys::{FileSigner, TufPublicKey};

/// Three members (m0 Ed25519, m1 and m2 P-256) and an online key per role, as key files.
struct Keys {
    _t: tempfile::TempDir,
    w: PathBuf,
    members: Vec<(PathBuf, PathBuf)>,
    online: Vec<(String, PathBuf)>,
}

fn keys() -> Keys {
    let t = tempfile::tempdir().unwrap();
    let w = t.path().to_owned();
    let members = ["ed25519", "p256", "p256"]
        .iter()
        .enumerate()
        .map(|(i, a)| file_key(&w, &format!("m{i}"), a))
        .collect();
    let online = ROLES
        .iter()
        .map(|r| {
            let (_, public) = file_key(&w, &format!("online-{r}"), "ed25519");
            (r.to_string(), public)
        })
        .collect();
    Keys {
        _t: t,
        w,
        members,
        online,
    }
}

impl Keys {
    /// `init` of a first ceremony of every role, threshold 2.
    fn init(&self, dir: &Path) {
        let mut c = tool();
        c.args(["init", "--threshold", "2", "--dir"]).arg(dir);
        for (_, p) in &self.members {
            c.arg("--member").arg(p);
        }
        for (r, p) in &self.online {
            c.arg("--online-key").arg(format!("{r}={}", p.display()));
        }
        assert_ok(&c.output().unwrap(), "init");
    }

    fn signer(&self, i: usize) -> FileSigner {
        FileSigner::load(&self.members[i].0).unwrap()
    }

    fn public(&self, i: usize) -> TufPublicKey {
        self.signer(i).public_key().clone()
    }

    fn online_key(&self, role: &str) -> TufPublicKey {
        let (_, p) = self.online.iter().find(|(r, _)| r == role).unwrap();
        root_ceremony::keys::read_public_key_file(p).unwrap()
    }
}

fn victim(dir: &Path, name: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, b"precious, must not change\n").unwrap();
    p
}

fn assert_untouched(victims: &[PathBuf]) {
    for v in victims {
        assert_eq!(
            std::fs::read_to_string(v).unwrap(),
            "precious, must not change\n",
            "{} was written through a symlink",
            v.display()
        );
    }
}

#[test]
fn symlinks_planted_on_the_media_are_never_written_through() {
    let k = keys();
    let outside = k.w.join("outside");
    std::fs::create_dir(&outside).unwrap();
    let dir = k.w.join("ceremony");
    k.init(&dir);

    // The temporary names the tool used to write with: `.ceremony.json.tmp-PID` (this test
    // drives the library, so PID is this process's) and `.finalize-PID.tmp` in each role's
    // output directory.
    let pid = std::process::id();
    let mut victims = vec![victim(&outside, "ceremony-victim")];
    std::os::unix::fs::symlink(&victims[0], dir.join(format!(".ceremony.json.tmp-{pid}"))).unwrap();
    let roots = k.w.join("roots");
    for role in ROLES {
        let d = roots.join(role);
        std::fs::create_dir_all(&d).unwrap();
        let v = victim(&outside, &format!("finalize-victim-{role}"));
        std::os::unix::fs::symlink(&v, d.join(format!(".finalize-{pid}.tmp"))).unwrap();
        victims.push(v);
    }

    let mut c = Ceremony::load(&dir).unwrap();
    c.amend(
        "set-expiry",
        Some("test"),
        vec!["expires".into()],
        |_, spec| {
            spec.expires = expires_in_days(300).unwrap();
            Ok(())
        },
    )
    .unwrap();
    assert_untouched(&victims[..1]);
    for i in 0..2 {
        let signer = MemberSigner::File(Box::new(k.signer(i)));
        assert_eq!(c.sign(&signer, Some("test")).unwrap(), ROLES.len());
    }
    assert!(
        std::fs::symlink_metadata(dir.join("ceremony.json"))
            .unwrap()
            .is_file()
    );
    let written = Ceremony::load(&dir)
        .unwrap()
        .finalize(&roots, Some("test"))
        .unwrap();
    assert_eq!(written.len(), ROLES.len());
    assert_untouched(&victims);
    for p in &written {
        assert!(
            std::fs::symlink_metadata(p).unwrap().is_file(),
            "{}",
            p.display()
        );
    }
    let out = tool()
        .args(["verify", "--roots"])
        .arg(&roots)
        .arg("--transcript")
        .arg(dir.join("transcript.jsonl"))
        .output()
        .unwrap();
    assert_ok(&out, "verify");
}

#[test]
fn a_symlinked_transcript_is_refused_before_anything_is_written() {
    let k = keys();
    let dir = k.w.join("ceremony");
    k.init(&dir);
    let outside = victim(&k.w, "transcript-victim");
    let transcript = dir.join("transcript.jsonl");
    std::fs::copy(&transcript, &outside).unwrap();
    let before = std::fs::read(&outside).unwrap();
    std::fs::remove_file(&transcript).unwrap();
    std::os::unix::fs::symlink(&outside, &transcript).unwrap();
    let ceremony = std::fs::read(dir.join("ceremony.json")).unwrap();

    let out = sign_file(&dir, &k.members[0].0);
    assert_fails(&out, "transcript.jsonl");
    assert_eq!(
        std::fs::read(&outside).unwrap(),
        before,
        "appended through the symlink"
    );
    assert_eq!(std::fs::read(dir.join("ceremony.json")).unwrap(), ceremony);
}

/// Pads a JSON file with trailing whitespace (still valid JSON) to more than `size` bytes.
fn pad(path: &Path, size: usize) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes.resize(size + 1, b' ');
    bytes.push(b'\n');
    std::fs::write(path, bytes).unwrap();
}

/// A first ceremony signed by m0 and m1 and finalized into `roots`.
fn finalized(k: &Keys, dir: &Path, roots: &Path) {
    k.init(dir);
    for (key, _) in &k.members[..2] {
        assert_ok(&sign_file(dir, key), "sign");
    }
    let out = tool()
        .args(["finalize", "--dir"])
        .arg(dir)
        .arg("--roots")
        .arg(roots)
        .output()
        .unwrap();
    assert_ok(&out, "finalize");
}

#[test]
fn oversized_files_are_refused_with_the_file_and_the_limit() {
    let k = keys();
    let dir = k.w.join("first");
    let roots = k.w.join("roots");
    finalized(&k, &dir, &roots);

    // A root (valid JSON, padded) in the chain a rotation starts from.
    let root = roots.join("crates.io/1.root.json");
    let good = std::fs::read(&root).unwrap();
    pad(&root, 512 * 1024);
    let rotation = k.w.join("rotation");
    let out = tool()
        .args(["init", "--dir"])
        .arg(&rotation)
        .arg("--previous-roots")
        .arg(&roots)
        .output()
        .unwrap();
    assert_fails(&out, "crates.io/1.root.json");
    assert_fails(&out, "524288 bytes");
    assert!(!rotation.exists());
    let out = tool()
        .args(["verify", "--roots"])
        .arg(&roots)
        .output()
        .unwrap();
    assert_fails(&out, "524288 bytes");
    std::fs::write(&root, &good).unwrap();

    // /dev/zero where a root should be: read up to the limit, not forever.
    std::os::unix::fs::symlink("/dev/zero", roots.join("crates.io/2.root.json")).unwrap();
    let out = tool()
        .args(["verify", "--roots"])
        .arg(&roots)
        .output()
        .unwrap();
    assert_fails(&out, "2.root.json is larger than 524288 bytes");
    std::fs::remove_file(roots.join("crates.io/2.root.json")).unwrap();

    // The ceremony file.
    let c = k.w.join("c");
    k.init(&c);
    pad(&c.join("ceremony.json"), 4 << 20);
    let out = tool().args(["status", "--dir"]).arg(&c).output().unwrap();
    assert_fails(&out, "ceremony.json is larger than 4194304 bytes");

    // A transcript.
    let t = dir.join("transcript.jsonl");
    pad(&t, 16 << 20);
    let out = tool()
        .args(["verify", "--roots"])
        .arg(&roots)
        .arg("--transcript")
        .arg(&t)
        .output()
        .unwrap();
    assert_fails(&out, "transcript.jsonl is larger than 16777216 bytes");

    // A public key file and a private key file.
    let big = k.w.join("big.pub");
    std::fs::copy(&k.members[2].1, &big).unwrap();
    pad(&big, 64 * 1024);
    let out = tool()
        .args(["init", "--threshold", "1", "--member"])
        .arg(&big)
        .arg("--dir")
        .arg(k.w.join("never"))
        .output()
        .unwrap();
    assert_fails(&out, "big.pub is larger than 65536 bytes");
    let big_key = k.w.join("big.pem");
    std::fs::copy(&k.members[2].0, &big_key).unwrap();
    pad(&big_key, 16 * 1024);
    let out = tool()
        .args(["pubkey", "--key-file"])
        .arg(&big_key)
        .output()
        .unwrap();
    assert_fails(&out, "big.pem is larger than 16384 bytes");
}

/// How a root spells a member's key: as tuf-keys writes it, or in another form that tough and
/// python-tuf read as the same key under another key ID.
#[derive(Clone, Copy)]
enum Spelling {
    AsWritten,
    /// Ed25519: the public key in upper-case hex.
    UpperHex,
    /// ECDSA: keytype `ecdsa-sha2-nistp256` instead of `ecdsa`.
    OldKeytype,
    /// ECDSA: the point in hex instead of PEM.
    HexPoint,
}

fn spelled(key: &TufPublicKey, spelling: Spelling) -> (String, serde_json::Value) {
    let mut v = serde_json::to_value(key.key()).unwrap();
    match spelling {
        Spelling::AsWritten => {}
        Spelling::UpperHex => {
            v["keyval"]["public"] = hex::encode_upper(key.raw_public_key()).into();
        }
        Spelling::OldKeytype => v["keytype"] = "ecdsa-sha2-nistp256".into(),
        Spelling::HexPoint => v["keyval"]["public"] = hex::encode(key.raw_public_key()).into(),
    }
    let parsed: Key = serde_json::from_value(v.clone()).unwrap();
    (hex::encode(parsed.key_id().unwrap()), v)
}

/// A version-1 root for `role` listing `members` as spelled, signed by `signers` (a member's
/// key file and the index, in `members`, of the spelling its signature names).
fn handmade_root(
    k: &Keys,
    role: &str,
    members: &[(TufPublicKey, Spelling)],
    threshold: u64,
    signers: &[(usize, usize)],
) -> Vec<u8> {
    let base = build_root(&RootSpec {
        members: vec![members[0].0.clone()],
        threshold: 1,
        online: k.online_key(role),
        version: 1,
        expires: expires_in_days(365).unwrap(),
    })
    .unwrap();
    let mut v = serde_json::to_value(&base).unwrap();
    let online_id = k.online_key(role).key_id_hex();
    let keys = v["keys"].as_object_mut().unwrap();
    keys.retain(|id, _| *id == online_id);
    let mut ids = Vec::new();
    for (key, spelling) in members {
        let (id, json) = spelled(key, *spelling);
        keys.insert(id.clone(), json);
        ids.push(id);
    }
    v["roles"]["root"] = serde_json::json!({ "keyids": ids, "threshold": threshold });
    let root: Root = serde_json::from_value(v).unwrap();
    let message = canonical(&root).unwrap();
    let signatures = signers
        .iter()
        .map(|(key, member)| {
            let sig = k.signer(*key).sign_message_blocking(&message).unwrap();
            serde_json::json!({ "keyid": ids[*member], "sig": hex::encode(sig) })
        })
        .collect::<Vec<_>>();
    let signed: Signed<Root> = serde_json::from_value(serde_json::json!({
        "signed": root,
        "signatures": signatures,
    }))
    .unwrap();
    root_file_bytes(&signed).unwrap()
}

#[test]
fn a_member_key_written_another_way_is_the_same_member() {
    let k = keys();
    let (m0, m1, m2) = (k.public(0), k.public(1), k.public(2));
    for (what, key, spelling) in [
        ("upper-case hex", &m0, Spelling::UpperHex),
        ("keytype ecdsa-sha2-nistp256", &m1, Spelling::OldKeytype),
        ("a hex point", &m1, Spelling::HexPoint),
    ] {
        let roots = k.w.join(format!("roots-{}", what.replace(' ', "-")));
        std::fs::create_dir_all(roots.join("crates.io")).unwrap();
        let others: Vec<_> = [&m0, &m1, &m2]
            .into_iter()
            .filter(|m| *m != key)
            .map(|m| (m.clone(), Spelling::AsWritten))
            .collect();
        let mut members = vec![(key.clone(), spelling)];
        members.extend(others);
        // Signed by the two other members (their spellings are as written).
        let index = |m: &TufPublicKey| members.iter().position(|(x, _)| x == m).unwrap();
        let signers: Vec<(usize, usize)> = [0, 1, 2]
            .into_iter()
            .filter(|i| &k.public(*i) != key)
            .map(|i| (i, index(&k.public(i))))
            .collect();
        let bytes = handmade_root(&k, "crates.io", &members, 2, &signers);
        std::fs::write(roots.join("crates.io/1.root.json"), bytes).unwrap();
        let out = tool()
            .args(["verify", "--roles", "crates.io", "--roots"])
            .arg(&roots)
            .output()
            .unwrap();
        assert_ok(&out, &format!("verify a root with {what}"));

        // A rotation carries the members over; adding the same key as a PEM file is refused.
        let dir = roots.join("ceremony");
        let out = tool()
            .args(["init", "--roles", "crates.io", "--dir"])
            .arg(&dir)
            .arg("--previous-roots")
            .arg(&roots)
            .output()
            .unwrap();
        assert_ok(&out, "init rotation");
        let i = [0, 1, 2]
            .into_iter()
            .find(|i| &k.public(*i) == key)
            .unwrap();
        let before = snapshot(&dir);
        let out = tool()
            .args(["add-member", "--dir"])
            .arg(&dir)
            .arg("--member")
            .arg(&k.members[i].1)
            .output()
            .unwrap();
        assert_fails(&out, "is a member already");
        assert_eq!(before, snapshot(&dir), "{what}");
    }
}

#[test]
fn one_key_listed_twice_under_two_key_ids_is_refused() {
    let k = keys();
    let m0 = k.public(0);
    let roots = k.w.join("roots");
    std::fs::create_dir_all(roots.join("crates.io")).unwrap();
    // m0 twice (as written and in upper-case hex) meets threshold 2 on its own in tough.
    let members = [
        (m0.clone(), Spelling::AsWritten),
        (m0.clone(), Spelling::UpperHex),
        (k.public(1), Spelling::AsWritten),
    ];
    let bytes = handmade_root(&k, "crates.io", &members, 2, &[(0, 0), (0, 1)]);
    let root: Signed<Root> = serde_json::from_slice(&bytes).unwrap();
    root.signed
        .verify_role(&root)
        .expect("tough counts one key twice");
    std::fs::write(roots.join("crates.io/1.root.json"), bytes).unwrap();
    let out = tool()
        .args(["verify", "--roles", "crates.io", "--roots"])
        .arg(&roots)
        .output()
        .unwrap();
    assert_fails(&out, "listed twice");
    let out = tool()
        .args(["init", "--roles", "crates.io", "--dir"])
        .arg(k.w.join("c"))
        .arg("--previous-roots")
        .arg(&roots)
        .output()
        .unwrap();
    assert_fails(&out, "listed twice");
}

#[test]
fn the_pin_does_not_stay_in_the_process_environment() {
    const SECRET: &str = "4242-not-in-environ-4242";
    let t = tempfile::tempdir().unwrap();
    let (_, public) = file_key(t.path(), "m", "ed25519");
    // The tool reads a key from a FIFO: it stays alive, blocked in that read, until the test
    // writes the key, and meanwhile its environment can be looked at.
    let fifo = t.path().join("key.fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let mut child = tool()
        .env("TUF_CEREMONY_PIN", SECRET)
        .args(["pubkey", "--key-file"])
        .arg(&fifo)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Opening the FIFO for writing returns once the tool has opened it for reading: by then
    // it runs its command, past the start of main.
    let (tx, rx) = std::sync::mpsc::channel();
    let f = fifo.clone();
    std::thread::spawn(move || {
        let _ = tx.send(std::fs::OpenOptions::new().write(true).open(f));
    });
    let Ok(writer) = rx.recv_timeout(Duration::from_secs(30)) else {
        let _ = child.kill();
        panic!("tuf-ceremony never opened the FIFO");
    };
    let mut writer = writer.unwrap();
    let environ = std::fs::read(format!("/proc/{}/environ", child.id())).unwrap();
    let environ = String::from_utf8_lossy(&environ);
    use std::io::Write as _;
    writer.write_all(&std::fs::read(&public).unwrap()).unwrap();
    drop(writer);
    let out = child.wait_with_output().unwrap();
    assert_ok(&out, "pubkey from the FIFO");
    assert!(
        !environ.contains(SECRET),
        "the PIN is still in /proc/PID/environ of the running tool"
    );
    assert!(!environ.contains("TUF_CEREMONY_PIN"), "{environ}");
    assert!(
        environ.contains("PATH="),
        "the rest of the environment is kept"
    );
}
