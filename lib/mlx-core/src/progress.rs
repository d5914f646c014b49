//! Progress bars on stderr for long work.
//!
//! Bars are drawn only when stderr is a terminal (indicatif checks) and the user did
//! not ask for `-q`; in CI logs and pipes they are invisible, so stdout stays data.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

static QUIET: AtomicBool = AtomicBool::new(false);

/// Hides every bar (set by `-q`).
pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
}

/// Every bar is drawn through one `MultiProgress`, so that bars shown at the same time
/// (the models being trained, and each network's epochs) stack instead of overwriting
/// each other.
fn bar(len: u64) -> ProgressBar {
    static MULTI: OnceLock<MultiProgress> = OnceLock::new();
    MULTI
        .get_or_init(|| {
            MultiProgress::with_draw_target(if QUIET.load(Ordering::Relaxed) {
                ProgressDrawTarget::hidden()
            } else {
                ProgressDrawTarget::stderr()
            })
        })
        .add(ProgressBar::new(len))
}

/// A bar over `len` bytes. Below 64 MiB it stays hidden: such work takes well under
/// a second and a flashing bar is noise.
pub fn bytes_bar(len: u64, message: &str) -> ProgressBar {
    if len < 64 << 20 {
        return ProgressBar::hidden();
    }
    let bar = bar(len);
    bar.set_style(
        ProgressStyle::with_template(
            "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.set_message(message.to_owned());
    bar
}

/// A bar over `len` steps (models, trials), shown when there are at least two.
pub fn count_bar(len: u64, message: &str) -> ProgressBar {
    if len < 2 {
        return ProgressBar::hidden();
    }
    let bar = bar(len);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message(message.to_owned());
    bar
}

/// A bar over the tasks of the Spark job that is running (`engine.kind: spark`), its
/// length following what the Spark Connect server reports.
pub fn tasks_bar(message: &str) -> ProgressBar {
    let bar = bar(0);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} tasks")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message(message.to_owned());
    bar
}
