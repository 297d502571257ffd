//! The `pathspace` command line. It chooses the device (once, here) and calls the library.

mod cli;
mod signals;

fn main() {
    if let Err(e) = cli::run() {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
