//! Target path validation (`tuf_signer::target::validate`), for both layouts.
//!
//! Checked: validation never panics, on any bytes; `validate_bytes` agrees with UTF-8 decoding
//! followed by `validate`; a name accepted by either layout is a plain relative path: not
//! empty, at most 255 bytes, no leading `/`, no `\`, no control character, no empty, `.` or
//! `..` segment, and the standard library reads it as exactly its segments (so it cannot
//! escape the role's `targets/` directory). A crates.io index name also passes the generic
//! rules and is `config.json` or the index path of its own lowercase crate name.
//! `index_path` never panics, on any string, and what it returns is a valid index path.
#![no_main]

use std::path::{Component, Path};

use libfuzzer_sys::fuzz_target;
use tuf_signer::target::{
    Layout, MAX_CRATE_NAME, MAX_NAME_BYTES, index_path, validate, validate_bytes,
};

fn check_plain(name: &str) {
    assert!(!name.is_empty());
    assert!(name.len() <= MAX_NAME_BYTES);
    assert!(!name.starts_with('/'), "{name:?}");
    assert!(!name.contains('\\'), "{name:?}");
    assert!(!name.chars().any(char::is_control), "{name:?}");
    for segment in name.split('/') {
        assert!(!matches!(segment, "" | "." | ".."), "{name:?}");
    }
    let components: Vec<&str> = Path::new(name)
        .components()
        .map(|c| match c {
            Component::Normal(s) => s.to_str().expect("UTF-8"),
            other => panic!("{name:?} has the component {other:?}"),
        })
        .collect();
    assert_eq!(components.join("/"), name, "the path reads differently");
}

fuzz_target!(|data: &[u8]| {
    tuf_fuzz::begin(data.len());
    for layout in [Layout::Generic, Layout::CratesIndex] {
        let from_bytes = validate_bytes(data, layout);
        let Ok(name) = std::str::from_utf8(data) else {
            assert!(from_bytes.is_err());
            continue;
        };
        let result = validate(name, layout);
        assert_eq!(from_bytes.map(|_| ()), result.clone());
        if let Err(e) = &result {
            assert!(!e.code().is_empty());
            assert!(!e.to_string().is_empty());
            continue;
        }
        check_plain(name);
        if layout == Layout::CratesIndex {
            assert_eq!(validate(name, Layout::Generic), Ok(()));
            if name != "config.json" {
                let crate_name = name.rsplit('/').next().expect("a segment");
                assert!(crate_name.len() <= MAX_CRATE_NAME);
                assert!(
                    crate_name
                        .bytes()
                        .next()
                        .is_some_and(|b| b.is_ascii_lowercase())
                );
                assert!(crate_name.bytes().all(|b| b.is_ascii_lowercase()
                    || b.is_ascii_digit()
                    || b == b'-'
                    || b == b'_'));
                assert_eq!(index_path(crate_name).as_deref(), Ok(name));
            }
        }
    }
    // On any string: a path, which is a valid index path for that crate, or an error.
    if let Ok(s) = std::str::from_utf8(data)
        && let Ok(path) = index_path(s)
    {
        assert_eq!(
            validate(&path, Layout::CratesIndex),
            Ok(()),
            "{s:?} -> {path:?}"
        );
        assert!(path.ends_with(&s.to_ascii_lowercase()));
    }
});
