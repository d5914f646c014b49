//! `mlx-shap`: `--run`, `--baseline`, and `mlx-shap explain` for a bundle and a file.

use std::path::{Path, PathBuf};

use clap::{Arg, ArgMatches, Command};
use mlx_core::config::LoadedConfig;
use mlx_core::shap::{explain_file, stage, ExplainFile};
use mlx_core::stage::Standalone;
use mlx_core::{Context, Outcome, Result, Stage, Workdir};

use super::Verb;

/// The verb.
pub struct Shap;

impl Verb for Shap {
    fn stage(&self) -> &'static dyn Stage {
        &mlx_core::shap::Shap
    }
    fn args(&self, cmd: Command) -> Command {
        cmd.arg(
            Arg::new("run")
                .long("run")
                .value_name("RUN_ID")
                .help("Explain this run [default: the best of leaderboard.json]"),
        )
        .arg(
            Arg::new("baseline")
                .long("baseline")
                .value_name("SHAP_JSON|VERSION")
                .env("MLX_SHAP_BASELINE")
                .help("A shap.json to compare the importance profile with (SHAP shift)"),
        )
        .subcommand(explain_command())
    }
    fn run(&self, ctx: &Context, args: &ArgMatches) -> Result<Outcome> {
        stage(
            &ctx.config.config,
            &ctx.workdir,
            args.get_one::<String>("run").map(String::as_str),
            args.get_one::<String>("baseline").map(Path::new),
        )
    }
    fn standalone(
        &self,
        args: &ArgMatches,
        _config: &dyn Fn() -> Result<Option<LoadedConfig>>,
        _workdir: &Workdir,
    ) -> Option<Result<Standalone>> {
        let (name, sub) = args.subcommand()?;
        (name == "explain").then(|| {
            let get = |k: &str| sub.get_one::<String>(k).cloned().unwrap_or_default();
            explain_file(&ExplainFile {
                bundle: PathBuf::from(get("bundle")),
                data: PathBuf::from(get("data")),
                background: sub.get_one::<String>("background").map(PathBuf::from),
                method: get("method"),
                max_rows: sub.get_one::<u32>("max-rows").copied().unwrap_or(1000),
                out: PathBuf::from(get("out")),
            })
        })
    }
}

fn explain_command() -> Command {
    Command::new("explain")
        .about("Explain the rows of a data file with a bundle, without a config")
        .after_help(
            "Examples:
  mlx-shap explain --bundle .mlx/runs/xgboost-3f2a/bundle --data rows.parquet
  mlx-shap explain --bundle model.tar --data new.csv --background train.csv --out shap/ --json

Exit codes: 0 explained, 2 a missing file or bad flag, 3 unreadable input.",
        )
        .arg(
            Arg::new("bundle")
                .long("bundle")
                .value_name("PATH")
                .required(true)
                .help("A bundle directory or packed bundle"),
        )
        .arg(
            Arg::new("data")
                .long("data")
                .value_name("FILE")
                .required(true)
                .help("Rows to explain (CSV, Parquet, JSON) with the bundle's input columns"),
        )
        .arg(
            Arg::new("background")
                .long("background")
                .value_name("FILE")
                .help("Background rows for linear and model-agnostic SHAP [default: --data]"),
        )
        .arg(
            Arg::new("method")
                .long("method")
                .value_parser(["auto", "tree", "linear", "kernel", "permutation"])
                .default_value("auto"),
        )
        .arg(
            Arg::new("max-rows")
                .long("max-rows")
                .value_parser(clap::value_parser!(u32).range(1..))
                .default_value("1000")
                .help("Explain at most this many rows (a seeded sample)"),
        )
        .arg(
            Arg::new("out")
                .long("out")
                .value_name("DIR")
                .default_value("shap")
                .help("Where shap.json, shap_values.parquet and the plots go"),
        )
}
