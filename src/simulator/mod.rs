//! A deterministic, in-process simulator of the Intercom REST API (2.16, and
//! 2.11 shapes on request).
//!
//! Every test, benchmark and the README demo run against it; there is no
//! network. `intercom-export simulate` serves it on a port, and tests embed it
//! with [`spawn`] (mini-redis style: [`serve`] takes a listener and a shutdown
//! future).
//!
//! # Layout
//!
//! * `world`: compact per-record metadata, generation, `advance`.
//! * `clock`: the simulated "now" ([`Clock`]).
//! * `shapes/`: JSON builders deriving full records from `(seed, index, version)`.
//! * `query`: the search DSL; `search`: keyset pagination and the search engine.
//! * `routes/`: HTTP handlers (API and `/__sim` control plane).
//! * `stats`: request counters; `error`: `error.list` responses.
//! * `latency`: simulated response times per endpoint class (`--latency`).
//! * `rng`, `vocab`, `text`: hashing, word lists, HTML → text.
//!
//! # Semantics
//!
//! * **Auth.** Every API route needs `Authorization: Bearer <token>`; a
//!   missing header or a token in `--reject-token` gets 401 `unauthorized`
//!   ("Access Token Invalid"). `/__sim/*` needs no auth.
//! * **Page sizes.** `GET /contacts` default 10, `POST /contacts/search`
//!   default 50, `GET /conversations` and `POST /conversations/search` default
//!   20. Any `per_page` above 150 is **clamped** to 150; zero, negative or
//!   non-numeric values are 400 `parameter_invalid`.
//! * **Order.** The list endpoints return records in creation order (= id
//!   ascending). Searches sort by `sort.field` (`updated_at`, `created_at` or
//!   `id`, ties broken by id) and `sort.order` (default `descending`); without
//!   a `sort` the order is **`updated_at` descending**.
//! * **Cursors.** Opaque keyset cursors (last sort key + id), bound to the
//!   endpoint and sort they were issued for. A page sequence never skips or
//!   repeats a record whose sort key did not change, whatever happens to the
//!   world in between. Search cursors come only from the body; a
//!   `starting_after` in the query string is ignored.
//! * **Dates in search.** Contacts compare by UTC day (`=`, `<`, `>` only);
//!   conversations to the second (see `query.rs`).
//! * **Parts.** `--parts` is the *average* per conversation: each gets a
//!   uniform count in `1..=2·parts−1` (0 when `parts` is 0). A conversation's
//!   `updated_at` is its latest part's time (or `created_at` without parts).
//! * **Advance.** Moving the clock by N seconds updates about 0.5 % of
//!   contacts and conversations per simulated hour and creates about 0.2 %
//!   (at least one of each for N ≥ 3600), all with timestamps in
//!   `(old_now, new_now]`. Records are picked deterministically from the seed
//!   and the two instants. An updated contact gets a new version (new
//!   browser, last-seen times, custom attributes, tags), `updated_at` and
//!   one new data event at that time (users and leads alike); an
//!   updated conversation gets one new part (sometimes a close, snooze,
//!   reopen or assignment, which changes its state).
//!   `advance` also merges (into an older contact, which gets a new version)
//!   and deletes about 0.05 % of contacts per hour, creates (0.2 %), updates
//!   (0.5 %) and deletes (0.02 %) companies, and deletes 0.05 % of
//!   conversations; each kind at least once for N ≥ 3600. Tickets move
//!   through their states (`submitted → in_progress → waiting_on_customer →
//!   resolved`, with assignments, replies, notes, customer replies and
//!   reopenings): about 2 % per hour get new parts and a new `updated_at`,
//!   and 0.5 % are created (at least one of each for N ≥ 3600; see
//!   `world/tickets.rs`). Articles and collections are edited on their own
//!   schedule and admin activity logs accrue hour by hour, as functions of
//!   the clock (`shapes/help_center.rs`, `shapes/activity.rs`). Merged and deleted
//!   records vanish from lists and searches; deleted conversations are
//!   listed by `GET /conversations/deleted`; `GET /contacts/{id}` of a merged
//!   contact is 410 `contact_merged` with a `Link` header (2.16) or 404
//!   (2.11).
//! * **Search lag.** A contact created or updated less than
//!   `--search-lag-secs` (simulated) seconds ago is left out of contact
//!   search (it is already in lists, `GET` and the truth).
//! * **Other datasets.** Companies (scroll, list, filter, get, contacts,
//!   segments), admins, teams, tags, segments, data attributes,
//!   conversation attributes (`GET /conversations/attributes`, 2.16), notes,
//!   events, tickets (`POST /tickets/search`, `GET /tickets/{id}`, both
//!   with `ticket_parts` and `contacts`, some tickets with several), ticket
//!   types, conversation ratings (on about a third of closed conversations,
//!   given at the close), attachments on some conversation and ticket parts,
//!   `GET /admins/activity_logs`, and the help center
//!   (`GET /help_center/help_centers`, `/help_center/collections`,
//!   `/articles`); see `routes/`. Contacts inline at most
//!   10 tags, notes and companies (`has_more`); every 50th contact has more;
//!   on the wire some contacts' `tags`/`companies` are cut short of their
//!   `total_count` (`shapes::wire::inline_cut`).
//!   Every 97th conversation has more than 500 parts and every 53rd is an
//!   unanswered outbound message. Some custom attribute values do not fit
//!   their declared `data_type` (a `seats` of `"n/a"`).
//! * **`pages.next` shapes vary by endpoint** as in Intercom: contacts and
//!   conversations `{page, starting_after}` (left out on the last page),
//!   tickets `{per_page, starting_after}` (null at the end), page-number
//!   endpoints a full URL or null, events a full URL (left out at the end).
//! * **Writes** (`routes/writes/`, `world/writes.rs`): `POST /contacts`,
//!   `PUT`/`DELETE /contacts/{id}`, `POST /contacts/{id}/companies`,
//!   `POST /companies`, `POST /conversations/{id}/reply`, `POST /tickets`,
//!   `GET /tickets/{id}`, `POST /messages`, validated with Intercom's error
//!   codes. A write happens at "now" (it sets `updated_at`), bumps the world
//!   generation and shows everywhere a generated change would; written values
//!   are an overlay the shape builders lay over the generated object.
//! * **Versions.** `Intercom-Version` older than 2.12 gets the 2.11 shapes
//!   where they differ (see `routes::Ver`); the default is 2.16.
//! * **Rate limit** (`limits`): every response carries `X-RateLimit-*`
//!   headers (1,666 calls per 10-second wall-clock window per token, as for
//!   a private app); `--rate-limit N` makes the limit N and answers 429 beyond.
//! * **Wire shapes** (`shapes::wire`): where Intercom's recorded answers
//!   differ from its OpenAPI description, the simulator answers like
//!   Intercom, for a share of records; `/__sim/truth` holds the canonical form.
//! * **Latency** (`--latency SPEC`, `latency`): off by default; otherwise
//!   every API request waits a seeded delay of its class (`search`, `get`,
//!   `post`) before it is answered, concurrently, e.g.
//!   `search=300ms±100ms,get=120ms±40ms,default=150ms`. Served delays are in
//!   `GET /__sim/stats` under `latency`.
//! * **Faults** (`--faults`, `faults`): seeded 5xx, stalls, resets, broken
//!   bodies, scripted 401s and 429 bursts; changeable via `/__sim/faults`.
//! * **Scopes** (`--deny-scope FAMILY`, or `denied_scopes` in the fault
//!   profile): that endpoint family answers 403 `forbidden` naming the
//!   missing scope, as for an app without the permission.

