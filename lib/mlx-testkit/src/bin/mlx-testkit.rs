//! The `mlx` umbrella over the fake stages of `mlx-testkit`, for integration tests.
//!
//! `mlx-testkit __slow-write PATH` is a helper for the crash test: it writes PATH
//! atomically in slow chunks, announcing on stdout when it is half-way, so a test
//! can kill it mid-write.

use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<_> = std::env::args_os().collect();
    if args.get(1).is_some_and(|a| a == "__slow-write") {
        let Some(path) = args.get(2) else {
            return ExitCode::from(2);
        };
        let mut f =
            mlx_core::fsutil::AtomicFile::create(std::path::Path::new(path)).expect("create");
        for i in 0.. {
            f.write_all(&[b'n'; 4096]).expect("write");
            f.flush().expect("flush");
            if i == 16 {
                println!("half-way");
                std::io::stdout().flush().expect("stdout");
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
            if i == 10_000 {
                break;
            }
        }
        f.commit().expect("commit");
        return ExitCode::SUCCESS;
    }
    mlx_cli::umbrella_main_with(&mlx_testkit::fake_verbs(), args)
}
