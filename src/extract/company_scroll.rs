//! One companies scroll per run for `companies`, `company_tags` and
//! `company_segments`.
//!
//! Intercom's company scroll is the only way to list every company, and a
//! workspace has one scroll at a time. The three company reports each need
//! every company, so the first of them in a run scrolls and, as it goes,
//! spools the raw companies (one JSON object per line) to a run-scoped
//! temporary file; the others replay that file in pages of `per_page`
//! instead of scrolling again. Memory stays flat whatever the workspace's
//! size: neither the writer nor the readers hold more than a page.
//!
//! The spool is used only once it is complete: a scroll that failed, was
//! cut short by its report's failure, or could not be written to disk
//! leaves nothing reusable, and the next company report scrolls itself.
//!
//! Reports of a run run side by side, so a company report that finds no
//! complete spool takes the run's one scroll turn first: while another
//! company report scrolls, it waits for that scroll to end, then replays
//! it if it completed (or scrolls itself if it did not). The workspace has
//! one server-side scroll at a time, so two scrolls at once could not both
//! proceed anyway.
//! The file lives in the system's temporary directory and is removed when
//! the run ends (its [`ExtractOptions`] are dropped). Each report still
//! applies its own cursor to the raw companies.

use std::io::{BufRead, BufWriter, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde_json::Value;

use crate::api::paginate::Scroll;
use crate::error::{Error, Result};
use crate::extract::ExtractOptions;
use crate::http::IntercomClient;

/// The run's complete companies scroll, shared by the company reports of
/// one run (cheap to clone: one handle per run).
#[derive(Clone, Default)]
pub struct CompanySpool {
    complete: Arc<Mutex<Option<Arc<Spooled>>>>,
    /// Held by the report scrolling now: one scroll of the run at a time.
    scrolling: Arc<tokio::sync::Mutex<()>>,
}

impl std::fmt::Debug for CompanySpool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CompanySpool")
    }
}

/// A complete scroll on disk.
struct Spooled {
    /// Removed (with the file) when the last handle goes.
    _dir: tempfile::TempDir,
    path: PathBuf,
    companies: u64,
}

impl CompanySpool {
    fn complete(&self) -> Option<Arc<Spooled>> {
        self.complete.lock().ok().and_then(|s| s.clone())
    }

    fn set_complete(&self, spooled: Spooled) {
        if let Ok(mut slot) = self.complete.lock() {
            *slot = Some(Arc::new(spooled));
        }
    }

    /// Companies in this run's complete scroll, if there is one.
    pub fn spooled_companies(&self) -> Option<u64> {
        self.complete().map(|s| s.companies)
    }
}

/// Hand every company of the workspace to `deliver`, a page at a time, each
/// once: from this run's complete scroll when an earlier company report
/// made one, else by scrolling `GET /companies/scroll` (and spooling it for
/// the reports after this one). While another report of the run scrolls,
/// this one waits for it (see the module docs).
pub(crate) async fn read_companies(
    client: &IntercomClient,
    options: &ExtractOptions,
    mut deliver: impl AsyncFnMut(Vec<Value>) -> Result<()>,
) -> Result<()> {
    // Wait for the scroll another report of the run may be reading now.
    let turn = match options.companies.complete() {
        Some(_) => None,
        None => Some(options.companies.scrolling.lock().await),
    };
    if let Some(spooled) = options.companies.complete() {
        drop(turn);
        tracing::debug!(
            companies = spooled.companies,
            "companies read from this run's scroll"
        );
        return replay(&spooled, options.per_page.max(1) as usize, deliver).await;
    }
    let mut spool = SpoolWriter::create();
    let scroll = Scroll::new(client, "companies/scroll", options.anomalies.clone());
    scroll
        .read(async |companies: Vec<Value>| -> Result<()> {
            if let Some(w) = &mut spool
                && let Err(e) = w.append(&companies)
            {
                // Not the report's failure: the later reports scroll again.
                tracing::warn!(error = %e, "cannot spool the companies scroll; the other company reports will scroll again");
                spool = None;
            }
            deliver(companies).await
        })
        .await?;
    if let Some(w) = spool {
        match w.finish() {
            Ok(spooled) => options.companies.set_complete(spooled),
            Err(e) => {
                tracing::warn!(error = %e, "cannot spool the companies scroll; the other company reports will scroll again")
            }
        }
    }
    Ok(())
}

