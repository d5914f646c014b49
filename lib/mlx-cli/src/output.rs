//! What the binaries say: results on stdout (tables, lists, reports, `--json`),
//! diagnostics and progress on stderr, GitHub outputs. Every line is masked with the
//! secrets of the configs the process loaded, and a closed pipe (`mlx … | head`) ends
//! the program quietly instead of panicking.

use std::path::Path;

use mlx_contracts::Status;
use mlx_core::config::Diagnostics;
use mlx_core::pipeline::{Executed, Step};
use mlx_core::{Error, ExitStatus};
use serde_json::json;
use tracing_subscriber::EnvFilter;

use crate::github::Actions;
use crate::GlobalArgs;

/// Writes a result to stdout, masked. A reader that has gone away (`| head`) ends
/// the program with exit 0, as it would end `cat`: nothing more can be said to it.
pub fn stdout(text: &str) {
    use std::io::Write;
    let masked = mlx_core::config::mask_known(text);
    let text = inert(&masked);
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(e) => {
            stderr(&format!("error: writing to stdout: {e}\n"));
            std::process::exit(ExitStatus::Runtime as i32);
        }
    }
}

/// Writes a diagnostic to stderr, masked; a closed stderr is ignored.
pub fn stderr(text: &str) {
    use std::io::Write;
    let text = commands_named(&mlx_core::config::mask_known(text)).into_owned();
    let _ = std::io::stderr().write_all(inert(&text).as_bytes());
}

/// Whether this process is the `mlx` umbrella, whose user may have built no `mlx-<stage>`
/// binary (`cargo run -p mlx`).
static UMBRELLA: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Diagnostics from now on name commands as the umbrella runs them.
pub fn speak_as_umbrella() {
    UMBRELLA.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// The binaries that are also subcommands of `mlx`.
const STAGE_BINARIES: [&str; 11] = [
    "ingest", "version", "validate", "features", "train", "eval", "shap", "gate", "promote",
    "monitor", "serve",
];

/// Messages name the standalone binaries (`run \`mlx-gate review\``); under the umbrella
/// they name its subcommands (`mlx gate review`), which exist in every build that has
/// `mlx`. File names such as `mlx-train.yml` and paths such as `bins/mlx-gate` are kept.
pub fn commands_named(text: &str) -> std::borrow::Cow<'_, str> {
    if !UMBRELLA.load(std::sync::atomic::Ordering::Relaxed) || !text.contains("mlx-") {
        return text.into();
    }
    rename_commands(text).into()
}

