//! [`Slot`]: a place in the in-flight gate held while one call is out,
//! what its call's answer teaches the gate, and handing the place over when
//! the call stalls (see the parent module's docs).

use std::future::Future;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::sync::SemaphorePermit;

use super::{Gate, Inner, STALL_RECHECK};

/// A slot in the gate, held while one call is out.
#[derive(Debug)]
pub struct Slot<'a> {
    pub(super) gate: &'a Gate,
    pub(super) permit: Option<SemaphorePermit<'a>>,
    /// Taken for stalled and its permit given away.
    pub(super) stalled: bool,
}

impl Slot<'_> {
    /// The call was answered (any status but 429) `latency` after it was
    /// sent, stating `limit_per_10s` if it carried `X-RateLimit-Limit`. A
    /// stalled call's latency is not learnt (see the module docs).
    pub fn answered(&self, latency: Duration, limit_per_10s: Option<u32>) {
        if self.stalled {
            self.gate.learn(|c| c.stated(limit_per_10s));
            return;
        }
        self.gate
            .learn(|c| c.answered(latency, limit_per_10s, Instant::now()));
    }

    /// True once this call was taken for stalled and gave its slot away.
    pub fn is_stalled(&self) -> bool {
        self.stalled
    }

    /// Await `call` (the exchange this slot was taken for); if it is still
    /// out after [`Gate::stall_after`], give the slot to the next call
    /// ([`give_up_slot`](Self::give_up_slot), asked again every
    /// [`STALL_RECHECK`] while the bound does not allow it) and go on
    /// awaiting it. The call itself is never cut short here: its timeout is
    /// the client's.
    pub async fn watch<F: Future>(&mut self, call: F) -> F::Output {
        let mut call = std::pin::pin!(call);
        let start = Instant::now();
        let mut wait = self.gate.stall_after();
        loop {
            tokio::select! {
                out = &mut call => return out,
                () = tokio::time::sleep(wait) => {
                    if self.give_up_slot(start.elapsed()) {
                        return call.await;
                    }
                    wait = STALL_RECHECK;
                }
            }
        }
    }

    /// Take this call, out for `held`, for stalled: hand its permit back
    /// so another call can start, if the calls out (stalled ones included)
    /// then stay within the bound, and let the target count the time it
    /// held the slot ([`Controller::occupied`]). False when the bound does
    /// not allow it (or the slot holds no permit).
    pub fn give_up_slot(&mut self, held: Duration) -> bool {
        if self.stalled || self.permit.is_none() {
            return false;
        }
        let mut inner = self.gate.lock();
        if inner.capacity + inner.stalled_out >= inner.controller.bound() {
            return false;
        }
        inner.controller.occupied(held, Instant::now());
        inner.stalled_out += 1;
        self.stalled = true;
        self.gate.stalled.fetch_add(1, Ordering::Relaxed);
        if let Some(permit) = self.permit.take() {
            retire_or_free(&mut inner, permit);
        }
        self.gate.match_permits(&mut inner);
        true
    }

    /// The call was answered with 429.
    pub fn throttled(&self, limit_per_10s: Option<u32>) {
        self.gate
            .learn(|c| c.throttled(limit_per_10s, Instant::now()));
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.gate.in_flight.fetch_sub(1, Ordering::Relaxed);
        if self.stalled {
            let mut inner = self.gate.lock();
            inner.stalled_out = inner.stalled_out.saturating_sub(1);
            // Room within the bound again: the target may need it.
            self.gate.match_permits(&mut inner);
            return;
        }
        let Some(permit) = self.permit.take() else {
            return;
        };
        let mut inner = self.gate.lock();
        retire_or_free(&mut inner, permit);
    }
}

/// A permit a call no longer holds: retired when the target shrank while
/// the call was out, else back in the semaphore for the next call.
fn retire_or_free(inner: &mut Inner, permit: SemaphorePermit<'_>) {
    if inner.capacity > inner.allowed() {
        permit.forget();
        inner.capacity -= 1;
    } else {
        drop(permit);
    }
}
