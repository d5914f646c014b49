//! Test harness: fake stages that read and write real files, so the runner, records,
//! skipping, exit codes and GitHub outputs are tested end to end before (and
//! independently of) the real stages.
//!
//! The fakes, in order:
//! - `prepare` (config `data`): concatenates the files named by `data.sources[*].uri`,
//!   upper-cased, into `<workdir>/prepared.txt`.
//! - `fit` (config `training`): writes `<workdir>/model.txt` with the seed and the
//!   number of prepared lines.
//! - `check` (config `evaluation`): fails when `evaluation.threshold` is above 1,
//!   warns when it is exactly 1.
//! - `explain` (config `explain`): disabled by `explain.enabled: false`.
//!
//! Every run of a fake appends its name to `<workdir>/runs.log`, which tests read to
//! count executions.
//!
//! Every integration test of the workspace runs binaries through [`harness`] (one
//! command builder, its environment scrubbed) in a [`Sandbox`].

pub mod actions;
pub mod github;
pub mod harness;
pub mod sim;

use std::io::Write;
use std::path::{Path, PathBuf};

use mlx_cli::verbs::{Plain, Verb};
use mlx_contracts::Status;
use mlx_core::error::IoContext;
use mlx_core::fsutil::atomic_write;
use mlx_core::{Context, Error, Outcome, Result, Stage};

pub use harness::{command, command_in, program, root, std_command};

fn log_run(ctx: &Context, name: &str) -> Result<()> {
    let path = ctx.workdir.join("runs.log");
    std::fs::create_dir_all(ctx.workdir.root()).with_path("creating", ctx.workdir.root())?;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .with_path("opening", &path)?;
    writeln!(f, "{name}").with_path("writing", &path)
}

/// `prepare`: see the crate docs.
pub struct Prepare;
/// `fit`: see the crate docs.
pub struct Fit;
/// `check`: see the crate docs.
pub struct Check;
/// `explain`: see the crate docs.
pub struct Explain;

impl Stage for Prepare {
    fn name(&self) -> &'static str {
        "prepare"
    }
    fn about(&self) -> &'static str {
        "Fake: upper-case and concatenate the data sources"
    }
    fn long_about(&self) -> &'static str {
        "Examples:\n  mlx-testkit prepare --suffix '!'"
    }
    fn sections(&self) -> &'static [&'static str] {
        &["data"]
    }
    fn inputs(&self, ctx: &Context) -> Vec<PathBuf> {
        ctx.config
            .config
            .data
            .sources
            .iter()
            .map(|s| PathBuf::from(&s.uri))
            .collect()
    }
    fn outputs(&self, ctx: &Context) -> Vec<PathBuf> {
        vec![ctx.workdir.join("prepared.txt")]
    }
    fn run(&self, ctx: &Context) -> Result<Outcome> {
        prepare(ctx, "")
    }
}

/// The fake `prepare`, each line ending in `suffix`.
fn prepare(ctx: &Context, suffix: &str) -> Result<Outcome> {
    log_run(ctx, "prepare")?;
    let mut text = String::new();
    for s in &ctx.config.config.data.sources {
        let p = Path::new(&s.uri);
        let content =
            std::fs::read_to_string(p).with_path(&format!("reading source `{}` at", s.name), p)?;
        for line in content.lines() {
            text.push_str(&line.to_uppercase());
            text.push_str(suffix);
            text.push('\n');
        }
    }
    let out = ctx.workdir.join("prepared.txt");
    atomic_write(&out, text.as_bytes()).with_path("writing", &out)?;
    let lines = text.lines().count();
    let mut o = Outcome::passed(format!("{lines} lines prepared"));
    o.outputs_kv.insert("lines".into(), lines.to_string());
    o.details = serde_json::json!({ "lines": lines });
    Ok(o)
}

/// `prepare --suffix`.
struct PrepareVerb;

impl Verb for PrepareVerb {
    fn stage(&self) -> &'static dyn Stage {
        &Prepare
    }
    fn args(&self, cmd: clap::Command) -> clap::Command {
        cmd.arg(
            clap::Arg::new("suffix")
                .long("suffix")
                .default_value("")
                .help("Appended to every line"),
        )
    }
    fn run(&self, ctx: &Context, args: &clap::ArgMatches) -> Result<Outcome> {
        prepare(
            ctx,
            args.get_one::<String>("suffix").map_or("", String::as_str),
        )
    }
}

