//! Wall-clock helpers shared by the state, the lock and the summaries:
//! unix seconds now, and the compact UTC form used in run keys, backfill
//! window directories and messages. Depends on nothing else in the crate.

use std::time::{SystemTime, UNIX_EPOCH};

/// Now, in unix seconds (0 if the clock is before 1970).
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// `20261122T015000Z` for a unix time in seconds (UTC).
pub fn format_utc(secs: i64) -> String {
    let dt =
        time::OffsetDateTime::from_unix_timestamp(secs).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let fmt = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    dt.format(fmt).unwrap_or_else(|_| secs.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_compact_utc() {
        assert_eq!(format_utc(0), "19700101T000000Z");
        assert_eq!(format_utc(1_795_830_600), "20261128T015000Z");
    }
}
