//! Unit tests of `inflight.rs`: the controller with synthetic measurements,
//! and the gate's permits following its target.

use super::*;
use futures::FutureExt;

const MS: Duration = Duration::from_millis(1);

/// Feed `n` answers of `latency` stating `limit` per 10 s.
fn feed(c: &mut Controller, n: usize, latency: Duration, limit: Option<u32>, now: Instant) {
    for _ in 0..n {
        c.answered(latency, limit, now);
    }
}

#[test]
fn target_is_rate_times_latency_and_grows_one_per_answer() {
    let t0 = Instant::now();
    let mut c = Controller::new(64, None);
    assert_eq!(c.target(), INITIAL_TARGET, "before anything is measured");
    assert_eq!(c.desired(), None);
    c.answered(150 * MS, Some(1666), t0);
    // 166.6 calls/s × 0.15 s = 25 in flight; × 1.2 headroom + 2 = 32.
    assert_eq!(c.desired(), Some(32));
    assert_eq!(c.target(), INITIAL_TARGET + 1, "one slot per answered call");
    feed(&mut c, 100, 150 * MS, Some(1666), t0);
    assert_eq!(c.target(), 32);
    assert!((25..=35).contains(&c.target()));
    // A steady stream at the target stays there.
    feed(&mut c, 100, 150 * MS, None, t0);
    assert_eq!(c.target(), 32, "the limit is remembered between headers");

    // Slower answers need more in flight; the mean follows them.
    feed(&mut c, 200, 300 * MS, Some(1666), t0);
    assert_eq!(c.desired(), Some(62), "166.6 × 0.3 × 1.2 = 60 (ceil), + 2");
    assert_eq!(c.target(), 62);
    // Faster answers: fewer, at once.
    feed(&mut c, 200, 50 * MS, Some(1666), t0);
    assert_eq!(c.target(), 12, "166.6 × 0.05 × 1.2 = 10 (ceil), + 2");

    // A lower stated limit lowers it too.
    feed(&mut c, 1, 50 * MS, Some(400), t0);
    assert_eq!(c.target(), 5, "40 × 0.05 × 1.2 = 3 (ceil), + 2");
}

#[test]
fn clamped_to_the_bound_and_to_one() {
    let t0 = Instant::now();
    let mut c = Controller::new(20, None);
    feed(&mut c, 100, 150 * MS, Some(1666), t0);
    assert_eq!(c.desired(), Some(20));
    assert_eq!(c.target(), 20, "never above concurrency");

    let mut c = Controller::new(4, None);
    assert_eq!(c.target(), 4, "starts at the bound when it is below 8");
    feed(&mut c, 100, Duration::from_secs(10), Some(1666), t0);
    assert_eq!(c.target(), 4);

    // Answers in a millisecond need very few: Little's law's one, + margin.
    let mut c = Controller::new(64, None);
    feed(&mut c, 100, MS, Some(1666), t0);
    assert_eq!(c.target(), 1 + MARGIN);
    let mut c = Controller::new(1, None);
    feed(&mut c, 100, 150 * MS, Some(1666), t0);
    assert_eq!(c.target(), 1);
    assert_eq!(Controller::new(0, None).target(), 1, "0 is taken as 1");
}

#[test]
fn the_users_ceiling_wins_when_lower() {
    let t0 = Instant::now();
    // 600 per minute = 10 per second: 10 × 0.15 × 1.2 = 2 (ceil), + 2.
    let mut c = Controller::new(64, Some(600));
    assert_eq!(c.allowed_rate(), Some(10.0));
    feed(&mut c, 50, 150 * MS, Some(1666), t0);
    assert_eq!(c.target(), 4);
    // A ceiling above the stated limit changes nothing.
    let mut c = Controller::new(64, Some(100_000));
    feed(&mut c, 50, 150 * MS, Some(1666), t0);
    assert_eq!(c.target(), 32);
    // A ceiling alone is a rate, before any header.
    let mut c = Controller::new(64, Some(600));
    feed(&mut c, 50, 150 * MS, None, t0);
    assert_eq!(c.target(), 4);
}

#[test]
fn without_a_known_rate_it_grows_towards_the_bound() {
    let t0 = Instant::now();
    let mut c = Controller::new(40, None);
    feed(&mut c, 5, 150 * MS, None, t0);
    assert_eq!(c.target(), INITIAL_TARGET + 5);
    feed(&mut c, 100, 150 * MS, None, t0);
    assert_eq!(c.target(), 40);
}