impl Stage for Fit {
    fn name(&self) -> &'static str {
        "fit"
    }
    fn about(&self) -> &'static str {
        "Fake: write a model file from the prepared data"
    }
    fn sections(&self) -> &'static [&'static str] {
        &["training"]
    }
    fn inputs(&self, ctx: &Context) -> Vec<PathBuf> {
        vec![ctx.workdir.join("prepared.txt")]
    }
    fn outputs(&self, ctx: &Context) -> Vec<PathBuf> {
        vec![ctx.workdir.join("model.txt")]
    }
    fn run(&self, ctx: &Context) -> Result<Outcome> {
        log_run(ctx, self.name())?;
        let input = ctx.workdir.join("prepared.txt");
        let data = std::fs::read_to_string(&input).map_err(|e| {
            Error::io(
                format!("reading {} (run `prepare` first)", input.display()),
                e,
            )
        })?;
        let out = ctx.workdir.join("model.txt");
        let model = format!(
            "seed={}\nlines={}\n",
            ctx.config.config.training.seed,
            data.lines().count()
        );
        atomic_write(&out, model.as_bytes()).with_path("writing", &out)?;
        Ok(Outcome::passed("model written"))
    }
}

impl Stage for Check {
    fn name(&self) -> &'static str {
        "check"
    }
    fn about(&self) -> &'static str {
        "Fake: a check that fails when evaluation.threshold is above 1"
    }
    fn sections(&self) -> &'static [&'static str] {
        &["evaluation"]
    }
    fn inputs(&self, ctx: &Context) -> Vec<PathBuf> {
        vec![ctx.workdir.join("model.txt")]
    }
    fn outputs(&self, _ctx: &Context) -> Vec<PathBuf> {
        Vec::new()
    }
    fn run(&self, ctx: &Context) -> Result<Outcome> {
        log_run(ctx, self.name())?;
        let t = ctx.config.config.evaluation.threshold.unwrap_or(0.5);
        let (status, summary) = if t > 1.0 {
            (Status::Failed, format!("threshold {t} cannot be met"))
        } else if t == 1.0 {
            (
                Status::Warned,
                "threshold 1 is met only by a perfect model".to_owned(),
            )
        } else {
            (Status::Passed, format!("threshold {t} met"))
        };
        let mut o = Outcome::with_status(status, summary);
        o.outputs_kv.insert("score".into(), "1".into());
        o.report_md = Some(format!(
            "## check\n\n| threshold | status |\n|---|---|\n| {t} | {status} |\n"
        ));
        Ok(o)
    }
}

impl Stage for Explain {
    fn name(&self) -> &'static str {
        "explain"
    }
    fn about(&self) -> &'static str {
        "Fake: a stage the config can turn off"
    }
    fn sections(&self) -> &'static [&'static str] {
        &["explain"]
    }
    fn enabled(&self, config: &mlx_contracts::Config) -> bool {
        config.explain.enabled
    }
    fn inputs(&self, ctx: &Context) -> Vec<PathBuf> {
        vec![ctx.workdir.join("model.txt")]
    }
    fn outputs(&self, ctx: &Context) -> Vec<PathBuf> {
        vec![ctx.workdir.join("explain.txt")]
    }
    fn run(&self, ctx: &Context) -> Result<Outcome> {
        log_run(ctx, self.name())?;
        let out = ctx.workdir.join("explain.txt");
        atomic_write(&out, b"explained\n").with_path("writing", &out)?;
        Ok(Outcome::passed("explained"))
    }
}

static FIT: Plain = Plain(&Fit);
static CHECK: Plain = Plain(&Check);
static EXPLAIN: Plain = Plain(&Explain);

/// The fake pipeline's verbs, in order.
pub fn fake_verbs() -> Vec<&'static dyn Verb> {
    vec![&PrepareVerb, &FIT, &CHECK, &EXPLAIN]
}

/// A temporary project directory with helpers to write files into it.
pub struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    /// A fresh, empty directory.
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temporary directory"),
        }
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a file (creating parent directories) and returns its path.
    pub fn write(&self, rel: &str, content: &str) -> PathBuf {
        let p = self.dir.path().join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("create parent");
        }
        std::fs::write(&p, content).expect("write file");
        p
    }

    /// A project over the example churn data (`customers.csv`, whose churn follows
    /// tenure, plan and income) with `config` as its mlx.yaml.
    pub fn churn(config: &str) -> Self {
        let s = Self::new();
        s.copy(
            &root().join("config/examples/data/customers.csv"),
            "customers.csv",
        );
        s.write("mlx.yaml", config);
        s
    }

    /// Copies a file into the sandbox (creating parent directories) and returns its
    /// path there.
    pub fn copy(&self, from: &Path, rel: &str) -> PathBuf {
        let p = self.dir.path().join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("create parent");
        }
        std::fs::copy(from, &p).unwrap_or_else(|e| panic!("copy {}: {e}", from.display()));
        p
    }

    /// Reads a file as text.
    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(rel)).unwrap_or_default()
    }
}

impl Default for Sandbox {
    fn default() -> Self {
        Self::new()
    }
}

/// Every file below `dir` that holds `needle` (a canary secret a test looks for).
pub fn files_holding(dir: &Path, needle: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("listing") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                stack.push(p);
            } else if std::fs::read(&p)
                .expect("reading")
                .windows(needle.len())
                .any(|w| w == needle)
            {
                found.push(p.display().to_string());
            }
        }
    }
    found
}