/// Read the spool back in pages of `per_page` companies.
async fn replay(
    spooled: &Spooled,
    per_page: usize,
    mut deliver: impl AsyncFnMut(Vec<Value>) -> Result<()>,
) -> Result<()> {
    let file = std::fs::File::open(&spooled.path).map_err(|e| spool_error(&spooled.path, e))?;
    let mut page = Vec::with_capacity(per_page);
    for line in std::io::BufReader::new(file).lines() {
        let line = line.map_err(|e| spool_error(&spooled.path, e))?;
        let company = serde_json::from_str(&line).map_err(|e| spool_error(&spooled.path, e))?;
        page.push(company);
        if page.len() == per_page {
            deliver(std::mem::take(&mut page)).await?;
        }
    }
    if !page.is_empty() {
        deliver(page).await?;
    }
    Ok(())
}

fn spool_error(path: &std::path::Path, e: impl std::fmt::Display) -> Error {
    Error::Internal(format!(
        "reading this run's companies spool {}: {e}",
        path.display()
    ))
}

/// Writes the raw companies of a scroll as it goes.
struct SpoolWriter {
    dir: tempfile::TempDir,
    path: PathBuf,
    out: BufWriter<std::fs::File>,
    companies: u64,
}

impl SpoolWriter {
    /// `None` (with a warning) when no temporary file can be made: the run
    /// goes on, the later reports scroll again.
    fn create() -> Option<Self> {
        let made = tempfile::Builder::new()
            .prefix("intercom-export-companies-")
            .tempdir()
            .and_then(|dir| {
                let path = dir.path().join("companies.jsonl");
                let file = std::fs::File::create(&path)?;
                Ok((dir, path, file))
            });
        match made {
            Ok((dir, path, file)) => Some(Self {
                dir,
                path,
                out: BufWriter::new(file),
                companies: 0,
            }),
            Err(e) => {
                tracing::warn!(error = %e, "cannot make a temporary file for the companies scroll; each company report will scroll");
                None
            }
        }
    }

    fn append(&mut self, companies: &[Value]) -> std::io::Result<()> {
        for c in companies {
            serde_json::to_writer(&mut self.out, c)?;
            self.out.write_all(b"\n")?;
        }
        self.companies += companies.len() as u64;
        Ok(())
    }

