//! `--ca-bundle` (issue 12, item 4): HTTPS to a server whose certificate a private CA issued,
//! generated in the test with the `openssl` command (skipped, saying so, where there is none).
//! With the CA in the bundle the client verifies through it; without, the certificate is
//! refused; a bundle that cannot be used is an error naming the file.

#![allow(missing_docs, clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use common::{ROLE, Signer};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tuf_client::transport::{CaBundle, Fetched, HttpOptions};
use tuf_client::{ClientError, HttpTransport, Transport};

/// A CA, and a server certificate for 127.0.0.1 and localhost that it issued, made with the
/// `openssl` command in `dir`; `None` when there is no `openssl`.
struct Pki {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) -> bool {
    match Command::new("openssl").args(args).current_dir(dir).output() {
        Ok(out) if out.status.success() => true,
        Ok(out) => panic!("openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr)),
        Err(_) => false,
    }
}

fn make_pki(dir: &Path) -> Option<Pki> {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca = vec![
        "req",
        "-x509",
        "-days",
        "2",
        "-subj",
        "/CN=tuf-client test CA",
    ];
    ca.extend(ec);
    ca.extend(["-keyout", "ca.key", "-out", "ca.pem"]);
    if !openssl(dir, &ca) {
        return None;
    }
    let mut csr = vec!["req", "-subj", "/CN=127.0.0.1"];
    csr.extend(ec);
    csr.extend(["-keyout", "server.key", "-out", "server.csr"]);
    openssl(dir, &csr);
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n\
         keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-set_serial",
            "2",
            "-days",
            "2",
            "-extfile",
            "server.ext",
            "-out",
            "server.pem",
        ],
    );
    Some(Pki {
        ca: dir.join("ca.pem"),
        cert: dir.join("server.pem"),
        key: dir.join("server.key"),
    })
}

/// An HTTPS front on 127.0.0.1 with `pki`'s server certificate: each request is passed to
/// `upstream` over plain HTTP (one request per connection) and the answer passed back.
fn https_front(pki: &Pki, upstream: SocketAddr) -> String {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&pki.cert)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let key = PrivateKeyDer::from_pem_file(&pki.key).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    let config = Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("https://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let config = config.clone();
            std::thread::spawn(move || {
                let Ok(conn) = rustls::ServerConnection::new(config) else {
                    return;
                };
                let mut tls = rustls::StreamOwned::new(conn, stream);
                let Some(request) = read_request(&mut tls) else {
                    return;
                };
                let Ok(mut up) = TcpStream::connect(upstream) else {
                    return;
                };
                if up.write_all(&request).is_err() {
                    return;
                }
                let mut answer = Vec::new();
                let _ = up.read_to_end(&mut answer);
                let _ = tls.write_all(&answer);
                tls.conn.send_close_notify();
                let _ = tls.flush();
            });
        }
    });
    url
}

/// A whole request (head and Content-Length body), with `Connection: close` so that the
/// upstream closes after answering.
fn read_request(s: &mut impl Read) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let end = loop {
        let n = s.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p;
        }
    };
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let length: usize = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0);
    let mut body = buf[end + 4..].to_vec();
    while body.len() < length {
        let n = s.read(&mut chunk).ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    let mut out: Vec<u8> = head
        .lines()
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
        .flat_map(|l| format!("{l}\r\n").into_bytes())
        .collect();
    out.extend_from_slice(b"Connection: close\r\n\r\n");
    out.extend_from_slice(&body);
    Some(out)
}

