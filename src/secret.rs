//! The access token, wrapped so that it cannot leak by accident.
//!
//! `AccessToken` prints as `***` with both `Debug` and `Display`; the only way
//! to read it is [`AccessToken::expose`], which only the HTTP client calls to
//! build the `Authorization` header (marked sensitive there too).

use std::fmt;

/// An Intercom access token.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken(String);

impl AccessToken {
    /// Wrap a token, trimming surrounding whitespace (token files end in a newline).
    pub fn new(token: impl Into<String>) -> Option<Self> {
        let token = token.into();
        let trimmed = token.trim();
        if trimmed.is_empty() {
            None
        } else {
            Some(Self(trimmed.to_string()))
        }
    }

    /// The secret itself. Only for building the `Authorization` header.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessToken(***)")
    }
}

impl fmt::Display for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints_the_secret() {
        let t = AccessToken::new(" s3cr3t-token\n").expect("non-empty");
        assert_eq!(t.expose(), "s3cr3t-token");
        assert!(!format!("{t:?} {t}").contains("s3cr3t"));
        assert!(AccessToken::new("  \n").is_none());
    }
}