mod clock;
mod error;
mod faults;
mod latency;
mod limits;
mod query;
mod rng;
mod routes;
mod search;
mod shapes;
mod stats;
mod text;
mod vocab;
mod world;

use std::collections::HashSet;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock, RwLockReadGuard};

use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use clock::Clock;
pub use error::ApiError;
pub use faults::{Burst, FaultProfile};
pub use latency::{Class as LatencyClass, Delay, LatencyModel};
pub use limits::DEFAULT_LIMIT;
pub use limits::WINDOW_SECS;
pub use query::{MAX_GROUP_FILTERS, MAX_NESTING, QueryError};
pub use routes::MAX_PER_PAGE;
pub use shapes::conversation::MAX_PARTS_RETURNED;
pub use shapes::wire::{WIRE_EXCEPTIONS, WireException};
pub use stats::Stats;
pub use world::{
    CONTACT_CREATES_PER_HOUR, CONTACT_UPDATES_PER_HOUR, CONVERSATION_CREATES_PER_HOUR,
    CONVERSATION_UPDATES_PER_HOUR, TICKET_CREATES_PER_HOUR, TICKET_UPDATES_PER_HOUR,
};

use search::SearchCache;
use world::World;

/// 2026-06-01T00:00:00Z, the default simulated "now".
pub const DEFAULT_START_TIME: i64 = 1_780_272_000;

