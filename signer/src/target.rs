//! Target path validation.
//!
//! Every name that reaches the tree, the write-ahead log or the published repository passes
//! [`validate`] first. The property kept: a target name is a plain relative path that means the
//! same thing to every client and every file system (no `..` or `.` segments, no absolute paths,
//! no backslashes, no control characters), so a name can neither escape the role's `targets/`
//! directory when its bytes are stored nor be spelled two ways that hash to two different keys.
//! For a role with the crates.io index layout, only the paths that layout can hold are accepted.

use serde::{Deserialize, Serialize};

/// The longest target name accepted, in bytes.
pub const MAX_NAME_BYTES: usize = 255;

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
            PathError::LeadingSlash => "path_leading_slash",
            PathError::Backslash => "path_backslash",
            PathError::ControlCharacter(_) => "path_control_character",
            PathError::EmptySegment => "path_empty_segment",
            PathError::DotSegment(_) => "path_dot_segment",
            PathError::NotUtf8 => "path_not_utf8",
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

fn validate_generic(name: &str) -> Result<(), PathError> {
    if name.is_empty() {
        return Err(PathError::Empty);
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(PathError::TooLong(name.len()));
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

/// The index path of a crate, as cargo computes it (from the lowercased name).
pub fn index_path(crate_name: &str) -> String {
    let lower = crate_name.to_ascii_lowercase();
    match lower.len() {
        1 => format!("1/{lower}"),
        2 => format!("2/{lower}"),
        3 => format!("3/{}/{lower}", &lower[..1]),
        _ => format!("{}/{}/{lower}", &lower[..2], &lower[2..4]),
    }
}

fn validate_index_path(path: &str) -> Result<(), PathError> {
    if path == "config.json" {
        return Ok(());
    }
    let Some((_, name)) = path.rsplit_once('/') else {
        return Err(PathError::NotIndexPath(path.to_owned()));
    };
    validate_crate_name(name)?;
    let expected = index_path(name);
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
        assert_eq!(validate(&"x".repeat(255), Layout::Generic), Ok(()));
        assert_eq!(validate("..a/b..", Layout::Generic), Ok(()));
        assert_eq!(
            validate_bytes(b"\xff", Layout::Generic),
            Err(PathError::NotUtf8)
        );
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
        assert_eq!(index_path("Serde"), "se/rd/serde");
        assert_eq!(index_path("syn"), "3/s/syn");
    }
}
