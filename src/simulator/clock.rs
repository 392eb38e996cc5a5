//! The simulated wall clock.
//!
//! The simulator never looks at real time: "now" starts at
//! [`SimConfig::start_time`](super::SimConfig::start_time) and only moves when
//! `POST /__sim/advance` (or [`Simulator::advance`](super::Simulator::advance))
//! is called, which keeps worlds and test runs reproducible.

use std::sync::atomic::{AtomicI64, Ordering};

/// A movable, shared clock in unix seconds.
#[derive(Debug)]
pub struct Clock {
    /// Current simulated time. Written only while the world's write lock is
    /// held, so a reader holding the read lock sees a value consistent with
    /// the world.
    now: AtomicI64,
}

impl Clock {
    /// A clock reading `start` (unix seconds).
    pub fn new(start: i64) -> Self {
        Clock {
            now: AtomicI64::new(start),
        }
    }

    /// The current simulated time (unix seconds).
    pub fn now(&self) -> i64 {
        self.now.load(Ordering::SeqCst)
    }

    /// Moves the clock to `t`; never moves it backwards.
    pub(crate) fn set(&self, t: i64) {
        self.now.fetch_max(t, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::Clock;

    #[test]
    fn clock_only_moves_forward() {
        let c = Clock::new(100);
        c.set(150);
        assert_eq!(c.now(), 150);
        c.set(120);
        assert_eq!(c.now(), 150);
    }
}
