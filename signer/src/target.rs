//! Target path validation.
//!
//! Every name that reaches the tree, the write-ahead log or the published repository passes
//! [`validate`] first. The property kept: a target name is a plain relative path that means the
//! same thing to every client and every file system (no `..` or `.` segments, no absolute paths,
//! no backslashes, no control characters), so a name can neither escape the role's `targets/`
//! directory when its bytes are stored nor be spelled two ways that hash to two different keys.
//!
//! Names that look alike are refused, so that what a person reads is what a client verifies:
//! a name must be in Unicode NFC; it may not hold bidirectional controls, invisible
//! (default-ignorable) characters, white space at either end of a segment or any non-ASCII
//! white space; every non-ASCII character must be one that Unicode recommends for identifiers
//! (UTS #39 `Identifier_Status=Allowed`, which excludes compatibility forms such as fullwidth
//! letters) and each segment must meet UTS #39's "highly restrictive" level (one script, or
//! Latin with Han and kana, Han and Bopomofo, or Han and Hangul; so not Latin mixed with
//! Cyrillic or Greek). A segment may not start with 64 hex digits and
//! a dot, the shape of a consistent-snapshot file name (`targets/SHA256.NAME`), so that no name's
//! stored bytes can land on another name's consistent-snapshot path.
//!
//! For a role with the crates.io index layout, only the paths that layout can hold are accepted.

use serde::{Deserialize, Serialize};

/// The longest target name accepted, in bytes.
pub const MAX_NAME_BYTES: usize = 255;

/// The longest segment of a target name, in bytes: a consistent-snapshot target file is named
/// `SHA256.SEGMENT` (65 more bytes), and file systems hold at most 255 bytes per name.
pub const MAX_SEGMENT_BYTES: usize = 255 - 65;

/// The longest segment of a path of the published repository, in bytes (the file systems'
/// `NAME_MAX`): no longer file can exist, so a longer path is refused before any file is opened.
pub const MAX_REPOSITORY_SEGMENT_BYTES: usize = 255;

/// The longest crate name crates.io accepts.
pub const MAX_CRATE_NAME: usize = 64;

/// Which names a role accepts beyond the generic rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Layout {
    /// Any name that passes the generic rules.
    #[default]
    Generic,
    /// The crates.io index: `1/{name}`, `2/{name}`, `3/{c}/{name}`, `{ab}/{cd}/{name}` and
    /// `config.json`, with lowercase crate names.
    CratesIndex,
}

