//! Admin activity logs (`activity_log`, `GET /admins/activity_logs`).
//!
//! Nothing is stored: the logs of each clock hour are drawn from the seed
//! and the hour (none to three; about one every three hours), so they
//! accrue as the clock moves and every hour's logs stay the same. A log
//! exists once the world's "now" reaches its `created_at`, from the
//! workspace's creation on. Ids are UUIDs derived from the seed, the hour
//! and the log's place in it.

use serde_json::Value;

use super::super::rng::{Rng, hash};
use super::super::vocab::TEAMS;
use super::super::world::{World, salt};
use super::{admin_identity, obj};

/// The activity logs with `from <= created_at <= to`, ascending by
/// `created_at` then id, limited to what exists at `now`.
pub(crate) fn between(w: &World, from: i64, to: i64, now: i64) -> Vec<Value> {
    let from = from.max(w.workspace_created_at);
    let to = to.min(now);
    let mut out = Vec::new();
    if from > to {
        return out;
    }
    for hour in from.div_euclid(3600)..=to.div_euclid(3600) {
        for (t, log) in hour_logs(w, hour) {
            if (from..=to).contains(&t) {
                out.push(log);
            }
        }
    }
    out
}

/// Number of clock hours whose logs [`of_hour`] renders for the truth.
pub(crate) fn hours(w: &World, now: i64) -> usize {
    let first = w.workspace_created_at.div_euclid(3600);
    (now.div_euclid(3600) - first + 1).max(0) as usize
}

/// The existing logs of the `i`-th hour since the workspace's creation.
pub(crate) fn of_hour(w: &World, i: usize, now: i64) -> Vec<Value> {
    let hour = w.workspace_created_at.div_euclid(3600) + i as i64;
    hour_logs(w, hour)
        .into_iter()
        .filter(|(t, _)| *t >= w.workspace_created_at && *t <= now)
        .map(|(_, v)| v)
        .collect()
}

/// The logs drawn for clock hour `hour` (unix seconds / 3600), ascending.
fn hour_logs(w: &World, hour: i64) -> Vec<(i64, Value)> {
    let mut r = Rng::new(w.seed, salt::ACTIVITY, hour as u64, 0);
    let n = r.weighted(&[75, 18, 5, 2]);
    let mut times: Vec<i64> = (0..n).map(|_| hour * 3600 + r.below(3600) as i64).collect();
    times.sort_unstable();
    times
        .into_iter()
        .enumerate()
        .map(|(k, t)| (t, log(w, hour, k, t)))
        .collect()
}

/// Log `k` of `hour`, at `t`.
fn log(w: &World, hour: i64, k: usize, t: i64) -> Value {
    let mut r = Rng::new(w.seed, salt::ACTIVITY, hour as u64, 1 + k as u64);
    let admin = r.below(w.admins.len() as u64) as usize;
    let (id, name, email) = admin_identity(w, admin);
    let (kind, metadata, description) = match r.weighted(&[40, 25, 15, 10, 10]) {
        0 => {
            let method = r.pick(&["email_password", "google_sso", "saml"]);
            (
                "admin_login_success",
                obj! { "sign_in_method" => method },
                format!("{name} logged in."),
            )
        }
        1 => (
            "admin_logout",
            Value::Object(serde_json::Map::new()),
            format!("{name} logged out."),
        ),
        2 => {
            let away = r.chance(0.5);
            (
                "admin_away_mode_change",
                obj! {
                    "away_mode" => away,
                    "away_status_reason" => if away { Value::from("😌 On a break") } else { Value::Null },
                    "reassign_conversations" => away && r.chance(0.5),
                },
                format!("{name} changed their away mode."),
            )
        }
        3 => (
            "admin_password_reset_request",
            Value::Object(serde_json::Map::new()),
            format!("{name} requested a password reset."),
        ),
        _ => {
            let (team_id, team) = TEAMS[r.below(TEAMS.len() as u64) as usize];
            (
                "app_team_membership_modification",
                obj! { "team" => obj! { "id" => team_id, "name" => team } },
                format!("{name} changed the members of the {team} team."),
            )
        }
    };
    let h = hash(&[w.seed, 0xac71, hour as u64, k as u64]);
    let g = hash(&[h, 1]);
    let uuid = format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        h >> 32,
        (h >> 16) & 0xffff,
        h & 0xfff,
        0x8000 | (g >> 48) & 0x3fff,
        g & 0xffff_ffff_ffff
    );
    obj! {
        "id" => uuid,
        "performed_by" => obj! {
            "type" => "admin",
            "id" => id,
            "email" => email,
            "ip" => format!("198.51.100.{}", 1 + admin % 250),
        },
        "metadata" => metadata,
        "created_at" => t,
        "activity_type" => kind,
        "activity_description" => description,
    }
}