/// Flags of `intercom-export simulate`; also the configuration of [`spawn`].
#[derive(clap::Args, Clone, Debug, PartialEq, Eq)]
pub struct SimConfig {
    /// Seed of the generated world; the same flags give byte-identical responses.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Number of contacts at start.
    #[arg(long, default_value_t = 2000)]
    pub contacts: usize,
    /// Number of conversations at start.
    #[arg(long, default_value_t = 500)]
    pub conversations: usize,
    /// Average parts per conversation (each gets a uniform 1..=2·parts−1).
    #[arg(long, default_value_t = 8)]
    pub parts: usize,
    /// Bearer tokens answered with 401 (repeatable).
    #[arg(long = "reject-token")]
    pub reject_tokens: Vec<String>,
    /// Simulated "now" at start, unix seconds (default 2026-06-01T00:00:00Z).
    #[arg(long, default_value_t = DEFAULT_START_TIME)]
    pub start_time: i64,
    /// Days of history before the start time that records are spread over.
    #[arg(long, default_value_t = 1095)]
    pub history_days: u32,
    /// Calls allowed per 10-second window per token (default: unlimited).
    #[arg(long, value_name = "N")]
    pub rate_limit: Option<u32>,
    /// Response latency per endpoint class, e.g.
    /// `search=300ms±100ms,get=120ms±40ms,default=150ms` (classes search,
    /// get, post, default; `off` for none, the default). Seeded by `--seed`.
    #[arg(long, value_name = "SPEC", value_parser = LatencyModel::parse)]
    pub latency: Option<LatencyModel>,
    /// Fault profile: `none`, `flaky`, `bursts`, or a TOML file (see `faults/profile.rs`).
    #[arg(long, value_name = "PROFILE")]
    pub faults: Option<String>,
    /// Number of companies at start.
    #[arg(long, default_value_t = 200)]
    pub companies: usize,
    /// Number of teammates (admins), 1 to 250.
    #[arg(long, default_value_t = 12)]
    pub admins: usize,
    /// Number of tags (at least 1).
    #[arg(long, default_value_t = 20)]
    pub tags: usize,
    /// Number of segments.
    #[arg(long, default_value_t = 6)]
    pub segments: usize,
    /// Number of tickets at start.
    #[arg(long, default_value_t = 40)]
    pub tickets: usize,
    /// Average data events per contact (GET /events).
    #[arg(long, default_value_t = 6)]
    pub events_per_user: u32,
    /// Seconds before a new or updated contact shows up in contact search.
    #[arg(long, default_value_t = 0)]
    pub search_lag_secs: u64,
    /// Seconds after which an unused company scroll expires (wall clock).
    #[arg(long, default_value_t = 60)]
    pub scroll_expiry_secs: u64,
    /// Answer every request of this endpoint family with 403 `forbidden`, as
    /// for a token without that scope (repeatable): conversations, contacts,
    /// companies, events, tickets, admins, teams, tags, segments,
    /// data_attributes, articles (the help center). Also settable as
    /// `denied_scopes` via `/__sim/faults`.
    #[arg(long = "deny-scope", value_name = "FAMILY")]
    pub deny_scopes: Vec<String>,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: 42,
            contacts: 2000,
            conversations: 500,
            parts: 8,
            reject_tokens: Vec::new(),
            start_time: DEFAULT_START_TIME,
            history_days: 1095,
            rate_limit: None,
            latency: None,
            faults: None,
            companies: 200,
            admins: 12,
            tags: 20,
            segments: 6,
            tickets: 40,
            events_per_user: 6,
            search_lag_secs: 0,
            scroll_expiry_secs: 60,
            deny_scopes: Vec::new(),
        }
    }
}

/// Shared simulator state: the world, the clock, counters and caches.
pub struct Simulator {
    config: SimConfig,
    /// A std lock: handlers hold it only while rendering, never across an
    /// `.await`; `advance` takes it for writing.
    world: RwLock<World>,
    clock: Clock,
    /// Request counters behind `/__sim/stats`.
    pub(crate) stats: Stats,
    /// Ordered search results per (query, sort, world generation).
    pub(crate) cache: SearchCache,
    reject: HashSet<String>,
    /// Per-token rate-limit windows (`--rate-limit`).
    pub(crate) limits: limits::RateLimits,
    /// The installed fault profile (`--faults`, `POST /__sim/faults`).
    pub(crate) faults: faults::Faults,
    /// Each workspace's one open company scroll (`GET /companies/scroll`),
    /// by bearer token (a token is a workspace, as for the rate limit).
    pub(crate) scroll: std::sync::Mutex<std::collections::HashMap<String, routes::ScrollState>>,
    /// Custom data attributes declared while running
    /// (`POST /__sim/data_attributes`), listed after the world's own.
    pub(crate) declared_attributes: RwLock<Vec<Value>>,
    /// Simulated response times (`--latency`); `None` when off.
    pub(crate) latency: Option<latency::Latency>,
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator")
            .field("config", &self.config)
            .field("now", &self.clock.now())
            .finish_non_exhaustive()
    }
}

