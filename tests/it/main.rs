//! The one integration-test binary (each extra file under tests/ would be
//! another slow link step). Modules by theme:

// Shared machinery: in-process simulator, running the binary, reading files.
mod harness;

// Exit codes and messages of the command line; the token never leaks.
mod cli;

// End-to-end syncs compared with the simulator's ground truth.
mod sync;

// The output schemas under schemas/ and the example config match the code.
mod schemas;

mod simulator;

// The simulator's rate limit and faults; syncs that survive them.
mod faults;

// Windowed search extraction and the lookback margin.
mod windows;
