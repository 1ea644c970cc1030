//! Writer authentication: bearer tokens, each allowed to write one role.
//!
//! Properties kept: tokens are never stored, only their SHA-256; a presented token is hashed
//! and compared with every stored hash in constant time (`subtle`), visiting all of them
//! whatever matches, so timing tells nothing about which hash (or how much of one) matched.

use axum::http::HeaderMap;
use headers::HeaderMapExt as _;
use headers::authorization::{Authorization, Bearer};
use sha2::{Digest as _, Sha256};
use subtle::{ConditionallySelectable, ConstantTimeEq};

/// The outcome of checking a request's credentials for a role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthOutcome {
    /// A valid token for this role.
    Allowed,
    /// No `Authorization: Bearer` header, or a token no role knows: 401.
    Unauthenticated,
    /// A valid token for another role: 403.
    Forbidden,
}

/// Every role's token hashes.
#[derive(Debug, Clone, Default)]
pub struct TokenTable {
    entries: Vec<([u8; 32], u32)>,
    roles: Vec<String>,
}

impl TokenTable {
    /// Adds a role's token hashes (lowercase hex, as the config holds them).
    pub fn add_role(&mut self, role: &str, hashes: &[String]) {
        let index = u32::try_from(self.roles.len()).unwrap_or(u32::MAX);
        self.roles.push(role.to_owned());
        for h in hashes {
            let mut out = [0u8; 32];
            if hex::decode_to_slice(h, &mut out).is_ok() {
                self.entries.push((out, index));
            }
        }
    }

    /// Checks a request's `Authorization: Bearer` header for `role`.
    pub fn check(&self, headers: &HeaderMap, role: &str) -> AuthOutcome {
        let Some(auth) = headers.typed_get::<Authorization<Bearer>>() else {
            return AuthOutcome::Unauthenticated;
        };
        let token = auth.token().trim();
        if token.is_empty() {
            return AuthOutcome::Unauthenticated;
        }
        let hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        // 0 means "no match"; role indices are stored plus one.
        let mut found = 0u32;
        for (stored, index) in &self.entries {
            let hit = stored.ct_eq(&hash);
            found = u32::conditional_select(&found, &(index + 1), hit);
        }
        if found == 0 {
            return AuthOutcome::Unauthenticated;
        }
        match self.roles.get((found - 1) as usize) {
            Some(r) if r == role => AuthOutcome::Allowed,
            _ => AuthOutcome::Forbidden,
        }
    }
}

/// The token table in use: replaced whole by a reload (SIGHUP), so that a request is checked
/// against either the old table or the new one, never a mix.
#[derive(Debug, Default)]
pub struct LiveTokens(std::sync::RwLock<std::sync::Arc<TokenTable>>);

impl LiveTokens {
    /// Starts with `table`.
    pub fn new(table: TokenTable) -> Self {
        LiveTokens(std::sync::RwLock::new(std::sync::Arc::new(table)))
    }

    /// Checks a request's credentials against the current table ([`TokenTable::check`]).
    pub fn check(&self, headers: &HeaderMap, role: &str) -> AuthOutcome {
        let table = self
            .0
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        table.check(headers, role)
    }

    /// Puts `table` in use for every later request.
    pub fn replace(&self, table: TokenTable) {
        *self
            .0
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = std::sync::Arc::new(table);
    }
}

/// The SHA-256 hex of a token, as the config stores it.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use headers::Header as _;

    #[test]
    fn tokens_map_to_one_role() {
        let mut t = TokenTable::default();
        t.add_role("a", &[token_hash("ta")]);
        t.add_role("b", &[token_hash("tb"), token_hash("tb2")]);
        let h = |v: Option<&str>| {
            let mut m = HeaderMap::new();
            if let Some(v) = v {
                m.insert(Authorization::<Bearer>::name(), v.parse().unwrap());
            }
            m
        };
        assert_eq!(t.check(&h(Some("Bearer ta")), "a"), AuthOutcome::Allowed);
        assert_eq!(t.check(&h(Some("Bearer tb2")), "b"), AuthOutcome::Allowed);
        assert_eq!(t.check(&h(Some("bearer tb2")), "b"), AuthOutcome::Allowed);
        assert_eq!(t.check(&h(Some("Bearer ta")), "b"), AuthOutcome::Forbidden);
        assert_eq!(
            t.check(&h(Some("Bearer nope")), "a"),
            AuthOutcome::Unauthenticated
        );
        assert_eq!(
            t.check(&h(Some("Basic ta")), "a"),
            AuthOutcome::Unauthenticated
        );
        assert_eq!(t.check(&h(None), "a"), AuthOutcome::Unauthenticated);
        assert_eq!(
            t.check(&h(Some("Bearer ")), "a"),
            AuthOutcome::Unauthenticated
        );
    }
}