/// Why a target name was refused. Each way has its own variant (and API error code).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// The empty string.
    #[error("the target path is empty")]
    Empty,
    /// Longer than [`MAX_NAME_BYTES`].
    #[error("the target path is {0} bytes long; at most {MAX_NAME_BYTES} are allowed")]
    TooLong(usize),
    /// A segment longer than its limit ([`MAX_SEGMENT_BYTES`] in a target name,
    /// [`MAX_REPOSITORY_SEGMENT_BYTES`] in a repository path).
    #[error("a segment of the path is {length} bytes long; at most {max} are allowed per segment")]
    SegmentTooLong {
        /// The segment's length in bytes.
        length: usize,
        /// The limit.
        max: usize,
    },
    /// Starts with `/`.
    #[error("the target path starts with '/'; target paths are relative to the role's repository")]
    LeadingSlash,
    /// Holds a `\`.
    #[error("the target path contains a backslash; use '/' to separate segments")]
    Backslash,
    /// Holds a control character (U+0000 to U+001F, U+007F to U+009F).
    #[error("the target path contains the control character U+{0:04X}")]
    ControlCharacter(u32),
    /// Two `/` in a row, or a trailing `/`.
    #[error("the target path has an empty segment ('//' or a trailing '/')")]
    EmptySegment,
    /// A `.` or `..` segment.
    #[error("the target path has a '{0}' segment; paths must be normalised")]
    DotSegment(&'static str),
    /// Not valid UTF-8 (only raised by callers holding bytes).
    #[error("the target path is not valid UTF-8")]
    NotUtf8,
    /// A crates.io index path whose shape is not one the index layout has.
    #[error(
        "'{0}' is not a crates.io index path: expected 1/NAME, 2/NAME, 3/C/NAME, AB/CD/NAME or config.json"
    )]
    NotIndexPath(String),
    /// A crate name with a character crates.io does not allow in the index.
    #[error(
        "crate name '{0}' may only hold lowercase ASCII letters, digits, '-' and '_', and must start with a letter"
    )]
    BadCrateName(String),
    /// Not in Unicode Normalization Form C.
    #[error("the target path is not in Unicode NFC; normalise it before publishing")]
    NotNfc,
    /// A bidirectional control character (they reorder what a reader sees).
    #[error("the target path contains the bidirectional control character U+{0:04X}")]
    BidiControl(u32),
    /// An invisible (default-ignorable) character.
    #[error("the target path contains the invisible character U+{0:04X}")]
    InvisibleCharacter(u32),
    /// White space at either end of a segment, or non-ASCII white space anywhere.
    #[error("the target path has white space at the end of a segment or non-ASCII white space")]
    Whitespace,
    /// A character that looks like another or is not recommended for identifiers.
    #[error(
        "the target path contains U+{0:04X}, which is a compatibility form or not allowed in identifiers (UTS #39)"
    )]
    Confusable(u32),
    /// A segment that mixes scripts (say Latin and Cyrillic).
    #[error("the target path segment {0:?} mixes scripts")]
    MixedScript(String),
    /// A segment shaped like a consistent-snapshot file name.
    #[error(
        "the target path segment {0:?} starts with 64 hex digits and a dot, the shape of a consistent-snapshot file name"
    )]
    HashPrefix(String),
    /// A crate name longer than [`MAX_CRATE_NAME`].
    #[error("crate name is {0} characters long; at most {MAX_CRATE_NAME} are allowed")]
    CrateNameTooLong(usize),
    /// The directory part does not match the crate name.
    #[error("'{path}' is the wrong directory for crate '{name}': expected '{expected}'")]
    WrongIndexDirectory {
        /// The path given.
        path: String,
        /// The crate name in it.
        name: String,
        /// The path the index layout puts that crate at.
        expected: String,
    },
}

impl PathError {
    /// The stable API error code for this failure.
    pub fn code(&self) -> &'static str {
        match self {
            PathError::Empty => "path_empty",
            PathError::TooLong(_) => "path_too_long",
            PathError::SegmentTooLong { .. } => "path_segment_too_long",
            PathError::LeadingSlash => "path_leading_slash",
            PathError::Backslash => "path_backslash",
            PathError::ControlCharacter(_) => "path_control_character",
            PathError::EmptySegment => "path_empty_segment",
            PathError::DotSegment(_) => "path_dot_segment",
            PathError::NotUtf8 => "path_not_utf8",
            PathError::NotNfc => "path_not_nfc",
            PathError::BidiControl(_) => "path_bidi_control",
            PathError::InvisibleCharacter(_) => "path_invisible_character",
            PathError::Whitespace => "path_whitespace",
            PathError::Confusable(_) => "path_confusable",
            PathError::MixedScript(_) => "path_mixed_script",
            PathError::HashPrefix(_) => "path_hash_prefix",
            PathError::NotIndexPath(_) => "path_not_index_layout",
            PathError::BadCrateName(_) => "path_bad_crate_name",
            PathError::CrateNameTooLong(_) => "path_crate_name_too_long",
            PathError::WrongIndexDirectory { .. } => "path_wrong_index_directory",
        }
    }
}

/// Checks `name` against the generic rules and then the role's layout.
pub fn validate(name: &str, layout: Layout) -> Result<(), PathError> {
    validate_generic(name)?;
    match layout {
        Layout::Generic => Ok(()),
        Layout::CratesIndex => validate_index_path(name),
    }
}

