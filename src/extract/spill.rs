//! Pages read ahead of their turn, kept in a temporary file.
//!
//! A search window read ahead of the one being delivered
//! ([`crate::extract::windows_parallel`]) keeps its pages until its turn.
//! Past a small in-memory budget it writes them here instead: one page a
//! line (the page's records as one JSON array of their text as received,
//! not encoded again; line breaks between tokens become spaces), written with one `write`
//! per page, so a page is either whole in the file or not counted. When the
//! window's turn comes, [`Spill::replay`] reads the pages back in the order
//! they were written, and the file goes when the replay is dropped.
//!
//! The file is unnamed by default (`tempfile::tempfile()` in the system's
//! temporary directory, `TMPDIR`): the operating system removes it when it
//! is closed, also when the process is killed. With a directory (tests), it
//! is a named file `intercom-export-spill-*` there, removed when dropped.

use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde_json::value::RawValue;

use crate::error::{Error, Result};

thread_local! {
    /// The line being written or read, kept per thread between pages: a
    /// page's text is ~270 KB, and a new buffer per page would be a fresh
    /// mapping of glibc's (every block of 64 KiB or more, `crate::allocator`)
    /// whose pages fault in again on every page (about a quarter of a
    /// contact export's page faults where pages waited on disk). Per
    /// thread, not per spill: many windows spill at once, and a buffer each
    /// would hold a page's size per window.
    static LINE: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Run `f` with this thread's empty line buffer (a fresh one if it is
/// already in use on this thread).
fn with_line<R>(f: impl FnOnce(&mut Vec<u8>) -> R) -> R {
    LINE.with(|cell| match cell.try_borrow_mut() {
        Ok(mut line) => {
            line.clear();
            let out = f(&mut line);
            // A page far larger than usual is not kept for the next one.
            if line.capacity() > 1024 * 1024 {
                *line = Vec::new();
            }
            out
        }
        Err(_) => f(&mut Vec::new()),
    })
}

/// One window's pages on disk, in the order they were read.
pub(crate) struct Spill {
    file: File,
    /// The named file (removed when dropped), or `None` for an unnamed one.
    named: Option<tempfile::TempPath>,
    pages: u64,
    bytes: u64,
}

impl std::fmt::Debug for Spill {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spill")
            .field("pages", &self.pages)
            .field("bytes", &self.bytes)
            .finish()
    }
}

impl Spill {
    /// A new empty spill: an unnamed temporary file in the system's
    /// temporary directory, or a named one in `dir`.
    pub(crate) fn create(dir: Option<&Path>) -> std::io::Result<Spill> {
        let (file, named) = match dir {
            None => (tempfile::tempfile()?, None),
            Some(dir) => {
                let (file, path) = tempfile::Builder::new()
                    .prefix("intercom-export-spill-")
                    .suffix(".jsonl")
                    .tempfile_in(dir)?
                    .into_parts();
                (file, Some(path))
            }
        };
        Ok(Spill {
            file,
            named,
            pages: 0,
            bytes: 0,
        })
    }

    /// Append one page of records. On an error the page is not counted (a
    /// partly written line is never replayed); the spill should not be
    /// written to again.
    pub(crate) fn push(&mut self, page: &[Box<RawValue>]) -> std::io::Result<()> {
        // The records' text as it came, joined: nothing is encoded again.
        let len = with_line(|line| {
            self.write_line(page, line)?;
            Ok::<_, std::io::Error>(line.len() as u64)
        })?;
        self.pages += 1;
        self.bytes += len;
        Ok(())
    }

    /// Write `page` as one line (`[record,record,...]\n`) built in `line`.
    fn write_line(&mut self, page: &[Box<RawValue>], line: &mut Vec<u8>) -> std::io::Result<()> {
        line.reserve(page.iter().map(|r| r.get().len() + 1).sum::<usize>() + 2);
        line.push(b'[');
        for (i, record) in page.iter().enumerate() {
            if i > 0 {
                line.push(b',');
            }
            let text = record.get().as_bytes();
            let start = line.len();
            line.extend_from_slice(text);
            // A line per page: a line break inside a record can only be
            // whitespace between its tokens (JSON strings escape theirs),
            // so it becomes a space.
            if text.contains(&b'\n') {
                for b in &mut line[start..] {
                    if *b == b'\n' {
                        *b = b' ';
                    }
                }
            }
        }
        line.extend_from_slice(b"]\n");
        self.file.write_all(line)
    }

    /// Pages written.
    pub(crate) fn pages(&self) -> u64 {
        self.pages
    }

    /// Bytes written.
    pub(crate) fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Read the pages back, oldest first; the file is removed when the
    /// returned iterator is dropped (read to the end or not).
    pub(crate) fn replay(mut self) -> Result<Replay> {
        let where_ = self.where_();
        self.file
            .seek(SeekFrom::Start(0))
            .map_err(|e| replay_error(&where_, e))?;
        Ok(Replay {
            reader: BufReader::with_capacity(256 * 1024, self.file),
            left: self.pages,
            where_,
            _named: self.named,
        })
    }

    fn where_(&self) -> PathBuf {
        self.named
            .as_ref()
            .map_or_else(std::env::temp_dir, |p| p.to_path_buf())
    }
}

/// The pages of a [`Spill`] being read back (see [`Spill::replay`]).
pub(crate) struct Replay {
    reader: BufReader<File>,
    left: u64,
    where_: PathBuf,
    _named: Option<tempfile::TempPath>,
}

