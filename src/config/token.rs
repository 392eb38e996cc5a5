//! The access token of a [`Settings`]: where it is read from (a
//! workspace's `token_env` or `token_file`, else `INTERCOM_ACCESS_TOKEN`,
//! else `token_file`) and the messages that name its source, never its
//! value.

use super::TOKEN_ENV;
use super::settings::Settings;
use crate::error::{Error, Result};
use crate::secret::AccessToken;

impl Settings {
    /// Where a `[[workspace]]`'s token is read from, for messages (never
    /// the token): `the environment variable X (its token_env)` or `the
    /// file P (token_file)`; [`Settings::token`] attaches the source it
    /// really used to the token.
    pub fn token_source(&self) -> String {
        match (&self.token_env, &self.token_file) {
            (Some(var), _) => format!("the environment variable {var} (its `token_env`)"),
            (None, Some(path)) => format!("the file {} (`token_file`)", path.display()),
            (None, None) => format!("the {} environment variable", super::TOKEN_ENV),
        }
    }

    /// The access token: a `[[workspace]]`'s own `token_env` or
    /// `token_file` (never `INTERCOM_ACCESS_TOKEN`, which would give every
    /// workspace the same token); without blocks `INTERCOM_ACCESS_TOKEN`,
    /// else the `token_file`.
    pub fn token(&self) -> Result<AccessToken> {
        if let Some(var) = &self.token_env {
            return std::env::var(var)
                .ok()
                .and_then(AccessToken::new)
                .map(|t| t.with_source(self.token_source()))
                .ok_or_else(|| {
                    Error::Config(format!(
                        "no access token for workspace `{}`: the environment variable {var} \
                         (its `token_env`) is not set or empty",
                        self.workspace
                    ))
                });
        }
        if self.workspace.is_empty()
            && let Some(t) = std::env::var(TOKEN_ENV).ok().and_then(AccessToken::new)
        {
            return Ok(t.with_source(format!("the {TOKEN_ENV} environment variable")));
        }
        if let Some(path) = &self.token_file {
            // The value is not shown: it may be a token pasted by mistake
            // (the third trial: INTERCOM_TOKEN_FILE=<token>).
            let text = std::fs::read_to_string(path).map_err(|e| {
                Error::Config(format!(
                    "cannot read the token file that {} names ({e}); it must be the path of a \
                     file that holds the access token (the value given is not shown: it may \
                     be a token); to give the token itself, set the {TOKEN_ENV} environment \
                     variable instead",
                    self.token_file_from
                ))
            })?;
            return AccessToken::new(text)
                .map(|t| t.with_source(format!("the file {} (`token_file`)", path.display())))
                .ok_or_else(|| Error::Config(format!("token_file {} is empty", path.display())));
        }
        // A token put in a variable nothing reads (INTERCOM_TOKEN): say so.
        let unread = super::env::unread_token_variables(&[]);
        let seen = match unread.as_slice() {
            [] => String::new(),
            [one] => format!(" ({one} is set, but intercom-export does not read it)"),
            many => format!(
                " ({} are set, but intercom-export reads none of them)",
                many.join(", ")
            ),
        };
        Err(Error::Config(format!(
            "no access token{seen}: set the {TOKEN_ENV} environment variable to your Intercom \
             access token, or set `token_file` in the config to a file that holds it"
        )))
    }
}

/// Where `token_file` was given, for messages (never its value): the
/// `INTERCOM_TOKEN_FILE` variable, or the key in the config file (of the
/// `[[workspace]]` block `block`).
pub(super) fn token_file_from(origin: &super::file::Origin, block: Option<&str>) -> String {
    if block.is_none() && origin.from_env.iter().any(|k| k == "token_file") {
        return format!("{}TOKEN_FILE", super::ENV_PREFIX);
    }
    let file = match &origin.path {
        Some(p) => format!("the config file {}", p.display()),
        None => "the config".to_string(),
    };
    match block {
        Some(name) => format!("`token_file` of [[workspace]] `{name}` in {file}"),
        None => format!("`token_file` in {file}"),
    }
}