/// Validates bytes that should be a target name.
pub fn validate_bytes(name: &[u8], layout: Layout) -> Result<&str, PathError> {
    let name = std::str::from_utf8(name).map_err(|_| PathError::NotUtf8)?;
    validate(name, layout)?;
    Ok(name)
}

/// The longest path of a published file: a target name behind `targets/`, a hash and a dot.
pub const MAX_REPOSITORY_PATH_BYTES: usize = 512;

/// Checks a path of the published repository (`timestamp.json`, `targets/DIR/SHA256.NAME`):
/// the structural rules of target names (a plain relative path with no `.`/`..` segment,
/// backslash or control character), which keep a read inside the repository, without the
/// rules that only names are held to (a consistent-snapshot file name starts with a hash).
pub fn validate_repository_path(path: &str) -> Result<(), PathError> {
    if path.len() > MAX_REPOSITORY_PATH_BYTES {
        return Err(PathError::TooLong(path.len()));
    }
    validate_structure(path)?;
    check_segments(path, MAX_REPOSITORY_SEGMENT_BYTES)
}

fn check_segments(path: &str, max: usize) -> Result<(), PathError> {
    match path.split('/').map(str::len).find(|l| *l > max) {
        Some(length) => Err(PathError::SegmentTooLong { length, max }),
        None => Ok(()),
    }
}

fn validate_generic(name: &str) -> Result<(), PathError> {
    if name.len() > MAX_NAME_BYTES {
        return Err(PathError::TooLong(name.len()));
    }
    validate_structure(name)?;
    check_segments(name, MAX_SEGMENT_BYTES)?;
    for segment in name.split('/') {
        if segment.starts_with(char::is_whitespace) || segment.ends_with(char::is_whitespace) {
            return Err(PathError::Whitespace);
        }
        if segment.len() > 64
            && segment.as_bytes()[64] == b'.'
            && segment.as_bytes()[..64].iter().all(u8::is_ascii_hexdigit)
        {
            return Err(PathError::HashPrefix(segment.to_owned()));
        }
    }
    if !name.is_ascii() {
        validate_unicode(name)?;
    }
    Ok(())
}

fn validate_structure(name: &str) -> Result<(), PathError> {
    if name.is_empty() {
        return Err(PathError::Empty);
    }
    if let Some(c) = name.chars().find(|c| c.is_control()) {
        return Err(PathError::ControlCharacter(u32::from(c)));
    }
    if name.starts_with('/') {
        return Err(PathError::LeadingSlash);
    }
    if name.contains('\\') {
        return Err(PathError::Backslash);
    }
    for segment in name.split('/') {
        match segment {
            "" => return Err(PathError::EmptySegment),
            "." => return Err(PathError::DotSegment(".")),
            ".." => return Err(PathError::DotSegment("..")),
            _ => {}
        }
    }
    Ok(())
}

/// The look-alike rules for names with non-ASCII characters (see the module documentation).
fn validate_unicode(name: &str) -> Result<(), PathError> {
    use unicode_security::GeneralSecurityProfile as _;
    use unicode_security::{RestrictionLevel, RestrictionLevelDetection as _};
    for c in name.chars() {
        if is_bidi_control(c) {
            return Err(PathError::BidiControl(u32::from(c)));
        }
        if is_default_ignorable(c) {
            return Err(PathError::InvisibleCharacter(u32::from(c)));
        }
        if !c.is_ascii() && c.is_whitespace() {
            return Err(PathError::Whitespace);
        }
    }
    if !unicode_normalization::is_nfc(name) {
        return Err(PathError::NotNfc);
    }
    if let Some(c) = name
        .chars()
        .find(|c| !c.is_ascii() && !c.identifier_allowed())
    {
        return Err(PathError::Confusable(u32::from(c)));
    }
    // UTS #39 "highly restrictive": one script per segment, or Latin with Han and Japanese
    // kana, Han and Bopomofo, or Han and Hangul. ASCII punctuation carries no script.
    for segment in name.split('/') {
        let letters: String = segment.chars().filter(|c| c.identifier_allowed()).collect();
        if letters.as_str().detect_restriction_level() > RestrictionLevel::HighlyRestrictive {
            return Err(PathError::MixedScript(segment.to_owned()));
        }
    }
    Ok(())
}

