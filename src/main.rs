//! The `gatehouse` binary: parse the command line, hand over to the library.

// argon2 allocates its memory blocks per hash; glibc malloc keeps those pages and RSS
// balloons. mimalloc returns freed memory to the system.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    // No transparent huge pages for this process: a small server touching a few KiB in
    // each of its threads' heaps would otherwise hold 2 MiB pages (16 of 20 MiB of
    // anonymous memory at idle were huge pages). Best effort: a kernel without the prctl
    // changes nothing.
    let _ = rustix::thread::disable_transparent_huge_pages(true);
    gatehouse::cli::run(gatehouse::cli::args::Cli::from_process_args())
}
