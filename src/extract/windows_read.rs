//! The reading of the windows (`read_windows_in_parts`): windows (and
//! parts of windows) asked for up to `Schedule::parallel` at once, their
//! pages taken in, split when too large or failing, and the head window's
//! pages handed to the delivery in order (see the parent module's docs).

use super::*;

/// The reading of [`read_windows`]: pages asked and taken in, the head's
/// handed to `queue` in order.
pub(super) async fn read(
    reader: &Reader<'_>,
    source: &impl PageSource,
    windows: Vec<Window>,
    schedule: &Schedule,
    band_rows: u64,
    queue: tokio::sync::mpsc::Sender<Job>,
) -> Result<ReadStats> {
    use tokio::sync::mpsc::error::TrySendError;
    let path = reader.spec.path;
    let parallel = schedule.parallel.max(1);
    let mut slots: BTreeMap<Key, Slot> = windows
        .into_iter()
        .map(|w| {
            let part = Part::whole(w);
            (part.key(), Slot::new(part, 0, Sent::new(), Kept::default()))
        })
        .collect();
    // Pages past the memory budget go to disk until a write fails.
    let mut spilling = schedule.spill;
    let mut on_disk: u64 = 0;
    let mut per_page = schedule.per_page.max(1);
    let mut in_flight = FuturesUnordered::new();
    let mut stats = ReadStats::default();
    let stopped = || Error::Internal(format!("{path}: the delivery of search pages stopped"));
    loop {
        // The head's pages go to the delivery; a completed head makes way
        // for the next. A full queue stops the hand-over (`blocked`).
        let mut blocked = false;
        while let Some(mut head) = slots.first_entry() {
            let ended = head.get().state == State::Done;
            let slot = head.get();
            if !ended && slot.pages.is_empty() && slot.spill.is_none() {
                break;
            }
            let permit = match queue.try_reserve() {
                Ok(permit) => permit,
                Err(TrySendError::Full(())) => {
                    blocked = true;
                    break;
                }
                Err(TrySendError::Closed(())) => return Err(stopped()),
            };
            let kept = head.get_mut().take_kept();
            on_disk -= kept.spill.as_ref().map_or(0, Spill::pages);
            if !ended {
                permit.send(Job { kept, ended: None });
                break;
            }
            let part = head.remove().part;
            tracing::debug!(
                endpoint = path,
                lo = part.window.lo,
                hi = part.window.hi,
                band = ?part.band,
                "window done"
            );
            // Only a window's last part completes it (a checkpoint may follow).
            permit.send(Job {
                kept,
                ended: part
                    .is_last()
                    .then_some((part.window.hi, !slots.is_empty())),
            });
        }
        if slots.is_empty() {
            return Ok(stats);
        }
        // Ask for next pages: the head always, the others up to the number
        // of windows started (and, once pages cannot go to disk, within the
        // memory budget).
        let mut started = slots
            .values()
            .filter(|s| s.state != State::Pending && s.state != State::Done)
            .count();
        let mut ahead: usize = slots
            .values()
            .skip(1)
            .map(|s| s.pages.len() + usize::from(s.state == State::InFlight))
            .sum();
        for (i, (key, slot)) in slots.iter_mut().enumerate() {
            let head = i == 0;
            let room = spilling || ahead < schedule.ahead_pages;
            let go = match slot.state {
                // A head whose pages wait for room in the queue asks no more.
                State::Ready => (head && (!blocked || slot.pages.is_empty())) || (!head && room),
                State::Pending => head || (room && started < parallel),
                State::InFlight | State::Done => false,
            };
            if !go {
                continue;
            }
            // A window ahead asks only with room in the budget for the
            // answer: among the answers arriving when it may spill (a full
            // memory sends its page to disk), else among the pages held.
            let room = if head {
                None
            } else {
                let reserved = if spilling {
                    schedule.budget.try_reserve_arriving()
                } else {
                    schedule.budget.try_reserve_page()
                };
                match reserved {
                    Some(held) => Some(held),
                    None => {
                        stats.budget_waits += 1;
                        continue;
                    }
                }
            };
            if slot.state == State::Pending {
                started += 1;
                slot.per_page = per_page;
            }
            if !head {
                ahead += 1;
            }
            slot.state = State::InFlight;
            in_flight.push(fetch(
                source,
                *key,
                slot.part,
                slot.per_page,
                slot.starting_after.clone(),
                room,
            ));
        }
        stats.peak_in_flight = stats.peak_in_flight.max(in_flight.len());
        let (key, result, room) = tokio::select! {
            biased;
            Some(answered) = in_flight.next(), if !in_flight.is_empty() => answered,
            permit = queue.reserve(), if blocked => {
                // Room in the queue: hand the head's pages over.
                drop(permit.map_err(|_| stopped())?);
                continue;
            }
            else => {
                return Err(Error::Internal(format!(
                    "{path}: search windows left unread with no page in flight"
                )));
            }
        };
        let is_head = slots.first_key_value().is_some_and(|(k, _)| *k == key);
        let held: usize = slots.values().skip(1).map(|s| s.pages.len()).sum();
        let slot = slots.get_mut(&key).ok_or_else(|| {
            Error::Internal(format!("{path}: a page for a window not in the plan"))
        })?;
        let before = slot.pages.len();
        let limits = (schedule.split_rows, band_rows);
        if let Some(split) = take_page(reader, slot, result, limits, &mut per_page)? {
            let mut old = slots.remove(&key).ok_or_else(|| {
                Error::Internal(format!("{path}: a split window not in the plan"))
            })?;
            let (a, b) = (split.a, split.b);
            if split.axis == Axis::Created {
                stats.created_splits += 1;
            }
            let kept = old.take_kept();
            slots.insert(
                b.key(),
                Slot::new(b, split.failure_splits, old.seen.clone(), Kept::default()),
            );
            slots.insert(a.key(), Slot::new(a, split.failure_splits, old.seen, kept));
        } else if !is_head
            && slot.pages.len() > before
            && let Some(page) = slot.pages.last()
        {
            // A window ahead read a page: it waits in memory, with room of
            // the held pool at its real size, or (past the memory budget, or
            // behind pages on disk already, which keeps them in order) goes
            // to the window's file.
            let bytes = page_bytes(page);
            schedule.budget.saw_page(bytes);
            let kept = if !spilling {
                // Asked for with room of the held pool (or, before a write
                // failed, of the arriving one): it stays, at its real size.
                let mut kept = schedule.budget.hold();
                kept.resize(bytes);
                Some(kept)
            } else if slot.spill.is_none() && held < schedule.ahead_pages {
                schedule.budget.try_hold(bytes)
            } else {
                None
            };
            drop(room);
            let kept = match kept {
                Some(kept) => kept,
                None => match spill_last(slot, schedule.spill_dir.as_deref()) {
                    Ok(()) => {
                        on_disk += 1;
                        stats.spilled_pages += 1;
                        stats.peak_spilled_pages = stats.peak_spilled_pages.max(on_disk);
                        let bytes = slots
                            .values()
                            .filter_map(|s| s.spill.as_ref())
                            .map(Spill::bytes)
                            .sum();
                        stats.peak_spilled_bytes = stats.peak_spilled_bytes.max(bytes);
                        continue;
                    }
                    Err(e) => {
                        spilling = false;
                        tracing::warn!(
                            endpoint = %reader.endpoint(),
                            error = %e,
                            dir = %schedule
                                .spill_dir
                                .clone()
                                .unwrap_or_else(std::env::temp_dir)
                                .display(),
                            "cannot keep search pages read ahead in a temporary file; \
                             windows ahead now wait for their turn instead (slower, same rows). \
                             Free space in the temporary directory (TMPDIR) to read at full speed"
                        );
                        // The page stays in memory, held whatever the pool.
                        let mut kept = schedule.budget.hold();
                        kept.resize(bytes);
                        kept
                    }
                },
            };
            match &mut slot.held {
                Some(held) => held.absorb(kept),
                None => slot.held = Some(kept),
            }
        }
        let held: usize = slots.values().skip(1).map(|s| s.pages.len()).sum();
        stats.peak_ahead_pages = stats.peak_ahead_pages.max(held);
    }
}
