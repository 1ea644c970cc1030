//! Content negotiation of proof answers (`docs/api.md`, "Formats"): JSON, the default, or the
//! POUF's binary encoding (`docs/pouf.md` §10) for `Accept: application/vnd.tuf-merkle-proof`.
//!
//! Properties kept:
//! - JSON unless the client asks for binary: no `Accept`, `*/*`, `application/*` and any tie
//!   between the two answer JSON, so existing clients, curl and browsers see no change.
//! - Binary when the client prefers it: a higher `q`, or the same `q` named explicitly where
//!   JSON is only covered by a wildcard.
//! - 406 `not_acceptable` only when the header rules both out (`Accept: text/html`,
//!   `application/json;q=0`): a client that can read neither is told so rather than sent bytes
//!   it would misread. Errors are JSON whatever was asked.
//! - Parsing never fails: an element that is not a media range, or whose `q` is not a
//!   quality value, is ignored, as if the client had not sent it.

use axum::http::header::ACCEPT;
use axum::http::{HeaderMap, StatusCode};

use super::error::ApiError;

/// The media type of the binary answers.
pub(super) const BINARY: &str = tuf_merkle::binary::MEDIA_TYPE;
/// The media type of the JSON answers.
pub(super) const JSON: &str = "application/json";

/// How a proof answer is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Format {
    /// `application/json`: the answer object of `docs/api.md`, the proof in POUF §4–§6's forms.
    Json,
    /// `application/vnd.tuf-merkle-proof`: POUF §10.5's answer.
    Binary,
}

impl Format {
    /// The `Content-Type` of an answer in this format.
    pub(super) fn media_type(self) -> &'static str {
        match self {
            Format::Json => JSON,
            Format::Binary => BINARY,
        }
    }
}

/// The format `headers` (their `Accept` fields) ask for, or 406.
pub(super) fn choose(headers: &HeaderMap) -> Result<Format, ApiError> {
    let mut fields = headers
        .get_all(ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .peekable();
    if fields.peek().is_none() {
        return Ok(Format::Json);
    }
    let ranges: Vec<Range<'_>> = fields
        .flat_map(|f| f.split(','))
        .filter_map(range)
        .collect();
    if ranges.is_empty() {
        // Only empty or unreadable elements: as if there were no `Accept` at all.
        return Ok(Format::Json);
    }
    let json = preference(&ranges, JSON);
    let binary = preference(&ranges, BINARY);
    if json.quality == 0 && binary.quality == 0 {
        return Err(ApiError::new(
            StatusCode::NOT_ACCEPTABLE,
            "not_acceptable",
            format!("proofs are answered as {JSON} (the default) or {BINARY} (docs/pouf.md §10)"),
        ));
    }
    let binary_first = binary.quality > json.quality
        || binary.quality == json.quality && binary.specificity > json.specificity;
    Ok(if binary_first {
        Format::Binary
    } else {
        Format::Json
    })
}

/// One element of `Accept`: a media range and its quality in thousandths.
struct Range<'a> {
    kind: &'a str,
    subtype: &'a str,
    quality: u16,
}

/// How much the client wants a media type: the quality of the most specific range that
/// matches it (0 if none does), and that specificity (2 exact, 1 `type/*`, 0 `*/*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Preference {
    quality: u16,
    specificity: u8,
}

