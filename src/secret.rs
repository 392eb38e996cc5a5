//! The access token, wrapped so that it cannot leak by accident.
//!
//! `AccessToken` prints as `***` with both `Debug` and `Display`; the only way
//! to read it is [`AccessToken::expose`], which only the HTTP client calls to
//! build the `Authorization` header (marked sensitive there too).

use std::fmt;

/// An Intercom access token, and where it was read from (for messages:
/// "the environment variable X", never the token itself).
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken(String, Option<String>);

/// Where a token without a stated source is set: the single-workspace advice.
pub const DEFAULT_TOKEN_SOURCE: &str = "the INTERCOM_ACCESS_TOKEN environment variable, or point \
     `token_file` in the config at a file that holds it";

impl AccessToken {
    /// Wrap a token, trimming surrounding whitespace (token files end in a newline).
    pub fn new(token: impl Into<String>) -> Option<Self> {
        let token = token.into();
        let trimmed = token.trim();
        if trimmed.is_empty() {
            None
        } else {
            Some(Self(trimmed.to_string(), None))
        }
    }

    /// The same token, saying where it was read from (a phrase that
    /// completes "set a valid token in …", e.g. "the environment variable
    /// TOKEN_B (its `token_env`)"). Named in a 401's message.
    pub fn with_source(mut self, source: impl Into<String>) -> Self {
        self.1 = Some(source.into());
        self
    }

    /// Where the token was read from ([`AccessToken::with_source`]), else
    /// [`DEFAULT_TOKEN_SOURCE`].
    pub fn source(&self) -> &str {
        self.1.as_deref().unwrap_or(DEFAULT_TOKEN_SOURCE)
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
        let named = t.with_source("the environment variable B");
        assert_eq!(named.source(), "the environment variable B");
        assert!(!format!("{named:?} {named}").contains("s3cr3t"));
    }
}