fn rename_commands(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("mlx-") {
        let (before, from) = rest.split_at(at);
        out.push_str(before);
        let word_start = !out
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || "/._-".contains(c));
        let after = &from[4..];
        // `mlx-train.yml` is a file, `mlx-train.` ends a sentence.
        let ends = |tail: &str| {
            let mut c = tail.chars();
            match c.next() {
                None => true,
                Some('.') => !c.next().is_some_and(char::is_alphanumeric),
                Some(x) => !(x.is_alphanumeric() || "_-/".contains(x)),
            }
        };
        let stage = STAGE_BINARIES
            .iter()
            .find(|s| after.starts_with(**s) && ends(&after[s.len()..]));
        match stage {
            Some(s) if word_start => {
                out.push_str("mlx ");
                out.push_str(s);
                rest = &after[s.len()..];
            }
            _ => {
                out.push_str("mlx-");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Control characters other than line breaks and tabs, shown as `\u{..}` instead of
/// being sent: a value from the data (a column name, a category) holding an ANSI
/// escape must not drive the user's terminal.
fn inert(text: &str) -> std::borrow::Cow<'_, str> {
    if !text
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\t' | '\r'))
    {
        return text.into();
    }
    text.chars()
        .map(|c| match c {
            '\n' | '\t' | '\r' => c.to_string(),
            c if c.is_control() => c.escape_unicode().to_string(),
            c => c.to_string(),
        })
        .collect::<String>()
        .into()
}

/// Pretty JSON of a result; a value that cannot be serialised is an error, never an
/// empty line.
pub fn json_text(value: &serde_json::Value) -> Result<String, Error> {
    serde_json::to_string_pretty(value)
        .map_err(|e| Error::Runtime(format!("cannot serialise the result as JSON: {e}")))
}

/// Stderr reporting for one invocation.
pub struct Ui {
    quiet: bool,
    actions: Actions,
}

impl Ui {
    /// Sets up logging (`-v`, `-q`, `MLX_LOG`) and progress bars.
    pub fn init(g: &GlobalArgs) -> Self {
        let level = if g.quiet {
            "error"
        } else {
            match g.verbose {
                0 => "warn",
                1 => "debug",
                _ => "trace",
            }
        };
        // delta-rs logs the errors it returns, with a backtrace; mlx says them once, in
        // its own message. `-v` shows them.
        let level = if g.verbose == 0 {
            format!("{level},deltalake_core=off,buoyant_kernel=off,buoyant_kernel_engine=off")
        } else {
            level.to_string()
        };
        let filter = EnvFilter::try_from_env("MLX_LOG").unwrap_or_else(|_| EnvFilter::new(level));
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .without_time()
            .with_target(false)
            .try_init();
        mlx_core::progress::set_quiet(g.quiet);
        Self {
            quiet: g.quiet,
            actions: Actions::from_env(),
        }
    }

    /// A line of information (hidden by `-q`).
    pub fn info(&self, msg: &str) {
        if !self.quiet {
            stderr(&format!("{msg}\n"));
        }
    }

    /// An error, always shown.
    pub fn error(&self, e: &Error) {
        match e {
            Error::Config(d) => stderr(&format!("error: {d}\n")),
            other => stderr(&format!("error: {other:#}\n")),
        }
    }

    /// Reports a finished stage and exports its outputs to GitHub.
    pub fn stage_done(&self, ex: &Executed, reason: Option<&str>) {
        let r = &ex.record;
        let why = reason.map(|r| format!(" ({r})")).unwrap_or_default();
        self.info(&format!(
            "{} {}{why}: {} in {:.2}s: {}",
            mark(r.status),
            r.stage,
            r.status,
            r.duration_s,
            r.summary
        ));
        let mut kv = r.outputs_kv.clone();
        kv.insert(format!("{}_status", r.stage), r.status.to_string());
        if let Err(e) = self.actions.set_outputs(&kv) {
            tracing::warn!("could not write $GITHUB_OUTPUT: {e}");
        }
        let md = ex.report_md.clone().unwrap_or_else(|| {
            format!(
                "### mlx {}: {} {}\n\n{}\n",
                r.stage,
                mark(r.status),
                r.status,
                r.summary
            )
        });
        if let Err(e) = self.actions.add_summary(&md) {
            tracing::warn!("could not write $GITHUB_STEP_SUMMARY: {e}");
        }
    }

    /// Reports one step of `mlx run`.
    pub fn step(&self, name: &str, step: &Step) {
        match step {
            Step::Ran { reason, executed } => self.stage_done(executed, Some(reason)),
            Step::Skipped(r) => self.info(&format!(
                "- {name}: up to date ({}, {})",
                r.status,
                r.finished_at.format("%Y-%m-%d %H:%M:%S UTC")
            )),
            Step::Disabled => self.info(&format!("- {name}: disabled in config")),
            Step::WouldRun(reason) => self.info(&format!("> {name}: would run ({reason})")),
        }
    }

    /// Step outputs for `$GITHUB_OUTPUT` (inside GitHub Actions only).
    pub fn outputs(&self, kv: &std::collections::BTreeMap<String, String>) {
        if let Err(e) = self.actions.set_outputs(kv) {
            tracing::warn!("cannot write $GITHUB_OUTPUT: {e}");
        }
    }

    /// After `mlx run` has evaluated candidates: the comparison table, and where the
    /// reports are.
    pub fn run_summary(&self, ctx: &mlx_core::stage::Context, steps: &[(String, Step)]) {
        let board = steps.iter().find_map(|(name, step)| match step {
            Step::Ran { executed, .. } if name == "eval" => {
                serde_json::from_value::<mlx_contracts::eval::Leaderboard>(
                    executed.record.details.clone(),
                )
                .ok()
            }
            _ => None,
        });
        let Some(board) = board else {
            return;
        };
        let cfg = &ctx.config.config;
        stdout(&format!(
            "\n{} on the {} rows:\n{}\n\nReports: {}\n",
            board.primary_metric.as_str(),
            board.set,
            mlx_core::eval::report::leaderboard_table(&board, cfg),
            ctx.workdir.join("reports").display()
        ));
    }

    /// A summary table of `mlx run` for the GitHub step summary.
    pub fn github_run_summary(&self, steps: &[(String, Step)]) {
        if steps.is_empty() {
            return;
        }
        let mut md = String::from("### mlx run\n\n| stage | result |\n|---|---|\n");
        for (name, step) in steps {
            let result = match step {
                Step::Ran { executed, .. } => format!(
                    "{} {}: {}",
                    mark(executed.record.status),
                    executed.record.status,
                    executed.record.summary.replace('|', "\\|")
                ),
                Step::Skipped(_) => "up to date".into(),
                Step::Disabled => "disabled".into(),
                Step::WouldRun(r) => format!("would run ({r})"),
            };
            md.push_str(&format!("| {name} | {result} |\n"));
        }
        let _ = self.actions.add_summary(&md);
    }
}

fn mark(s: Status) -> &'static str {
    match s {
        Status::Passed => "✔",
        Status::Warned => "⚠",
        Status::Failed => "✘",
    }
}

/// Exit code for a stage status.
pub fn status_exit(s: Status) -> ExitStatus {
    if s == Status::Failed {
        ExitStatus::CheckFailed
    } else {
        ExitStatus::Ok
    }
}

/// Exit code for a pipeline run: 1 when any stage that ran failed.
pub fn steps_exit(steps: &[(String, Step)]) -> ExitStatus {
    let failed = steps.iter().any(|(_, s)| matches!(s, Step::Ran { executed, .. } if executed.record.status == Status::Failed));
    if failed {
        ExitStatus::CheckFailed
    } else {
        ExitStatus::Ok
    }
}

/// `mlx run --json`: one object per stage considered.
pub fn steps_json(steps: &[(String, Step)]) -> String {
    let items: Vec<serde_json::Value> = steps
        .iter()
        .map(|(name, step)| match step {
            Step::Ran { reason, executed } => json!({"stage": name, "action": "ran", "reason": reason, "status": executed.record.status, "record": executed.record}),
            Step::Skipped(r) => json!({"stage": name, "action": "skipped", "reason": "up to date", "status": r.status, "record": r}),
            Step::Disabled => json!({"stage": name, "action": "disabled", "reason": "disabled in config", "status": null, "record": null}),
            Step::WouldRun(reason) => json!({"stage": name, "action": "would_run", "reason": reason, "status": null, "record": null}),
        })
        .collect();
    serde_json::to_string_pretty(&items).unwrap_or_default()
}

/// `mlx config check --json`: one object per file.
pub fn check_json(file: &Path, problems: Option<&Diagnostics>) -> serde_json::Value {
    let errors: Vec<serde_json::Value> = problems
        .map(|d| {
            d.0.iter()
                .map(|d| json!({"line": d.line, "column": d.column, "key": d.key, "message": d.message, "hint": d.hint}))
                .collect()
        })
        .unwrap_or_default();
    json!({"file": file.display().to_string(), "ok": problems.is_none(), "errors": errors})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_umbrella_names_its_own_subcommands() {
        assert_eq!(
            rename_commands("run `mlx-gate review --decision approve` or `mlx-promote rollback`"),
            "run `mlx gate review --decision approve` or `mlx promote rollback`"
        );
        assert_eq!(
            rename_commands("run mlx-features first; then mlx-train."),
            "run mlx features first; then mlx train."
        );
        // File names, paths, other words and unknown binaries are left alone.
        for kept in [
            "dispatched mlx-train.yml",
            "cargo install --path bins/mlx-gate",
            "xmlx-gate",
            "`mlx-trainer`",
            "mlx-dev/mlx",
            "mlx-cache",
        ] {
            assert_eq!(rename_commands(kept), kept);
        }
    }
}
