//! Every bad input of issue 4 is refused with a clear error and writes nothing: impossible
//! thresholds, malformed key files, non-member keys, a wrong digest, drafts changed after the
//! digest was announced or after someone signed, duplicate and foreign signatures, version
//! skips, an expired previous root, amendments after signing, a wrong PIN, a missing token, and
//! a tampered transcript.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};

use common::*;
use root_ceremony::ceremony::{CeremonyFile, content_digest};
use root_ceremony::model::{RootSpec, build_root, canonical, root_file_bytes};
use tough::schema::{Signature, Signed};
use tuf_keys::FileSigner;

struct Setup {
    _t: tempfile::TempDir,
    w: PathBuf,
    members: Vec<(PathBuf, PathBuf)>,
    online: Vec<(String, PathBuf)>,
}

fn setup() -> Setup {
    let t = tempfile::tempdir().unwrap();
    let w = t.path().to_owned();
    let members = (0..5)
        .map(|i| {
            file_key(
                &w,
                &format!("m{i}"),
                if i % 2 == 0 { "ed25519" } else { "p256" },
            )
        })
        .collect();
    let online = ROLES
        .iter()
        .map(|r| {
            (
                r.to_string(),
                file_key(&w, &format!("online-{r}"), "ed25519").1,
            )
        })
        .collect();
    Setup {
        _t: t,
        w,
        members,
        online,
    }
}

impl Setup {
    fn init(
        &self,
        dir: &Path,
        threshold: &str,
        extra_member: Option<&Path>,
    ) -> std::process::Output {
        let mut c = tool();
        c.args(["init", "--dir"])
            .arg(dir)
            .args(["--threshold", threshold]);
        for (_, p) in &self.members {
            c.arg("--member").arg(p);
        }
        if let Some(p) = extra_member {
            c.arg("--member").arg(p);
        }
        for (r, p) in &self.online {
            c.arg("--online-key").arg(format!("{r}={}", p.display()));
        }
        c.output().unwrap()
    }

    fn ceremony(&self, name: &str) -> PathBuf {
        let dir = self.w.join(name);
        assert_ok(&self.init(&dir, "2", None), "init");
        dir
    }
}

fn edit(dir: &Path, f: impl FnOnce(&mut CeremonyFile)) {
    let path = dir.join("ceremony.json");
    let mut file: CeremonyFile = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    f(&mut file);
    std::fs::write(&path, serde_json::to_vec_pretty(&file).unwrap()).unwrap();
}

#[test]
fn impossible_thresholds_and_malformed_keys_write_nothing() {
    let s = setup();
    for t in ["0", "6"] {
        let dir = s.w.join(format!("t{t}"));
        let out = s.init(&dir, t, None);
        assert_fails(
            &out,
            &format!("threshold {t} is impossible with 5 member key(s)"),
        );
        assert!(!dir.exists());
    }
    let bad = s.w.join("garbage.pub");
    std::fs::write(
        &bad,
        "-----BEGIN PUBLIC KEY-----\nnot base64!!\n-----END PUBLIC KEY-----\n",
    )
    .unwrap();
    let dir = s.w.join("bad-key");
    assert_fails(&s.init(&dir, "2", Some(&bad)), "garbage.pub");
    assert!(!dir.exists());
    let empty = s.w.join("empty.pub");
    std::fs::write(&empty, "hello\n").unwrap();
    assert_fails(
        &s.init(&dir, "2", Some(&empty)),
        "no PEM \"PUBLIC KEY\" block",
    );
    // A listed twice member.
    assert_fails(&s.init(&dir, "2", Some(&s.members[0].1)), "listed twice");
    assert!(!dir.exists());
    // An existing ceremony is never overwritten.
    let c = s.ceremony("c");
    let before = snapshot(&c);
    assert_fails(&s.init(&c, "2", None), "already holds a ceremony");
    assert_eq!(before, snapshot(&c));
}