fn tuf_verify(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tuf-verify"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_private_ca_in_the_bundle_is_trusted_and_nothing_else_is() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(pki) = make_pki(tmp.path()) else {
        eprintln!("SKIPPED: no openssl command to make a test CA with");
        return;
    };
    let signer = Signer::start();
    signer.publish(ROLE, "se/rd/serde", b"serde 1.0.0\n");
    let url = https_front(&pki, signer.addr);
    let bundle = CaBundle::load(&pki.ca).unwrap();
    assert_eq!(bundle.len(), 1);

    // The library: the bundle's CA verifies the server; the webpki roots do not.
    let with_ca = HttpTransport::with_options(
        &url,
        HttpOptions {
            ca_bundle: Some(bundle),
            ..Default::default()
        },
    );
    let Fetched::Found(root) = with_ca
        .get(&format!("{ROLE}/1.root.json"), 1 << 20)
        .unwrap()
    else {
        panic!("no root");
    };
    assert_eq!(root, signer.get(&format!("{ROLE}/1.root.json")));
    let err = HttpTransport::new(&url)
        .get(&format!("{ROLE}/1.root.json"), 1 << 20)
        .unwrap_err();
    assert!(matches!(err, ClientError::Transport { .. }), "{err:?}");
    assert!(
        err.to_string().to_lowercase().contains("certificate"),
        "{err}"
    );

    // The binary: --ca-bundle before or after the subcommand.
    let state = tmp.path().join("state");
    let state = state.to_str().unwrap();
    let root_file = signer.repo(ROLE).join("1.root.json");
    let (code, _, err) = tuf_verify(&[
        "init",
        "--role",
        ROLE,
        "--state",
        state,
        "--root",
        root_file.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0), "{err}");
    let ca = pki.ca.to_str().unwrap();
    let (code, out, err) = tuf_verify(&[
        "--ca-bundle",
        ca,
        "verify",
        "--state",
        state,
        "--repo",
        &url,
        "se/rd/serde",
    ]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.starts_with("se/rd/serde: present"), "{out}");
    let (code, out, _) = tuf_verify(&[
        "verify",
        "--json",
        "--state",
        state,
        "--repo",
        &url,
        "se/rd/serde",
        "--ca-bundle",
        ca,
    ]);
    assert_eq!(code, Some(0));
    assert!(out.contains("\"status\":\"present\""), "{out}");
    // Without it the server's certificate is unknown: refused, and not retried as if the
    // network had failed.
    let (code, _, err) = tuf_verify(&["verify", "--state", state, "--repo", &url, "se/rd/serde"]);
    assert_eq!(code, Some(1));
    assert!(err.to_lowercase().contains("certificate"), "{err}");
    // A bundle holding another CA does not trust this server either (it replaces the roots).
    let other = tempfile::tempdir().unwrap();
    let other = make_pki(other.path()).unwrap();
    let (code, _, err) = tuf_verify(&[
        "--ca-bundle",
        other.ca.to_str().unwrap(),
        "verify",
        "--state",
        state,
        "--repo",
        &url,
        "se/rd/serde",
    ]);
    assert_eq!(code, Some(1));
    assert!(err.to_lowercase().contains("certificate"), "{err}");
}

#[test]
fn a_bundle_that_cannot_be_used_is_an_error_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("missing.pem");
    let err = CaBundle::load(&missing).unwrap_err();
    assert!(matches!(err, ClientError::CaBundle { .. }), "{err:?}");
    assert!(err.to_string().contains("missing.pem"), "{err}");

    let empty = tmp.path().join("empty.pem");
    std::fs::write(&empty, "no PEM here\n").unwrap();
    let err = CaBundle::load(&empty).unwrap_err();
    assert!(
        err.to_string().contains("holds no PEM certificate"),
        "{err}"
    );

    let garbage = tmp.path().join("garbage.pem");
    std::fs::write(
        &garbage,
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let err = CaBundle::load(&garbage).unwrap_err();
    assert!(matches!(err, ClientError::CaBundle { .. }), "{err:?}");

    // Through the binary: exit 1 before anything is fetched, with the file's name; as JSON too.
    let (code, _, stderr) = tuf_verify(&[
        "--ca-bundle",
        empty.to_str().unwrap(),
        "refresh",
        "--state",
        "s",
        "--repo",
        "https://127.0.0.1:1",
    ]);
    assert_eq!(code, Some(1));
    assert!(stderr.starts_with("error: CA bundle "), "{stderr}");
    assert!(stderr.contains("empty.pem"), "{stderr}");
    let (code, stdout, _) = tuf_verify(&[
        "--json",
        "--ca-bundle",
        missing.to_str().unwrap(),
        "refresh",
        "--state",
        "s",
        "--repo",
        "https://127.0.0.1:1",
    ]);
    assert_eq!(code, Some(1));
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(v["error"]["kind"], "ca_bundle");
}