#[test]
fn a_429_halves_it_holds_it_and_it_grows_back() {
    let t0 = Instant::now();
    let mut c = Controller::new(64, None);
    feed(&mut c, 100, 150 * MS, Some(1666), t0);
    assert_eq!(c.target(), 32);

    c.throttled(Some(1666), t0);
    assert_eq!(c.target(), 16, "multiplicative decrease");
    // The calls sent with it answer 429 too: one decrease for them all.
    c.throttled(Some(1666), t0 + 500 * MS);
    assert_eq!(c.target(), 16);
    // No growth while held (the hold runs from the latest 429).
    feed(
        &mut c,
        50,
        150 * MS,
        Some(1666),
        t0 + Duration::from_secs(3),
    );
    assert_eq!(c.target(), 16, "held after a 429");
    // A later 429 halves again.
    let t4 = t0 + Duration::from_secs(4);
    c.throttled(Some(1666), t4);
    assert_eq!(c.target(), 8);
    // Past the hold it grows back, one slot per answer, to Little's law.
    let later = t4 + HOLD_AFTER_429;
    feed(&mut c, 3, 150 * MS, Some(1666), later);
    assert_eq!(c.target(), 11);
    feed(&mut c, 100, 150 * MS, Some(1666), later);
    assert_eq!(c.target(), 32);

    // Never below one.
    let mut c = Controller::new(1, None);
    c.throttled(None, t0);
    assert_eq!(c.target(), 1);
}

#[tokio::test]
async fn the_gate_lets_the_target_in_and_follows_it_down_and_up() {
    let gate = Gate::new(64, None);
    assert_eq!(gate.target(), INITIAL_TARGET);
    let mut held: Vec<Slot<'_>> = Vec::new();
    for _ in 0..INITIAL_TARGET {
        held.push(gate.enter().now_or_never().expect("a free slot"));
    }
    assert!(
        gate.enter().now_or_never().is_none(),
        "the ninth call waits"
    );
    assert_eq!(gate.peak(), INITIAL_TARGET);

    // A 429 halves the target while all eight are out: their permits are
    // retired as they end, so only four fit afterwards.
    held[0].throttled(Some(1666));
    assert_eq!(gate.target(), INITIAL_TARGET / 2);
    held.clear();
    let mut again: Vec<Slot<'_>> = Vec::new();
    for _ in 0..INITIAL_TARGET / 2 {
        again.push(gate.enter().now_or_never().expect("a free slot"));
    }
    assert!(gate.enter().now_or_never().is_none(), "only four now");
    assert_eq!(gate.peak(), INITIAL_TARGET, "the peak is kept");
    drop(again);

    // The bound holds whatever is asked.
    let small = Gate::new(2, None);
    let a = small.enter().now_or_never().expect("slot");
    let b = small.enter().now_or_never().expect("slot");
    for _ in 0..50 {
        a.answered(Duration::from_secs(1), Some(1666));
    }
    assert_eq!(small.target(), 2);
    assert!(
        small.enter().now_or_never().is_none(),
        "never above the bound"
    );
    drop((a, b));
    assert_eq!(small.peak(), 2);
}

#[tokio::test]
async fn a_waiting_call_goes_when_the_target_grows() {
    let gate = Gate::new(64, None);
    let held: Vec<Slot<'_>> = (0..INITIAL_TARGET)
        .map(|_| gate.enter().now_or_never().expect("slot"))
        .collect();
    let mut waiting = Box::pin(gate.enter());
    assert!((&mut waiting).now_or_never().is_none());
    // One answer at 150 ms under 1,666 per 10 s: the target grows by one.
    held[0].answered(150 * MS, Some(1666));
    assert_eq!(gate.target(), INITIAL_TARGET + 1);
    let ninth = waiting.now_or_never().expect("the new slot is free");
    assert_eq!(gate.peak(), INITIAL_TARGET + 1);
    drop(ninth);
}

#[test]
fn a_call_is_stalled_after_four_times_the_recent_p90_and_never_before_the_floor() {
    let t0 = Instant::now();
    let mut c = Controller::new(64, None);
    assert_eq!(c.stall_after(), STALL_FLOOR, "nothing measured yet");
    feed(&mut c, 100, 150 * MS, Some(1666), t0);
    assert_eq!(c.recent_p90(), Some(150 * MS));
    assert_eq!(
        c.stall_after(),
        STALL_FLOOR,
        "4 × 150 ms is below the floor"
    );
    // Slow answers: 4 × the p90.
    feed(
        &mut c,
        RECENT_SAMPLES,
        Duration::from_secs(2),
        Some(1666),
        t0,
    );
    assert_eq!(c.stall_after(), Duration::from_secs(8));
    // One slow answer in ten is the p90; one in twenty is not.
    let mut c = Controller::new(64, None);
    for i in 0..RECENT_SAMPLES {
        let latency = if i % 20 == 0 { 3000 * MS } else { 500 * MS };
        c.answered(latency, Some(1666), t0);
    }
    assert_eq!(c.recent_p90(), Some(500 * MS));
    for i in 0..RECENT_SAMPLES {
        let latency = if i % 5 == 0 { 3000 * MS } else { 500 * MS };
        c.answered(latency, Some(1666), t0);
    }
    assert_eq!(c.recent_p90(), Some(3000 * MS));
    assert_eq!(c.stall_after(), Duration::from_secs(12));
}