/// Unicode's bidirectional formatting characters (UAX #9): they change the order in which
/// the rest of a name is displayed.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Unicode's `Default_Ignorable_Code_Point` (DerivedCoreProperties.txt): characters that
/// render as nothing, so two names differing only by them look identical.
fn is_default_ignorable(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{061C}'
            | '\u{115F}'..='\u{1160}'
            | '\u{17B4}'..='\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{FFF0}'..='\u{FFF8}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0000}'..='\u{E0FFF}'
    )
}

/// The index path of a crate, as cargo computes it (from the lowercased name). Refuses a name
/// that is not a crate name once lowercased (the index layout has no path for it), rather than
/// slicing it where it has no character boundary.
pub fn index_path(crate_name: &str) -> Result<String, PathError> {
    let lower = crate_name.to_ascii_lowercase();
    validate_crate_name(&lower)?;
    // A crate name is ASCII, so every byte index below is a character boundary.
    Ok(match lower.len() {
        1 => format!("1/{lower}"),
        2 => format!("2/{lower}"),
        3 => format!("3/{}/{lower}", &lower[..1]),
        _ => format!("{}/{}/{lower}", &lower[..2], &lower[2..4]),
    })
}

fn validate_index_path(path: &str) -> Result<(), PathError> {
    if path == "config.json" {
        return Ok(());
    }
    let Some((_, name)) = path.rsplit_once('/') else {
        return Err(PathError::NotIndexPath(path.to_owned()));
    };
    validate_crate_name(name)?;
    let expected = index_path(name)?;
    if expected != path {
        return Err(PathError::WrongIndexDirectory {
            path: path.to_owned(),
            name: name.to_owned(),
            expected,
        });
    }
    Ok(())
}

