//! `mlx-eval`: `--champion`, and `mlx-eval score` for a predictions file.

use std::path::{Path, PathBuf};

use clap::{Arg, ArgMatches, Command};
use mlx_core::config::LoadedConfig;
use mlx_core::eval::{evaluate, score_file, ScoreFile};
use mlx_core::stage::Standalone;
use mlx_core::{Context, Outcome, Result, Stage, Workdir};

use super::Verb;

/// The verb.
pub struct Eval;

impl Verb for Eval {
    fn stage(&self) -> &'static dyn Stage {
        &mlx_core::eval::Eval
    }
    fn args(&self, cmd: Command) -> Command {
        cmd.arg(
            Arg::new("champion")
                .long("champion")
                .value_name("BUNDLE|VERSION")
                .env("MLX_CHAMPION")
                .help(
                    "The model to beat, scored on the same rows: a bundle, or a registry \
                     version (`production`, an alias, a number)",
                ),
        )
        .subcommand(score_command())
    }
    fn run(&self, ctx: &Context, args: &ArgMatches) -> Result<Outcome> {
        evaluate(
            &ctx.config.config,
            &ctx.workdir,
            args.get_one::<String>("champion").map(Path::new),
        )
    }
    fn standalone(
        &self,
        args: &ArgMatches,
        _config: &dyn Fn() -> Result<Option<LoadedConfig>>,
        _workdir: &Workdir,
    ) -> Option<Result<Standalone>> {
        let (name, sub) = args.subcommand()?;
        (name == "score").then(|| {
            let get = |k: &str| sub.get_one::<String>(k).cloned().unwrap_or_default();
            score_file(&ScoreFile {
                predictions: PathBuf::from(get("predictions")),
                task: get("task"),
                y_true: get("y-true"),
                y_pred: get("y-pred"),
                y_score: sub
                    .get_many::<String>("y-score")
                    .map(|c| c.cloned().collect()),
                history: sub.get_one::<String>("history").map(PathBuf::from),
                season: sub.get_one::<u32>("season").copied().unwrap_or(1),
            })
        })
    }
}

fn score_command() -> Command {
    Command::new("score")
        .about("Score a predictions file (CSV or Parquet) without a config or work directory")
        .after_help(
            "Classification reads the predicted labels from --y-pred and, for the metrics that \
need scores (roc_auc, average_precision, log_loss, brier), the probabilities from --y-score: one \
column (two classes: the probability of the second class in sorted order), or one column per \
class in sorted class order; without --y-score the file's proba_<class> columns (what mlx \
bundles predict) are used when present.

Examples:
  mlx-eval score --predictions preds.csv --task classification --y-true label --y-pred predicted
  mlx-eval score --predictions preds.parquet --task classification --y-score p1 --json
  mlx-eval score --predictions out.csv --task regression --json | jq .metrics.rmse
  mlx-eval score --predictions fc.csv --task forecast --history train.csv --season 7

Exit codes: 0 scored, 2 a missing column or bad flag, 3 an unreadable file.",
        )
        .arg(
            Arg::new("predictions")
                .long("predictions")
                .value_name("FILE")
                .required(true)
                .help("CSV or Parquet file with the truth and the predictions"),
        )
        .arg(
            Arg::new("task")
                .long("task")
                .value_parser(["classification", "regression", "forecast"])
                .required(true)
                .help("What the predictions are"),
        )
        .arg(
            Arg::new("y-true")
                .long("y-true")
                .value_name("COL")
                .default_value("y_true")
                .help("Column with the actual values"),
        )
        .arg(
            Arg::new("y-pred")
                .long("y-pred")
                .value_name("COL")
                .default_value("y_pred")
                .help("Column with the predicted labels or values"),
        )
        .arg(
            Arg::new("y-score")
                .long("y-score")
                .value_name("COLS")
                .value_delimiter(',')
                .help("Probability column(s) of a classifier"),
        )
        .arg(
            Arg::new("history")
                .long("history")
                .value_name("FILE")
                .help("Forecast: the training series (its --y-true column), for MASE"),
        )
        .arg(
            Arg::new("season")
                .long("season")
                .value_name("N")
                .value_parser(clap::value_parser!(u32).range(1..))
                .default_value("1")
                .help("Forecast: MASE's season length"),
        )
}