#[test]
fn signing_refusals_leave_the_ceremony_untouched() {
    let s = setup();
    let c = s.ceremony("c");
    // A key that is not a member.
    let (stranger, _) = file_key(&s.w, "stranger", "ed25519");
    let before = snapshot(&c);
    assert_fails(&sign_file(&c, &stranger), "is not a member of the new root");
    assert_eq!(before, snapshot(&c));
    // A digest that does not match.
    let out = tool()
        .args(["sign", "--dir"])
        .arg(&c)
        .args(["--expect-digest", &"0".repeat(64), "--key-file"])
        .arg(&s.members[0].0)
        .output()
        .unwrap();
    assert_fails(&out, "does not match these drafts");
    // A malformed private key file.
    let bad = s.w.join("bad.pem");
    std::fs::write(
        &bad,
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    std::fs::set_permissions(&bad, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    assert_fails(&sign_file(&c, &bad), "bad.pem");
    assert_eq!(before, snapshot(&c));

    // One real signature, then amendments are refused.
    assert_ok(&sign_file(&c, &s.members[0].0), "sign");
    let out = tool()
        .args(["set-threshold", "--dir"])
        .arg(&c)
        .args(["--threshold", "3"])
        .output()
        .unwrap();
    assert_fails(&out, "already signed by");

    // Duplicate signature.
    let signed = snapshot(&c);
    edit(&c, |f| {
        for e in f.roles.values_mut() {
            let s0 = e.draft.signatures[0].clone();
            e.draft.signatures.push(s0);
        }
    });
    let out = tool().args(["status", "--dir"]).arg(&c).output().unwrap();
    assert_fails(&out, "has more than one signature");
    let tampered = snapshot(&c);
    assert_fails(
        &sign_file_raw(&c, &s.members[1].0),
        "has more than one signature",
    );
    assert_eq!(tampered, snapshot(&c));
    restore(&signed);

    // Foreign signature.
    edit(&c, |f| {
        for e in f.roles.values_mut() {
            let mut s0: Signature = e.draft.signatures[0].clone();
            s0.keyid = vec![7u8; 32].into();
            e.draft.signatures.push(s0);
        }
    });
    let out = tool().args(["status", "--dir"]).arg(&c).output().unwrap();
    assert_fails(
        &out,
        "which is not a member of the new or the previous root",
    );
    restore(&signed);

    // The draft changed after the digest was announced.
    edit(&c, |f| {
        let e = f.roles.get_mut("rustup").unwrap();
        e.draft.signed.expires = jiff::Timestamp::from_second(4_000_000_000).unwrap();
    });
    assert_fails(
        &sign_file_raw(&c, &s.members[1].0),
        "the drafts changed after digest",
    );
    restore(&signed);

    // The draft (and the digest with it) changed after someone signed.
    edit(&c, |f| {
        let e = f.roles.get_mut("rustup").unwrap();
        e.draft.signed.expires = jiff::Timestamp::from_second(4_000_000_000).unwrap();
        f.digest = content_digest(&f.roles).unwrap();
    });
    let out = tool().args(["status", "--dir"]).arg(&c).output().unwrap();
    assert_fails(&out, "the draft changed after that key signed");
    restore(&signed);

    // Restored, the ceremony goes on.
    assert_ok(&sign_file(&c, &s.members[1].0), "sign after restore");
}

/// Signs with the digest recorded in the ceremony file (for files whose `status` fails).
fn sign_file_raw(dir: &Path, key: &Path) -> std::process::Output {
    let f: CeremonyFile =
        serde_json::from_slice(&std::fs::read(dir.join("ceremony.json")).unwrap()).unwrap();
    tool()
        .args(["sign", "--dir"])
        .arg(dir)
        .args(["--expect-digest", &f.digest, "--key-file"])
        .arg(key)
        .output()
        .unwrap()
}

fn restore(files: &std::collections::BTreeMap<PathBuf, Vec<u8>>) {
    for (p, b) in files {
        std::fs::write(p, b).unwrap();
    }
}

#[test]
fn version_skips_expired_roots_and_tampered_transcripts() {
    let s = setup();
    let c = s.ceremony("c");
    for (k, _) in &s.members[..2] {
        assert_ok(&sign_file(&c, k), "sign");
    }
    let roots = s.w.join("roots");
    let out = tool()
        .args(["finalize", "--dir"])
        .arg(&c)
        .arg("--roots")
        .arg(&roots)
        .output()
        .unwrap();
    assert_ok(&out, "finalize");
    // Finalizing again never overwrites.
    let out = tool()
        .args(["finalize", "--dir"])
        .arg(&c)
        .arg("--roots")
        .arg(&roots)
        .output()
        .unwrap();
    assert!(!out.status.success());

    // A rotation that would skip a version.
    let r2 = s.w.join("r2");
    let out = tool()
        .args(["init", "--dir"])
        .arg(&r2)
        .arg("--previous-roots")
        .arg(&roots)
        .args(["--version", "3"])
        .output()
        .unwrap();
    assert_fails(&out, "does not follow the previous root's version 1");
    assert!(!r2.exists());
    // A chain with a gap breaks where a client would stop.
    let gap = s.w.join("gap");
    std::fs::create_dir_all(gap.join("rustup")).unwrap();
    std::fs::copy(
        roots.join("rustup/1.root.json"),
        gap.join("rustup/1.root.json"),
    )
    .unwrap();
    std::fs::copy(
        roots.join("rustup/1.root.json"),
        gap.join("rustup/3.root.json"),
    )
    .unwrap();
    let out = tool()
        .arg("verify")
        .arg("--roots")
        .arg(&gap)
        .output()
        .unwrap();
    assert_fails(&out, "2.root.json");

    // A tampered transcript.
    let t = c.join("transcript.jsonl");
    let text = std::fs::read_to_string(&t).unwrap();
    let out = tool()
        .arg("verify")
        .arg("--roots")
        .arg(&roots)
        .arg("--transcript")
        .arg(&t)
        .output()
        .unwrap();
    assert_ok(&out, "verify with transcript");
    std::fs::write(&t, text.replacen("\"sign\"", "\"init\"", 1)).unwrap();
    let out = tool()
        .arg("verify")
        .arg("--roots")
        .arg(&roots)
        .arg("--transcript")
        .arg(&t)
        .output()
        .unwrap();
    assert_fails(&out, "transcript");

    // An expired previous root (made here, since the tool never makes one).
    let m0 = FileSigner::load(&s.members[0].0).unwrap();
    let online = root_ceremony::keys::read_public_key_file(&s.online[0].1).unwrap();
    let root = build_root(&RootSpec {
        members: vec![m0.public_key().clone()],
        threshold: 1,
        online,
        version: 1,
        expires: jiff::Timestamp::from_second(1_600_000_000).unwrap(),
    })
    .unwrap();
    let sig = m0
        .sign_message_blocking(&canonical(&root).unwrap())
        .unwrap();
    let signed = Signed {
        signed: root,
        signatures: vec![Signature {
            keyid: m0.public_key().key_id().clone(),
            sig: sig.into(),
        }],
    };
    let old = s.w.join("old-roots");
    std::fs::create_dir_all(old.join("crates.io")).unwrap();
    std::fs::write(
        old.join("crates.io/1.root.json"),
        root_file_bytes(&signed).unwrap(),
    )
    .unwrap();
    let r3 = s.w.join("r3");
    let out = tool()
        .args(["init", "--roles", "crates.io", "--dir"])
        .arg(&r3)
        .arg("--previous-roots")
        .arg(&old)
        .output()
        .unwrap();
    assert_fails(&out, "expired at 2020-09-13T12:26:40Z");
    assert!(!r3.exists());
    let out = tool()
        .args([
            "init",
            "--roles",
            "crates.io",
            "--allow-expired-previous",
            "--dir",
        ])
        .arg(&r3)
        .arg("--previous-roots")
        .arg(&old)
        .output()
        .unwrap();
    assert_ok(&out, "rotation from an expired root");
}

#[test]
fn wrong_pin_and_missing_token() {
    if require(
        "softhsm2",
        softhsm_present(),
        "install the Debian package softhsm2",
    )
    .is_err()
    {
        return;
    }
    let s = setup();
    let hsm = SoftHsm::new(&s.w);
    hsm.token_with_key("alice", "p256", &s.w.join("alice.pub"));
    let dir = s.w.join("c");
    assert_ok(&s.init(&dir, "2", Some(&s.w.join("alice.pub"))), "init");
    let before = snapshot(&dir);
    let d = digest(&dir);
    let out = hsm
        .tool()
        .env("TUF_CEREMONY_PIN", "000000")
        .args(["sign", "--dir"])
        .arg(&dir)
        .args(["--expect-digest", &d])
        .args(hsm.key_args("alice"))
        .output()
        .unwrap();
    assert_fails(&out, "wrong PIN");
    assert!(!String::from_utf8_lossy(&out.stderr).contains("000000"));
    let out = hsm
        .tool()
        .env("TUF_CEREMONY_PIN", PIN)
        .args(["sign", "--dir"])
        .arg(&dir)
        .args(["--expect-digest", &d])
        .args(hsm.key_args("nobody"))
        .output()
        .unwrap();
    assert_fails(&out, "no token labelled \"nobody\"");
    let out = hsm
        .tool()
        .env("TUF_CEREMONY_PIN", PIN)
        .args(["sign", "--dir"])
        .arg(&dir)
        .args(["--expect-digest", &d])
        .args([
            "--pkcs11-module",
            "/nonexistent/libpkcs11.so",
            "--token-label",
            "alice",
            "--key-label",
            "root",
        ])
        .output()
        .unwrap();
    assert_fails(&out, "cannot load PKCS#11 module");
    assert_eq!(before, snapshot(&dir));
    // The right PIN signs.
    let out = hsm
        .tool()
        .env("TUF_CEREMONY_PIN", PIN)
        .args(["sign", "--dir"])
        .arg(&dir)
        .args(["--expect-digest", &d])
        .args(hsm.key_args("alice"))
        .output()
        .unwrap();
    assert_ok(&out, "sign with the right PIN");
}

#[test]
fn der_online_keys_and_unrecorded_changes() {
    let s = setup();
    // An online key given as DER (as AWS KMS GetPublicKey returns it) is the same key.
    let pem_text = std::fs::read_to_string(&s.online[0].1).unwrap();
    let der = tuf_keys::TufPublicKey::from_spki_pem(pem_text.split("key ID").next().unwrap())
        .unwrap()
        .to_spki_der();
    let der_path = s.w.join("online.der");
    std::fs::write(&der_path, der).unwrap();
    assert_eq!(
        root_ceremony::keys::read_public_key_file(&der_path).unwrap(),
        root_ceremony::keys::read_public_key_file(&s.online[0].1).unwrap()
    );

    let c = s.ceremony("c");
    for (k, _) in &s.members[..3] {
        assert_ok(&sign_file(&c, k), "sign");
    }
    // Someone drops a signature by hand: the drafts still check out, but the change is not in
    // the transcript, so finalize refuses and status says so.
    edit(&c, |f| {
        for e in f.roles.values_mut() {
            e.draft.signatures.pop();
        }
    });
    let out = tool().args(["status", "--dir"]).arg(&c).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("Transcript: BROKEN"));
    let roots = s.w.join("roots");
    let out = tool()
        .args(["finalize", "--dir"])
        .arg(&c)
        .arg("--roots")
        .arg(&roots)
        .output()
        .unwrap();
    assert_fails(&out, "changed outside the tool");
    assert!(snapshot(&roots).is_empty());
}

#[test]
fn finalize_refuses_a_chain_that_moved() {
    let s = setup();
    let c = s.ceremony("c");
    for (k, _) in &s.members[..2] {
        assert_ok(&sign_file(&c, k), "sign");
    }
    // Another root 1 is already in the output: this ceremony's first roots do not follow it.
    let other = s.ceremony("other");
    for (k, _) in &s.members[2..4] {
        assert_ok(&sign_file(&other, k), "sign other");
    }
    let roots = s.w.join("roots");
    let out = tool()
        .args(["finalize", "--dir"])
        .arg(&other)
        .arg("--roots")
        .arg(&roots)
        .output()
        .unwrap();
    assert_ok(&out, "finalize other");
    let before = snapshot(&roots);
    let out = tool()
        .args(["finalize", "--dir"])
        .arg(&c)
        .arg("--roots")
        .arg(&roots)
        .output()
        .unwrap();
    assert_fails(&out, "another root was published");
    assert_eq!(before, snapshot(&roots));
}
