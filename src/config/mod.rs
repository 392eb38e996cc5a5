//! Configuration: a TOML file, the environment, and flags, resolved into
//! [`Settings`].
//!
//! [`FileConfig`] mirrors `config/example.toml` key for key (a test keeps the
//! two in sync); unknown keys are errors. Flags given on the command line
//! win over the file. The access token is never a flag or a config value:
//! it comes from `INTERCOM_ACCESS_TOKEN` or from the file named by
//! `token_file`.
//!
//! One config can name several Intercom workspaces (`[[workspace]]` blocks,
//! [`WorkspaceConfig`]): each gets its own token, base URL, reports, output
//! and options, layered over the top-level keys; [`Settings::resolve_all`]
//! gives one [`Settings`] per workspace. Without blocks there is one
//! workspace named `''`, exactly as before.
//!
//! By noun: `file.rs` (the file and its workspace blocks), `env.rs` (the
//! `INTERCOM_*` variables), `settings.rs` (flags and resolution into
//! [`Settings`]); this file holds the token variable, regions and defaults.

use serde::{Deserialize, Serialize};

mod env;
mod exclude;
mod file;
mod settings;
mod token;

pub use crate::state::StateLocation;
pub use env::ENV_PREFIX;
pub use file::{FileConfig, WorkspaceConfig};
pub use settings::{Overrides, Settings};

/// The environment variable that holds the access token.
pub const TOKEN_ENV: &str = "INTERCOM_ACCESS_TOKEN";

/// Intercom's data-hosting regions: `us`, `eu`, `au`, in any case (`EU`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase", try_from = "String")]
pub enum Region {
    Us,
    Eu,
    Au,
}

/// The region names a config or `INTERCOM_REGION` accepts, for messages.
pub const REGION_NAMES: &str = "us, eu or au";

impl TryFrom<String> for Region {
    type Error = String;

    /// `us`, `eu` or `au`, in any case.
    fn try_from(name: String) -> std::result::Result<Self, String> {
        match name.trim().to_ascii_lowercase().as_str() {
            "us" => Ok(Region::Us),
            "eu" => Ok(Region::Eu),
            "au" => Ok(Region::Au),
            _ => Err(format!(
                "unknown region `{name}`; use {REGION_NAMES} (in any case)"
            )),
        }
    }
}

impl Region {
    pub fn base_url(self) -> &'static str {
        match self {
            Region::Us => "https://api.intercom.io",
            Region::Eu => "https://api.eu.intercom.io",
            Region::Au => "https://api.au.intercom.io",
        }
    }
}

/// Defaults, shared with `config/example.toml`.
pub mod defaults {
    pub const OUTPUT_DIR: &str = "intercom-export-output";
    pub const STATE_PATH: &str = "intercom-export-state.db";
    pub const PAGE_SIZE: u32 = 150;
    pub const ROWS_PER_FILE: u64 = 1_000_000;
    pub const REQUEST_TIMEOUT_SECS: u64 = 60;
    pub const MAX_RETRIES: usize = 8;
    pub const MAX_RETRY_SECS: u64 = 600;
    /// The most calls in flight (an upper bound: the client finds the
    /// number the rate limit needs at the measured latency below it).
    pub const CONCURRENCY: usize = crate::http::inflight::DEFAULT_BOUND;
    /// The largest `concurrency` accepted.
    pub const MAX_CONCURRENCY: usize = 256;
    pub const LOOKBACK_SECS: u64 = 0;
    pub const CHECKPOINT_SECS: u64 = 60;
    pub const LEASE_TTL_SECS: u64 = crate::state::DEFAULT_LEASE_TTL_SECS;
    /// `[[workspace]]` blocks synced at once: each workspace has its own
    /// rate limit, so this bounds only local resources (memory, sockets,
    /// state connections), not Intercom's quota.
    pub const MAX_PARALLEL_WORKSPACES: usize = 16;
    /// The highest `max_parallel_workspaces` accepted.
    pub const MAX_PARALLEL_WORKSPACES_CAP: usize = 256;
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
