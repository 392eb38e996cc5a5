//! [`RowGroupBudget`]: one memory budget for the Parquet row groups that
//! the writers of a run fill at the same time.
//!
//! A Parquet writer holds its row group in memory (encoded pages,
//! dictionaries, the pages being filled: `ArrowWriter::memory_size()`) until
//! it is flushed. One writer alone may fill [`ROW_GROUP_BYTES`]; when several
//! reports run side by side, each writer registered with the budget
//! ([`RowGroupBudget::join`]) flushes at its share, `total ÷ writers`
//! (at least [`MIN_ROW_GROUP_BYTES`]), so the row groups of all running
//! reports together stay within the total. A writer that finishes gives its
//! share back to the others.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A single writer's row-group ceiling (the whole budget when it runs
/// alone), in bytes of `ArrowWriter::memory_size`: 6 MiB, down from 16
/// then 8 (two contact reports at 1,000,000 contacts: peak RSS 160 → 150
/// MiB at 8, about 140 at 6 together with the smaller budgets of
/// `extract::ahead` and `DELIVERY_QUEUE`; see "Peak RSS at 1M and 100k" in
/// `BENCHMARKS.md`). A row group of 6 MiB in memory is about 1–2 MB on
/// disk: still whole column chunks for a warehouse's loader.
pub const ROW_GROUP_BYTES: usize = 6 * 1024 * 1024;

/// The smallest share a writer gets, however many run: smaller row groups
/// would make files slower to read for little memory.
pub const MIN_ROW_GROUP_BYTES: usize = 2 * 1024 * 1024;

/// A total row-group budget in bytes, shared by the writers that joined it
/// (cheap to clone: clones share the count). The default is a budget of
/// [`ROW_GROUP_BYTES`] that no writer joined: [`Self::row_group_bytes`] is
/// then [`ROW_GROUP_BYTES`], as for a writer alone.
#[derive(Debug, Clone)]
pub struct RowGroupBudget {
    total: usize,
    writers: Arc<AtomicUsize>,
}

impl Default for RowGroupBudget {
    fn default() -> Self {
        Self::new(ROW_GROUP_BYTES)
    }
}

impl RowGroupBudget {
    /// A budget of `total` bytes for all writers together.
    pub fn new(total: usize) -> Self {
        Self {
            total,
            writers: Arc::default(),
        }
    }

    /// Count one more writer until the returned guard is dropped.
    pub fn join(&self) -> BudgetShare {
        self.writers.fetch_add(1, Ordering::Relaxed);
        BudgetShare {
            writers: self.writers.clone(),
        }
    }

    /// Writers counted now.
    pub fn writers(&self) -> usize {
        self.writers.load(Ordering::Relaxed)
    }

    /// The bytes one writer may hold in its row group now: the total over
    /// the writers counted, between [`MIN_ROW_GROUP_BYTES`] and
    /// [`ROW_GROUP_BYTES`].
    pub fn row_group_bytes(&self) -> usize {
        (self.total / self.writers().max(1)).clamp(MIN_ROW_GROUP_BYTES, ROW_GROUP_BYTES)
    }
}

/// One writer's place in a [`RowGroupBudget`]; leaves it when dropped.
#[derive(Debug)]
pub struct BudgetShare {
    writers: Arc<AtomicUsize>,
}

impl Drop for BudgetShare {
    fn drop(&mut self) {
        self.writers.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writers_share_the_total_and_give_it_back() {
        let budget = RowGroupBudget::new(24 * 1024 * 1024);
        assert_eq!(
            budget.row_group_bytes(),
            ROW_GROUP_BYTES,
            "alone: the ceiling"
        );
        let a = budget.join();
        let shares: Vec<BudgetShare> = (0..3).map(|_| budget.join()).collect();
        assert_eq!(budget.writers(), 4);
        assert_eq!(budget.row_group_bytes(), 6 * 1024 * 1024);
        let many: Vec<BudgetShare> = (0..20).map(|_| budget.join()).collect();
        assert_eq!(
            budget.row_group_bytes(),
            MIN_ROW_GROUP_BYTES,
            "never below the floor"
        );
        drop(many);
        drop(shares);
        assert_eq!(budget.writers(), 1);
        assert_eq!(budget.row_group_bytes(), ROW_GROUP_BYTES);
        drop(a);
        assert_eq!(budget.writers(), 0);
    }
}