impl Iterator for Replay {
    type Item = Result<Vec<Box<RawValue>>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        // The line is read into this thread's buffer and decoded from it:
        // the records are copied out, so the buffer serves the next page.
        let read = with_line(|line| match self.reader.read_until(b'\n', line) {
            Ok(0) => None,
            Ok(_) => Some(
                serde_json::from_slice(line.strip_suffix(b"\n").unwrap_or(line))
                    .map_err(|e| replay_error(&self.where_, e.into())),
            ),
            Err(e) => Some(Err(replay_error(&self.where_, e))),
        });
        let page = match read {
            Some(page) => page,
            None => Err(replay_error(
                &self.where_,
                std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the file ended before its last page",
                ),
            )),
        };
        if page.is_err() {
            self.left = 0;
        }
        Some(page)
    }
}

/// A spilled page that cannot be read back: the report fails (nothing
/// unread is committed), and the next run reads those records again.
fn replay_error(where_: &Path, e: std::io::Error) -> Error {
    Error::Output {
        path: where_.to_path_buf(),
        source: std::io::Error::new(
            e.kind(),
            format!(
                "reading back search pages kept on disk while they waited for their turn: {e}; \
                 check the temporary directory (TMPDIR) has space and works, then run again: \
                 the export resumes from its last checkpoint"
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    /// Records as text, as a window ahead keeps them.
    fn texts(records: &[Value]) -> Vec<Box<RawValue>> {
        records
            .iter()
            .map(|v| serde_json::value::to_raw_value(v).expect("json"))
            .collect()
    }

    /// The replayed pages, decoded.
    fn decoded(replay: Replay) -> Vec<Vec<Value>> {
        replay
            .map(|page| {
                page.expect("read")
                    .iter()
                    .map(|r| serde_json::from_str(r.get()).expect("json"))
                    .collect()
            })
            .collect()
    }

    #[test]
    fn pages_come_back_in_order_and_the_named_file_goes_with_the_replay() {
        let dir = tempfile::tempdir().expect("dir");
        let mut spill = Spill::create(Some(dir.path())).expect("spill");
        let pages: Vec<Vec<Value>> = (0..3)
            .map(|p| {
                (0..4)
                    .map(|i| json!({"id": format!("c{p}-{i}"), "n": i}))
                    .collect()
            })
            .collect();
        for page in &pages {
            spill.push(&texts(page)).expect("push");
        }
        assert_eq!(spill.pages(), 3);
        assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 1);
        let replay = spill.replay().expect("replay");
        assert_eq!(decoded(replay), pages);
        assert_eq!(
            std::fs::read_dir(dir.path()).expect("ls").count(),
            0,
            "the file is removed once replayed"
        );
    }

    #[test]
    fn an_unnamed_spill_replays_too() {
        let mut spill = Spill::create(None).expect("spill");
        spill.push(&texts(&[json!({"id": "a"})])).expect("push");
        spill
            .push(&texts(&[json!({"id": "b"}), json!({"id": "c"})]))
            .expect("push");
        let back = decoded(spill.replay().expect("replay"));
        assert_eq!(
            back,
            [
                vec![json!({"id": "a"})],
                vec![json!({"id": "b"}), json!({"id": "c"})]
            ]
        );
    }

    fn raw(text: &str) -> Box<RawValue> {
        RawValue::from_string(text.to_string()).expect("json")
    }

    #[test]
    fn raw_pages_come_back_byte_equal_and_line_breaks_inside_a_record_become_spaces() {
        let pages = vec![
            vec![
                raw(r#"{"id": "a",  "n": 1.50, "s": "x\ny \u00e9 é"}"#),
                raw(r#"{"id":"b","updated_at":1700000000}"#),
            ],
            vec![raw(r#"{ "id" : "c" , "nested": {"k": [1, 2.0, null]} }"#)],
        ];
        let mut spill = Spill::create(None).expect("spill");
        for page in &pages {
            spill.push(page).expect("push");
        }
        let text =
            |p: &Vec<Box<RawValue>>| p.iter().map(|r| r.get().to_string()).collect::<Vec<_>>();
        let back: Vec<Vec<Box<RawValue>>> = spill
            .replay()
            .expect("replay")
            .collect::<Result<_>>()
            .expect("read");
        assert_eq!(
            back.iter().map(text).collect::<Vec<_>>(),
            pages.iter().map(text).collect::<Vec<_>>()
        );

        // A pretty-printed record: its line breaks are whitespace, the page
        // still takes one line, and the record decodes the same.
        let pretty = raw("{\n  \"id\": \"d\",\n  \"s\": \"two\\nlines\"\n}");
        let mut spill = Spill::create(None).expect("spill");
        spill.push(std::slice::from_ref(&pretty)).expect("push");
        spill.push(&[raw(r#"{"id":"e"}"#)]).expect("push");
        let back: Vec<Vec<Box<RawValue>>> = spill
            .replay()
            .expect("replay")
            .collect::<Result<_>>()
            .expect("read");
        assert_eq!(back.len(), 2);
        assert_eq!(
            back[0][0].get(),
            "{   \"id\": \"d\",   \"s\": \"two\\nlines\" }"
        );
        let decoded: serde_json::Value = serde_json::from_str(back[0][0].get()).expect("json");
        assert_eq!(
            decoded,
            serde_json::from_str::<serde_json::Value>(pretty.get()).expect("json")
        );
        assert_eq!(back[1][0].get(), r#"{"id":"e"}"#);
    }
}
