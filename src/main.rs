//! The `gatehouse` binary: parse the command line, hand over to the library.

// argon2 allocates 19 MiB per hash; glibc malloc keeps those pages and RSS balloons.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    gatehouse::cli::run(gatehouse::cli::args::Cli::from_process_args())
}