impl Simulator {
    /// Generates the world for `config` (can take a moment for large worlds).
    pub fn new(config: SimConfig) -> Self {
        let world = World::generate(&config);
        Simulator {
            clock: Clock::new(config.start_time),
            reject: config.reject_tokens.iter().cloned().collect(),
            world: RwLock::new(world),
            stats: Stats::default(),
            cache: SearchCache::default(),
            limits: limits::RateLimits::default(),
            faults: faults::Faults::from_config(&config),
            scroll: std::sync::Mutex::new(Default::default()),
            declared_attributes: RwLock::new(Vec::new()),
            latency: latency::Latency::new(config.latency, config.seed),
            config,
        }
    }

    /// Moves the clock forward `seconds` (ignored if not positive) and mutates
    /// the world accordingly. Returns
    /// `{now, created:{contacts, conversations, companies, tickets}, updated:{…},
    /// merged:{contacts}, deleted:{contacts, conversations, companies}}`.
    pub fn advance(&self, seconds: i64) -> Value {
        let mut w = self.world.write().unwrap_or_else(|e| e.into_inner());
        let old = self.clock.now();
        let new = old.saturating_add(seconds.max(0));
        let s = w.advance(old, new);
        self.clock.set(new);
        json!({
            "now": new,
            "created": {
                "contacts": s.created_contacts,
                "conversations": s.created_conversations,
                "companies": s.created_companies,
                "tickets": s.created_tickets,
            },
            "updated": {
                "contacts": s.updated_contacts,
                "conversations": s.updated_conversations,
                "companies": s.updated_companies,
                "tickets": s.updated_tickets,
            },
            "merged": { "contacts": s.merged_contacts },
            "deleted": {
                "contacts": s.deleted_contacts,
                "conversations": s.deleted_conversations,
                "companies": s.deleted_companies,
            },
        })
    }

    /// The simulated time (unix seconds).
    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// The configuration the world was generated from.
    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    /// Current request counters (see `GET /__sim/stats`).
    pub fn stats(&self) -> Value {
        self.stats.snapshot()
    }

    /// The installed fault profile (see `GET /__sim/faults`).
    pub fn fault_profile(&self) -> FaultProfile {
        self.faults.get()
    }

    /// Installs a fault profile and restarts its request count.
    pub fn set_fault_profile(&self, profile: FaultProfile) {
        self.faults.set(profile);
    }

    /// Zeroes the request counters.
    pub fn reset_stats(&self) {
        self.stats.reset();
    }

    /// Number of contacts and conversations right now.
    pub fn counts(&self) -> (usize, usize) {
        let w = self.read_world();
        (w.contacts.len(), w.conversations.len())
    }

    pub(crate) fn read_world(&self) -> RwLockReadGuard<'_, World> {
        self.world.read().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn rejects(&self, token: &str) -> bool {
        self.reject.contains(token)
    }
}

/// The simulator's axum router (API + `/__sim` control plane).
pub fn router(sim: Arc<Simulator>) -> axum::Router {
    routes::build(sim)
}

/// Serves the simulator on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    sim: Arc<Simulator>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(sim))
        .with_graceful_shutdown(shutdown)
        .await
}

/// Binds `127.0.0.1:0`, spawns [`serve`] on the current tokio runtime and
/// returns a handle. The world is generated on a blocking thread.
pub async fn spawn(config: SimConfig) -> std::io::Result<SimHandle> {
    config
        .check()
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let sim = tokio::task::spawn_blocking(move || Simulator::new(config))
        .await
        .map_err(std::io::Error::other)?;
    let sim = Arc::new(sim);
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(serve(listener, Arc::clone(&sim), async move {
        // A dropped handle also shuts the server down.
        let _ = rx.await;
    }));
    Ok(SimHandle {
        addr,
        sim,
        shutdown: Some(tx),
        task: Some(task),
    })
}

/// A running simulator started by [`spawn`]. Dropping it stops the server.
#[derive(Debug)]
pub struct SimHandle {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its state, for in-process inspection (`advance`, `stats`...).
    pub sim: Arc<Simulator>,
    /// Fires the graceful shutdown.
    shutdown: Option<oneshot::Sender<()>>,
    /// The server task.
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl SimHandle {
    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops the server and waits for it to finish.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}