fn preference(ranges: &[Range<'_>], media_type: &str) -> Preference {
    let (kind, subtype) = media_type.split_once('/').unwrap_or((media_type, ""));
    let mut best: Option<Preference> = None;
    for r in ranges {
        let specificity = if r.kind == "*" && r.subtype == "*" {
            0
        } else if r.kind.eq_ignore_ascii_case(kind) && r.subtype == "*" {
            1
        } else if r.kind.eq_ignore_ascii_case(kind) && r.subtype.eq_ignore_ascii_case(subtype) {
            2
        } else {
            continue;
        };
        let p = Preference {
            quality: r.quality,
            specificity,
        };
        // The most specific range decides; of several equally specific, the highest quality.
        best = Some(match best {
            Some(b) if (b.specificity, b.quality) >= (p.specificity, p.quality) => b,
            _ => p,
        });
    }
    best.unwrap_or(Preference {
        quality: 0,
        specificity: 0,
    })
}

/// `type/subtype *( ; param )`, with `q` read as RFC 9110 §12.4.2 writes it; `None` for what
/// is not one.
fn range(element: &str) -> Option<Range<'_>> {
    let mut parts = element.split(';');
    let (kind, subtype) = parts.next()?.trim().split_once('/')?;
    let token = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic() && b != b'/');
    if !token(kind) || !token(subtype) || kind == "*" && subtype != "*" {
        return None;
    }
    let mut quality = 1000;
    for param in parts {
        let Some((name, value)) = param.split_once('=') else {
            continue;
        };
        if name.trim().eq_ignore_ascii_case("q") {
            quality = qvalue(value.trim())?;
        }
    }
    Some(Range {
        kind,
        subtype,
        quality,
    })
}

/// `0[.ddd]` or `1[.000]` in thousandths.
fn qvalue(s: &str) -> Option<u16> {
    let (whole, fraction) = s.split_once('.').unwrap_or((s, ""));
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths = format!("{fraction:0<3}").parse::<u16>().ok()?;
    match whole {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with(accept: &[&str]) -> Result<Format, u16> {
        let mut h = HeaderMap::new();
        for a in accept {
            h.append(ACCEPT, HeaderValue::from_str(a).unwrap());
        }
        choose(&h).map_err(|e| e.status().as_u16())
    }

    #[test]
    fn json_stays_the_default() {
        for accept in [
            &[][..],
            &[""],
            &["*/*"],
            &["application/*"],
            &["application/json"],
            &["application/json, */*;q=0.5"],
            &["text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"],
            // Both named with one quality: the server's default.
            &["application/vnd.tuf-merkle-proof, application/json"],
            &["application/json;q=0.9, application/vnd.tuf-merkle-proof;q=0.5"],
            // Unreadable elements are ignored.
            &["garbage, ;;, /, application/vnd.tuf-merkle-proof;q=2"],
        ] {
            assert_eq!(with(accept), Ok(Format::Json), "{accept:?}");
        }
    }

    #[test]
    fn binary_when_preferred() {
        for accept in [
            &["application/vnd.tuf-merkle-proof"][..],
            &["APPLICATION/VND.TUF-MERKLE-PROOF"],
            &["application/vnd.tuf-merkle-proof, application/json;q=0.5"],
            &["application/vnd.tuf-merkle-proof, */*"],
            &["application/vnd.tuf-merkle-proof ; q=1.000, application/*;q=0.999"],
            &[
                "application/json;q=0",
                "application/vnd.tuf-merkle-proof;q=0.001",
            ],
            &["*/*;q=0.1, application/vnd.tuf-merkle-proof;q=0.2"],
            // The most specific range decides: JSON is refused, binary comes under `*/*`.
            &["application/json;q=0, */*;q=0.5"],
        ] {
            assert_eq!(with(accept), Ok(Format::Binary), "{accept:?}");
        }
    }

    #[test]
    fn neither_is_406() {
        for accept in [
            &["text/html"][..],
            &["application/json;q=0"],
            &["application/*;q=0"],
            &["*/*;q=0"],
            &["application/vnd.tuf-merkle-proof;q=0, application/json;q=0.000"],
        ] {
            assert_eq!(with(accept), Err(406), "{accept:?}");
        }
    }

    #[test]
    fn quality_values_are_read_strictly() {
        assert_eq!(qvalue("1"), Some(1000));
        assert_eq!(qvalue("1.000"), Some(1000));
        assert_eq!(qvalue("0.5"), Some(500));
        assert_eq!(qvalue("0.05"), Some(50));
        assert_eq!(qvalue("0"), Some(0));
        for bad in ["1.001", "2", "0.0001", "-0", ".5", "0.5x", "", "01"] {
            assert_eq!(qvalue(bad), None, "{bad}");
        }
    }
}