    fn finish(mut self) -> std::io::Result<Spooled> {
        self.out.flush()?;
        Ok(Spooled {
            _dir: self.dir,
            path: self.path,
            companies: self.companies,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[tokio::test]
    async fn a_complete_spool_replays_every_company_once_in_pages() {
        let mut w = SpoolWriter::create().expect("temp file");
        let companies: Vec<Value> = (0..7).map(|i| json!({"id": format!("c{i}")})).collect();
        w.append(&companies[..4]).expect("append");
        w.append(&companies[4..]).expect("append");
        let spool = CompanySpool::default();
        assert_eq!(spool.spooled_companies(), None, "nothing before finish");
        spool.set_complete(w.finish().expect("finish"));
        assert_eq!(spool.spooled_companies(), Some(7));
        let mut pages = Vec::new();
        let spooled = spool.complete().expect("complete");
        replay(&spooled, 3, async |page: Vec<Value>| {
            pages.push(page);
            Ok(())
        })
        .await
        .expect("replay");
        let sizes: Vec<usize> = pages.iter().map(Vec::len).collect();
        assert_eq!(sizes, [3, 3, 1]);
        assert_eq!(pages.concat(), companies);
    }

    /// Companies delivered by one `read_companies`, or its error.
    async fn read_all(
        client: &IntercomClient,
        options: &ExtractOptions,
        fail_first_page: bool,
    ) -> Result<Vec<Value>> {
        let mut got = Vec::new();
        read_companies(client, options, async |page: Vec<Value>| {
            if fail_first_page {
                return Err(Error::Internal("the writer stopped".into()));
            }
            got.extend(page);
            Ok(())
        })
        .await?;
        Ok(got)
    }

    #[tokio::test]
    async fn an_interrupted_scroll_is_not_reused_and_a_complete_one_is_read_once() {
        let sim = crate::simulator::spawn(crate::simulator::SimConfig {
            contacts: 5,
            conversations: 1,
            parts: 1,
            companies: 120,
            // The scroll the failed read left open expires soon.
            scroll_expiry_secs: 1,
            ..Default::default()
        })
        .await
        .expect("simulator");
        let client = crate::http::test_client(&sim.base_url(), 2);
        let options = ExtractOptions {
            per_page: 50,
            concurrency: 2,
            lookback_secs: 0,
            checkpoint_every: std::time::Duration::ZERO,
            progress: Default::default(),
            anomalies: Default::default(),
            companies: CompanySpool::default(),
            lists: Default::default(),
            conversations: Default::default(),
            searches: Default::default(),
        };
        // A report whose writer failed on the first page: nothing to reuse.
        assert!(read_all(&client, &options, true).await.is_err());
        assert_eq!(options.companies.spooled_companies(), None);
        // The next report scrolls itself, to the end.
        let before = client.stats().requests;
        let scrolled = read_all(&client, &options, false).await.expect("scroll");
        assert!(client.stats().requests > before, "it scrolled");
        assert_eq!(scrolled.len(), 120);
        assert_eq!(options.companies.spooled_companies(), Some(120));
        // The third reads the spool: no request, the same companies.
        let before = client.stats().requests;
        let replayed = read_all(&client, &options, false).await.expect("replay");
        assert_eq!(client.stats().requests, before, "no request");
        assert_eq!(replayed, scrolled);
    }

    #[tokio::test]
    async fn reports_reading_at_once_make_one_scroll() {
        let sim = crate::simulator::spawn(crate::simulator::SimConfig {
            contacts: 5,
            conversations: 1,
            parts: 1,
            companies: 120,
            ..Default::default()
        })
        .await
        .expect("simulator");
        let client = crate::http::test_client(&sim.base_url(), 8);
        let options = ExtractOptions {
            per_page: 50,
            concurrency: 2,
            lookback_secs: 0,
            checkpoint_every: std::time::Duration::ZERO,
            progress: Default::default(),
            anomalies: Default::default(),
            companies: CompanySpool::default(),
            lists: Default::default(),
            conversations: Default::default(),
            searches: Default::default(),
        };
        let (a, b, c) = tokio::join!(
            read_all(&client, &options, false),
            read_all(&client, &options, false),
            read_all(&client, &options, false),
        );
        let (a, b, c) = (a.expect("a"), b.expect("b"), c.expect("c"));
        assert_eq!(a.len(), 120);
        assert!(a == b && b == c, "every reader got every company once");
        // 50 companies a page and an empty last page: one pass is 4 requests.
        assert_eq!(sim.sim.stats()["by_endpoint"]["GET /companies/scroll"], 4);
        assert_eq!(client.stats().requests, 4, "one scroll, no retries");
    }

    #[test]
    fn the_spool_file_goes_with_the_last_handle() {
        let w = SpoolWriter::create().expect("temp file");
        let dir = w.dir.path().to_path_buf();
        let spool = CompanySpool::default();
        spool.set_complete(w.finish().expect("finish"));
        assert!(dir.exists());
        drop(spool);
        assert!(!dir.exists(), "the run's spool is removed with the run");
    }
}