fn validate_crate_name(name: &str) -> Result<(), PathError> {
    if name.len() > MAX_CRATE_NAME {
        return Err(PathError::CrateNameTooLong(name.len()));
    }
    let ok_chars = name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    let starts_with_letter = name.bytes().next().is_some_and(|b| b.is_ascii_lowercase());
    if !ok_chars || !starts_with_letter {
        return Err(PathError::BadCrateName(name.to_owned()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generic_rules() {
        assert_eq!(validate("a/b.txt", Layout::Generic), Ok(()));
        assert_eq!(validate("", Layout::Generic), Err(PathError::Empty));
        assert_eq!(
            validate("/a", Layout::Generic),
            Err(PathError::LeadingSlash)
        );
        assert_eq!(validate("a\\b", Layout::Generic), Err(PathError::Backslash));
        assert_eq!(
            validate("a//b", Layout::Generic),
            Err(PathError::EmptySegment)
        );
        assert_eq!(
            validate("a/", Layout::Generic),
            Err(PathError::EmptySegment)
        );
        assert_eq!(
            validate("a/../b", Layout::Generic),
            Err(PathError::DotSegment(".."))
        );
        assert_eq!(
            validate("./b", Layout::Generic),
            Err(PathError::DotSegment("."))
        );
        assert_eq!(
            validate("a\nb", Layout::Generic),
            Err(PathError::ControlCharacter(10))
        );
        assert_eq!(
            validate("a\u{85}b", Layout::Generic),
            Err(PathError::ControlCharacter(0x85))
        );
        assert_eq!(
            validate(&"x".repeat(256), Layout::Generic),
            Err(PathError::TooLong(256))
        );
        let long = |n: usize| format!("{}/{}", "x".repeat(n), "y".repeat(254 - n));
        assert_eq!(validate(&long(MAX_SEGMENT_BYTES), Layout::Generic), Ok(()));
        // A segment whose consistent-snapshot file name (`SHA256.SEGMENT`) would pass the file
        // systems' 255 bytes.
        assert_eq!(
            validate(&long(MAX_SEGMENT_BYTES + 1), Layout::Generic),
            Err(PathError::SegmentTooLong {
                length: MAX_SEGMENT_BYTES + 1,
                max: MAX_SEGMENT_BYTES
            })
        );
        assert_eq!(
            validate_repository_path(&format!("targets/{}", "0".repeat(256))),
            Err(PathError::SegmentTooLong {
                length: 256,
                max: MAX_REPOSITORY_SEGMENT_BYTES
            })
        );
        assert_eq!(
            validate_repository_path(&format!("targets/{}", "0".repeat(255))),
            Ok(())
        );
        assert_eq!(validate("..a/b..", Layout::Generic), Ok(()));
        assert_eq!(
            validate_bytes(b"\xff", Layout::Generic),
            Err(PathError::NotUtf8)
        );
    }

    #[test]
    fn look_alike_names_are_refused_with_their_own_codes() {
        let h = "ab".repeat(32);
        let cases: [(&str, &str); 14] = [
            ("cafe\u{301}/x", "path_not_nfc"),
            ("tool\u{200B}", "path_invisible_character"),
            ("tool\u{FEFF}", "path_invisible_character"),
            ("tool\u{2060}x", "path_invisible_character"),
            ("evil\u{202E}gpj.exe", "path_bidi_control"),
            ("a\u{2067}b", "path_bidi_control"),
            ("tool ", "path_whitespace"),
            (" tool", "path_whitespace"),
            ("dir /tool", "path_whitespace"),
            ("a\u{00A0}b", "path_whitespace"),
            ("\u{FF54}ool", "path_confusable"),
            ("p\u{0430}ypal", "path_mixed_script"),
            (&format!("{h}.tool/blocker"), "path_hash_prefix"),
            (&format!("a/{h}.b"), "path_hash_prefix"),
        ];
        for (name, code) in cases {
            let err = validate(name, Layout::Generic).expect_err(name);
            assert_eq!(err.code(), code, "{name:?}: {err}");
        }
        // Real names with non-ASCII letters in one script, NFC, still pass; so do ASCII names
        // with inner spaces and a hash that is not followed by a dot.
        for ok in [
            "café/menu.txt",
            "docs/über.pdf",
            "日本語/ファイル.txt",
            "My File.tar.gz",
            &format!("{h}x"),
            &h,
        ] {
            assert_eq!(validate(ok, Layout::Generic), Ok(()), "{ok:?}");
        }
    }

    #[test]
    fn index_layout() {
        for ok in [
            "1/a",
            "2/ab",
            "3/s/syn",
            "se/rd/serde",
            "to/ki/tokio-util",
            "config.json",
        ] {
            assert_eq!(validate(ok, Layout::CratesIndex), Ok(()), "{ok}");
        }
        assert!(matches!(
            validate("serde", Layout::CratesIndex),
            Err(PathError::NotIndexPath(_))
        ));
        assert!(matches!(
            validate("se/rd/Serde", Layout::CratesIndex),
            Err(PathError::BadCrateName(_))
        ));
        assert!(matches!(
            validate("3/s/9yn", Layout::CratesIndex),
            Err(PathError::BadCrateName(_))
        ));
        assert!(matches!(
            validate("se/re/serde", Layout::CratesIndex),
            Err(PathError::WrongIndexDirectory { .. })
        ));
        assert!(matches!(
            validate("2/abc", Layout::CratesIndex),
            Err(PathError::WrongIndexDirectory { .. })
        ));
        let long = format!("aa/aa/{}", "a".repeat(65));
        assert_eq!(
            validate(&long, Layout::CratesIndex),
            Err(PathError::CrateNameTooLong(65))
        );
        assert_eq!(index_path("Serde").as_deref(), Ok("se/rd/serde"));
        assert_eq!(index_path("syn").as_deref(), Ok("3/s/syn"));
        assert!(index_path("").is_err());
        assert!(index_path("\u{e9}t\u{e9}").is_err());
    }
}
