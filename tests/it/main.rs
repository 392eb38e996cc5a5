//! The one integration-test binary (each extra file under tests/ would be
//! another slow link step). Modules by theme:

// Shared machinery: in-process simulator, running the binary, reading files.
mod harness;

// Exit codes and messages of the command line; the token never leaks.
mod cli;

// End-to-end syncs compared with the simulator's ground truth.
mod sync;

// Reports with options, compared with the filtered ground truth.
mod reports;

// Every column of every row against the ground truth.
mod columns;

// The output schemas under schemas/ and the example config match the code.
mod schemas;

// The report registry: every report declares columns, plan, probes; check
// probes exactly the registered reports; backfill names what it leaves out.
mod registry;

// The keys in schemas/ hold in a full export: unique primary keys, resolving
// foreign keys.
mod keys;

mod simulator;

// Tickets with their histories, ratings, attachments, activity logs and the
// help center in the simulator (issue #17), against its truth.
mod sim_lifecycle;

// The simulator's response latency (`--latency`): per class, seeded.
mod latency;

// Search windows read several at once: in flight together, exactly once,
// killed while reading ahead and resumed from the committed prefix.
mod parallel_windows;

// A dense newest contact window cut by created_at: exactly once, in parts,
// killed between parts (issue #15).
mod dense_windows;

// `events` by event_type (users, leads, all) against the ground truth.
mod events;

// The simulator's rate limit and faults; syncs that survive them.
mod faults;

// Hung calls give their in-flight slots away; the export equals the truth.
mod stalls;

// The company scroll under faults: restarts, never a lost page.
mod scroll;

// One companies scroll per run for the three company reports.
mod shared_scroll;

// One GET per changed conversation per run for the three reports that read
// conversation details: counted, against the truth, across kills.
mod shared_reads;

// A sync with nothing changed: at most one request per report.
mod quiet;

// One conversation (and ticket) search per run for every report that reads
// it: counted, against the truth.
mod shared_search;

// Local and object-store destinations give the same export.
mod destinations;

// The reports of a run side by side: overlap, per-report requests, one
// company scroll, exactly once also after kills mid-run.
mod side_by_side;

// Windowed search extraction and the lookback margin.
mod windows;

// Simulator datasets beyond contacts/conversations, and its quirks.
mod sim_datasets;

// SIGKILL at many points of a sync; the state lock.
mod crash;

// backfill, schedule, check, state show/reset.
mod modes;

// Items that fail are recorded, reported and recovered.
mod failed;

// The extraction engine: lookback in every kind of report, backfill of
// fan-outs, smaller pages for failing lists, fan-outs where nothing succeeds.
mod fanout;

// Situations from other connectors' bug reports, as fake answers and faults.
mod bugreports;

// Every served endpoint against Intercom's OpenAPI response schemas.
mod spec;

// Several workspaces, Postgres state shared by workers, object-store output.
mod fleet;

// `[[workspace]]` blocks side by side against one simulator serving many
// tokens; `max_parallel_workspaces`; a refused token fails alone.
mod workspaces_side_by_side;

// The simulator's write API: a story through the API, then synced.
mod writes;

// Real Intercom wire shapes, timestamp forms and "none" sentinels; every
// column has a value somewhere.
mod shapes;

// The share of the allowed calls in the run summary.
mod summary;

// `intercom-export tap`: the Singer catalog, RECORDs against truth and
// Parquet, the STATE round trip, bad input.
mod tap;

// `schedule --metrics-addr`: Prometheus metrics against the summary and truth.
mod metrics;

// Tombstones (`deletions`) against the simulator's truth, across crashes.
mod deletions;

// activity_logs, articles, collections, help_centers against the truth.
mod helpcenter;

// The ticket history, ticket contacts, part attachments and lifecycle
// events reports (issue #17) against the simulator's truth, across syncs.
mod lifecycle;

// Calls in flight found by measurement (rate limit × latency), bounded by
// `concurrency`, against a simulator with latency.
mod inflight;

// A fan-out's parent windows read ahead: in flight together, exactly once,
// killed while reading ahead and resumed from the last checkpoint.
mod parents_ahead;

// SIGTERM with reports side by side: every report stops at its last
// checkpoint, no request after the signal, the rerun completes once.
mod sigterm;

// `reports` / `exclude_reports` from the file, the environment and the
// flags: the command line wins; errors name where a name was given.
mod report_lists;

// A failed write names the path and what to do, and leaves no empty
// directories (never removing an earlier run's).
mod failed_writes;

// Findings of a new user's trial: cleanup after a failed write, progress
// lines, JSON errors, environment typos, clear errors, named anomalies.
mod ops;

// Findings of a fourth trial: INTERCOM_LOG_FORMAT, a report's last log line
// after its anomaly warnings (failed, stopped, done), no state left by a
// first run that reached no server.
mod fourth_trial;
