//! The published repositories load in tough's own client (`RepositoryLoader`), starting from
//! `1.root.json`: the merkle role's timestamp (with `merkle_root`) and the classic role's
//! targets, whose bytes tough downloads and checks.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use common::{CLASSIC, MERKLE, Signer};
use tough::{FilesystemTransport, IntoVec, RepositoryLoader, TargetName};
use url::Url;

async fn load(s: &Signer, role: &str) -> tough::Repository {
    let repo = s.data.join("repo").join(role);
    let root = std::fs::read(repo.join("1.root.json")).unwrap();
    let metadata = Url::from_directory_path(&repo).unwrap();
    let targets = Url::from_directory_path(repo.join("targets")).unwrap();
    RepositoryLoader::new(&root, metadata, targets)
        .transport(FilesystemTransport)
        .load()
        .await
        .unwrap_or_else(|e| panic!("tough refused the {role} repository: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tough_loads_what_we_publish() {
    let dir = tempfile::tempdir().unwrap();
    let s = Signer::start(dir.path()).await;
    for i in 0..3 {
        let r = s
            .write(
                MERKLE,
                "PUT",
                "/api/v1/crates.io/targets/se/rd/serde?wait=signed",
                None,
                format!("v{i}").as_bytes(),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let r = s
        .write(
            CLASSIC,
            "PUT",
            "/api/v1/releases/targets/dist/a.txt?wait=signed",
            None,
            b"artifact",
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());

    let merkle = load(&s, MERKLE).await;
    let (version, root) = s.verified_timestamp(MERKLE).await;
    assert_eq!(merkle.timestamp().signed.version.get(), version);
    let loaded_root = merkle
        .timestamp()
        .signed
        ._extra
        .get("merkle_root")
        .and_then(|v| v.as_str())
        .unwrap();
    assert_eq!(loaded_root, root.unwrap().to_hex());

    let classic = load(&s, CLASSIC).await;
    let name = TargetName::new("dist/a.txt").unwrap();
    let stream = classic
        .read_target(&name)
        .await
        .unwrap()
        .expect("target listed");
    assert_eq!(stream.into_vec().await.unwrap(), b"artifact");
    s.stop().await;
}

/// Rotating the online key: the ceremony adds `2.root.json` listing a new key; the signer,
/// restarted with that key, publishes the new root and re-signs everything with the new key, and
/// a client that trusted `1.root.json` follows the chain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn online_key_rotation_through_a_new_root() {
    use std::sync::Arc;
    use tuf_keys::{FileSigner, KeyAlgorithm};
    use tuf_signer::metadata::{SharedSigner, write_single_key_root};

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let s = Signer::start(&data).await;
    let r = s
        .write(
            MERKLE,
            "PUT",
            "/api/v1/crates.io/targets/se/rd/serde?wait=signed",
            None,
            b"v1",
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let (v1, _) = s.verified_timestamp(MERKLE).await;
    s.stop().await;

    // The ceremony (here: the development root key) signs root 2 with a new online key.
    let root_key: SharedSigner =
        Arc::new(FileSigner::load(data.join("keys/dev-root.pem")).unwrap());
    let new_key =
        FileSigner::generate(dir.path().join("new-online.pem"), KeyAlgorithm::EcdsaP256).unwrap();
    let roots = data.join("roots/crates.io");
    write_single_key_root(&roots, 2, &root_key, new_key.public_key(), 3600)
        .await
        .unwrap();

    // The old key is refused under the new root.
    let err = tuf_signer::start(common::config(&data))
        .await
        .err()
        .expect("old key refused");
    assert!(
        err.to_string().contains("is not listed in root version 2"),
        "{err}"
    );

    let mut config = common::config(&data);
    config.roles.get_mut(MERKLE).unwrap().online_key = Some(tuf_signer::config::OnlineKey::File {
        path: dir.path().join("new-online.pem"),
    });
    let running = tuf_signer::start(config).await.unwrap();
    let s = Signer {
        addr: running.local_addr(),
        running: Some(running),
        data: data.clone(),
    };
    let (v2, _) = s.verified_timestamp(MERKLE).await;
    assert!(v2 > v1);
    let repo = load(&s, MERKLE).await;
    assert_eq!(repo.root().signed.version.get(), 2);
    assert_eq!(
        repo.timestamp().signatures[0].keyid,
        *new_key.public_key().key_id()
    );
    assert_eq!(
        repo.snapshot().signatures[0].keyid,
        *new_key.public_key().key_id()
    );
    assert_eq!(
        repo.targets().signatures[0].keyid,
        *new_key.public_key().key_id()
    );
    s.stop().await;
}
