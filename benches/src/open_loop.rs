//! An open-loop load of single-change writes, as the registry's publish pipeline sends them: a
//! fixed number per second (a burst every millisecond), each on its own task whether or not the
//! earlier ones were answered, over a pool of kept-alive connections. Open, not closed, so that
//! a slow answer delays no later request and the latencies include any queueing in the signer.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::json;
use tuf_testkit::http::Conn;
use tuf_testkit::sha256_hex;

/// What to send.
#[derive(Debug, Clone, Copy)]
pub struct Paced<'a> {
    /// The signer.
    pub addr: SocketAddr,
    /// The `Authorization` header's value (`Bearer TOKEN`).
    pub auth: &'a str,
    /// Writes per second.
    pub rate: usize,
    /// For how long.
    pub secs: u64,
    /// The `wait=` of each write (`signed`, `durable`).
    pub wait: &'static str,
    /// Seeds the choice of names.
    pub seed: u64,
    /// Makes each write's contents differ between loads with the same seed.
    pub salt: u64,
}

/// `PUT /api/v1/crates.io/targets/{name}?wait=…` `rate` times a second for `secs`, each `name`
/// drawn by `pick`; asserts every answer is 200 and returns the latencies in milliseconds,
/// sorted.
pub async fn paced_puts(load: Paced<'_>, mut pick: impl FnMut(&mut StdRng) -> String) -> Vec<f64> {
    let Paced {
        addr,
        auth,
        rate,
        secs,
        wait,
        seed,
        salt,
    } = load;
    let auth = Arc::new(auth.to_owned());
    let mut interval = tokio::time::interval(Duration::from_millis(1));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut rng = StdRng::seed_from_u64(seed);
    let pool: Arc<Mutex<Vec<Conn>>> = Arc::default();
    let mut tasks = Vec::with_capacity(rate * secs as usize);
    for tick in 0..secs as usize * 1000 {
        interval.tick().await;
        // Spread `rate` over 1,000 ticks exactly.
        let count = (tick + 1) * rate / 1000 - tick * rate / 1000;
        for k in 0..count {
            let name = pick(&mut rng);
            let body = json!({ "sha256": sha256_hex(format!("{salt} {tick} {k}").as_bytes()), "length": tick + 1 }).to_string();
            let (auth, pool) = (auth.clone(), pool.clone());
            tasks.push(tokio::spawn(async move {
                let path = format!("/api/v1/crates.io/targets/{name}?wait={wait}");
                let t = Instant::now();
                let idle = pool.lock().unwrap().pop();
                let mut conn = match idle {
                    Some(c) => c,
                    None => Conn::open(addr).await.expect("connect"),
                };
                let headers = [
                    ("Content-Type", "application/json"),
                    ("Authorization", auth.as_str()),
                ];
                let r = conn
                    .send("PUT", &path, &headers, body.as_bytes())
                    .await
                    .expect("request");
                let ms = t.elapsed().as_secs_f64() * 1e3;
                pool.lock().unwrap().push(conn);
                assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
                ms
            }));
        }
    }
    let mut latencies = Vec::with_capacity(tasks.len());
    for t in tasks {
        latencies.push(t.await.unwrap());
    }
    latencies.sort_by(f64::total_cmp);
    latencies
}
