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
