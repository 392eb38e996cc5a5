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

/// A pseudo-random duration in `[0, max]` (jitter needs no strong randomness).
pub(crate) fn random_upto(max: std::time::Duration) -> std::time::Duration {
    if max.is_zero() {
        return max;
    }
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64 ^ d.as_secs())
        .unwrap_or(0)
        ^ (u64::from(std::process::id()) << 20);
    // splitmix64 finaliser
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    let millis = max.as_millis().max(1) as u64;
    std::time::Duration::from_millis(z % (millis + 1))
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
