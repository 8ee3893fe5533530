//! The `gatehouse` binary: parse the command line, hand over to the library.

use std::os::unix::process::CommandExt;
use std::process::Command as Process;

use gatehouse::cli::args::{Cli, Command};

// argon2 allocates its memory blocks per hash; glibc malloc keeps those pages and RSS
// balloons. mimalloc returns freed memory to the system.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The allocators' settings the service unit (deploy/gatehouse.service) gives, for a binary
/// started without them: mimalloc returns freed memory at once rather than a second later
/// (after 50 sign-ins, an argon2 block of 7 MiB stayed resident), and glibc malloc, which
/// SQLite and libpq use, keeps two arenas rather than one per thread.
const ALLOCATOR_SETTINGS: [(&str, &str); 2] =
    [("MIMALLOC_PURGE_DELAY", "0"), ("MALLOC_ARENA_MAX", "2")];

fn main() -> std::process::ExitCode {
    // No transparent huge pages for this process (inherited across exec): a small server
    // touching a few KiB in each of its threads' heaps would otherwise hold 2 MiB pages
    // (16 of 20 MiB of anonymous memory at idle were huge pages). Best effort: a kernel
    // without the prctl changes nothing.
    let _ = rustix::thread::disable_transparent_huge_pages(true);
    let cli = Cli::from_process_args();
    // The server only: a command-line import churns through batches, and purging each
    // freed page at once cost it ~18 % more CPU (bench/RESULTS.md).
    if matches!(cli.command, None | Some(Command::Serve)) {
        apply_allocator_settings();
    }
    gatehouse::cli::run(cli)
}

/// Both allocators read their settings from the environment before `main` runs, and
/// setting them in code needs FFI (`unsafe`, which this crate forbids). When any is
/// missing, run this same program again (same process id, arguments and descriptors) with
/// it added; a setting the operator gave is kept. If that fails, carry on as we are.
fn apply_allocator_settings() {
    let missing: Vec<_> = ALLOCATOR_SETTINGS
        .iter()
        .filter(|(name, _)| std::env::var_os(name).is_none())
        .collect();
    if missing.is_empty() {
        return;
    }
    // By its path, so the process keeps its name (`ps`, `top`); `/proc/self/exe` when the
    // path is gone (the binary was replaced while running).
    let program = std::env::current_exe()
        .ok()
        .filter(|p| p.exists())
        .unwrap_or_else(|| "/proc/self/exe".into());
    let mut args = std::env::args_os();
    let mut again = Process::new(program);
    if let Some(name) = args.next() {
        again.arg0(name);
    }
    again.args(args);
    for (name, value) in missing {
        again.env(name, value);
    }
    // `exec` returns only when it failed.
    let _ = again.exec();
}