/// A gate whose target is Little's law's 3 (answers in a millisecond under
/// 1,666 per 10 s), as against the simulator.
fn gate_at_three(bound: usize) -> Gate {
    let gate = Gate::new(bound, None);
    {
        let slot = gate.enter().now_or_never().expect("slot");
        for _ in 0..100 {
            slot.answered(MS, Some(1666));
        }
    }
    assert_eq!(gate.target(), 3);
    gate
}

#[tokio::test]
async fn a_stalled_call_gives_its_slot_to_the_next_and_the_target_counts_its_time() {
    let gate = gate_at_three(64);
    let mut held: Vec<Slot<'_>> = (0..3)
        .map(|_| gate.enter().now_or_never().expect("slot"))
        .collect();
    assert!(gate.enter().now_or_never().is_none(), "three out: full");
    let fast = gate.controller().latency().expect("measured");
    // Before: a hung call held its slot until its timeout, and gave the
    // target no latency, so it stayed 3 with a third of it hung.
    assert!(held[0].give_up_slot(STALL_FLOOR), "within the bound");
    assert!(held[0].is_stalled());
    assert!(!held[0].give_up_slot(STALL_FLOOR), "once");
    assert_eq!(gate.stalled(), 1);
    let mean = gate.controller().latency().expect("measured");
    assert!(mean > fast, "the 2 s it held its slot count: {mean:?}");
    assert_eq!(gate.target(), 4, "the target grows towards it, one a call");
    // Its slot and the grown target's: two new calls go.
    let fourth = gate
        .enter()
        .now_or_never()
        .expect("the stalled call's slot");
    let fifth = gate
        .enter()
        .now_or_never()
        .expect("the grown target's slot");
    assert!(gate.enter().now_or_never().is_none(), "four counting: full");
    assert_eq!(gate.peak(), 5, "the stalled call is still out");
    // Its late answer (after 20 s) is not a sample: it held no slot then.
    held[0].answered(Duration::from_secs(20), Some(1666));
    assert_eq!(gate.controller().latency(), Some(mean));
    assert_eq!(gate.controller().recent_p90(), Some(MS));
    // It ends: no permit comes back with it (it gave its own away).
    drop(held.remove(0));
    assert!(gate.enter().now_or_never().is_none(), "still full");
    drop(fourth);
    let again = gate.enter().now_or_never().expect("a slot freed by a call");
    drop((again, fifth, held));
}

#[tokio::test]
async fn stalled_calls_never_take_the_calls_out_past_the_bound() {
    // Bound 5, target 3.
    let gate = gate_at_three(5);
    let mut out: Vec<Slot<'_>> = (0..3)
        .map(|_| gate.enter().now_or_never().expect("slot"))
        .collect();
    assert!(out[0].give_up_slot(STALL_FLOOR));
    out.push(gate.enter().now_or_never().expect("slot"));
    out.push(gate.enter().now_or_never().expect("slot"));
    assert_eq!(gate.peak(), 5);
    assert!(!out[1].give_up_slot(STALL_FLOOR), "five out: the bound");
    assert!(gate.enter().now_or_never().is_none());
    assert_eq!(gate.stalled(), 1);
    // The target growing to the bound does not add room the stalled call
    // takes.
    for _ in 0..100 {
        out[3].answered(Duration::from_secs(1), Some(1666));
    }
    assert_eq!(gate.target(), 5);
    assert!(gate.enter().now_or_never().is_none(), "still five out");
    // The stalled call ends: its room within the bound comes back.
    drop(out.remove(0));
    let fifth = gate.enter().now_or_never().expect("room again");
    assert!(gate.enter().now_or_never().is_none(), "five out");
    assert_eq!(gate.peak(), 5);
    drop((fifth, out));
}

#[tokio::test]
async fn watch_returns_an_answer_in_time_without_giving_the_slot_away() {
    let gate = gate_at_three(64);
    let mut slot = gate.enter().now_or_never().expect("slot");
    assert_eq!(slot.watch(async { 7 }).await, 7);
    assert!(!slot.is_stalled());
    assert_eq!(gate.stalled(), 0);
}
