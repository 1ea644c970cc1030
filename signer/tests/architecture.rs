//! The module map of `docs/architecture.md`, checked: every `crate::…` path in `signer/src`
//! goes only where the flow allows (`http → sequencer → tree → metadata → publish`, the
//! shared types below them, `service` wiring them together above), and the allowed graph has
//! no cycle. A new import against the flow fails this test and says which file and which line.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// What each top-level module may use. Everything not listed is forbidden.
const ALLOWED: &[(&str, &[&str])] = &[
    // Shared types and leaves of the graph.
    ("target", &[]),
    ("change", &[]),
    ("round", &[]),
    ("layout", &[]),
    ("lock", &[]),
    ("metrics", &[]),
    ("logging", &[]),
    ("systemd", &[]),
    ("config", &["logging", "target"]),
    // The S3 client, below the stages that store in a bucket.
    ("bucket", &["config"]),
    ("state", &["config"]),
    // Object storage and who may write it.
    ("bucket", &["config"]),
    ("lease", &["bucket", "config"]),
    // The stages, in the order data flows through them (each may use the later ones).
    ("publish", &["bucket", "config", "round"]),
    ("metadata", &["round"]),
    // A role's root chain and online key, and how a reload hands them to its sequencer.
    ("trust", &["metadata"]),
    ("storage", &["bucket", "change", "layout", "lease", "round"]),
    ("tree", &["change"]),
    (
        "sequencer",
        &[
            "change", "config", "layout", "lease", "metadata", "metrics", "publish", "round",
            "state", "storage", "tree", "trust",
        ],
    ),
    ("server", &["config", "metrics"]),
    (
        "http",
        &[
            "change",
            "config",
            "metrics",
            "publish",
            "sequencer",
            "server",
            "state",
            "target",
            "tree",
        ],
    ),
    // Commands beside the service.
    (
        "import",
        &[
            "bucket",
            "config",
            "layout",
            "lock",
            "publish",
            "sequencer",
            "storage",
            "target",
        ],
    ),
    // A role on one of several nodes sharing a bucket: stand by, lead, stand by.
    (
        "leadership",
        &[
            "bucket",
            "lease",
            "publish",
            "sequencer",
            "state",
            "storage",
        ],
    ),
    // The read-only mirror: follows an upstream, verifies, serves through `http` and `server`
    // and stops like the service (`service::Running`); no sequencer, no key.
    (
        "mirror",
        &[
            "bucket", "config", "http", "lock", "metrics", "publish", "server", "service", "state",
            "target",
        ],
    ),
    // The wiring: the only module that knows them all.
    (
        "service",
        &[
            "bucket",
            "config",
            "http",
            "layout",
            "leadership",
            "lease",
            "lock",
            "metadata",
            "metrics",
            "publish",
            "sequencer",
            "server",
            "state",
            "storage",
            "trust",
        ],
    ),
    // Reloading a running signer (SIGHUP): above the wiring it changes.
    ("reload", &["config", "http", "logging", "service", "trust"]),
];

fn module_of(rel: &Path) -> String {
    let first = rel.components().next().unwrap();
    let name = first.as_os_str().to_string_lossy();
    name.trim_end_matches(".rs").to_owned()
}

/// Every `crate::NAME` in the text, with its line, outside comments.
fn crate_paths(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            let after = &rest[at + "crate::".len()..];
            let name: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            // `crate::{a, b}` in a use: every name in the braces.
            if let Some(braced) = after.strip_prefix('{') {
                let inner = braced.split('}').next().unwrap_or("");
                for part in inner.split(',') {
                    let n: String = part
                        .trim()
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect();
                    if !n.is_empty() {
                        out.push((i + 1, n));
                    }
                }
            } else if !name.is_empty() {
                out.push((i + 1, name.clone()));
            }
            rest = &after[name.len().min(after.len())..];
        }
    }
    out
}

fn visit(dir: &Path, files: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            visit(&path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
}

#[test]
fn imports_follow_the_flow_and_the_graph_has_no_cycle() {
    let allowed: BTreeMap<&str, BTreeSet<&str>> = ALLOWED
        .iter()
        .map(|(m, deps)| (*m, deps.iter().copied().collect()))
        .collect();

    // The graph itself: a topological order exists.
    let mut done: BTreeSet<&str> = BTreeSet::new();
    while done.len() < allowed.len() {
        let ready: Vec<&str> = allowed
            .iter()
            .filter(|(m, deps)| !done.contains(*m) && deps.iter().all(|d| done.contains(d)))
            .map(|(m, _)| *m)
            .collect();
        assert!(
            !ready.is_empty(),
            "the allowed module graph has a cycle among {:?}",
            allowed
                .keys()
                .filter(|m| !done.contains(*m))
                .collect::<Vec<_>>()
        );
        done.extend(ready);
    }

    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    visit(&src, &mut files);
    let mut violations = Vec::new();
    let mut seen_modules = BTreeSet::new();
    for file in &files {
        let rel = file.strip_prefix(&src).unwrap();
        let module = module_of(rel);
        if module == "lib" || module == "main" {
            continue;
        }
        seen_modules.insert(module.clone());
        let Some(deps) = allowed.get(module.as_str()) else {
            violations.push(format!(
                "{}: module `{module}` is not in the map; add it to ALLOWED and to docs/architecture.md",
                rel.display()
            ));
            continue;
        };
        let text = std::fs::read_to_string(file).unwrap();
        for (line, target) in crate_paths(&text) {
            if target == module || target == "internals" {
                continue;
            }
            if !deps.contains(target.as_str()) {
                violations.push(format!(
                    "{}:{line}: `{module}` uses `crate::{target}`, against the flow",
                    rel.display()
                ));
            }
        }
    }
    assert!(violations.is_empty(), "{}", violations.join("\n"));
    // Every module of the map exists, so the map stays the truth.
    for m in allowed.keys() {
        assert!(
            seen_modules.contains(*m),
            "module `{m}` in ALLOWED has no source"
        );
    }
}
