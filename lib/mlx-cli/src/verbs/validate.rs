//! `mlx-validate`: `--data`, `--freeze`, and `mlx-validate drift` for two files.

use std::path::PathBuf;

use clap::{Arg, ArgAction, ArgMatches, Command};
use mlx_core::config::LoadedConfig;
use mlx_core::stage::Standalone;
use mlx_core::validate::{drift_files, validate, DriftFiles};
use mlx_core::{Context, Outcome, Result, Stage, Workdir};

use super::Verb;

/// The verb.
pub struct Validate;

impl Verb for Validate {
    fn stage(&self) -> &'static dyn Stage {
        &mlx_core::validate::Validate
    }
    fn args(&self, cmd: Command) -> Command {
        cmd.arg(
            Arg::new("data")
                .long("data")
                .value_name("FILE")
                .env("MLX_VALIDATE_DATA")
                .help("Dataset to validate [default: <workdir>/data/raw.parquet]"),
        )
        .arg(
            Arg::new("freeze")
                .long("freeze")
                .action(ArgAction::SetTrue)
                .help("Freeze this dataset as the reference (schema and baseline statistics)"),
        )
        .subcommand(drift_command())
    }
    fn run(&self, ctx: &Context, args: &ArgMatches) -> Result<Outcome> {
        validate(ctx, args.get_one::<String>("data"), args.get_flag("freeze"))
    }
    fn standalone(
        &self,
        args: &ArgMatches,
        _config: &dyn Fn() -> Result<Option<LoadedConfig>>,
        _workdir: &Workdir,
    ) -> Option<Result<Standalone>> {
        let (name, sub) = args.subcommand()?;
        (name == "drift").then(|| {
            let get = |k: &str| sub.get_one::<String>(k).cloned().unwrap_or_default();
            drift_files(&DriftFiles {
                reference: PathBuf::from(get("reference")),
                current: PathBuf::from(get("current")),
                columns: sub
                    .get_many::<String>("columns")
                    .map(|c| c.cloned().collect()),
                method: sub
                    .get_one::<String>("method")
                    .cloned()
                    .unwrap_or_else(|| "auto".into()),
                psi_bins: get("psi-bins"),
                drift_share: sub.get_one::<f64>("drift-share").copied().unwrap_or(0.5),
            })
        })
    }
}

fn drift_command() -> Command {
    Command::new("drift")
        .about("Compare two CSV/Parquet/JSON files column by column, without a config")
        .after_help(
            "Examples:\n  mlx-validate drift --reference train.parquet --current today.parquet\n  mlx-validate drift --reference a.csv --current b.csv --method ks --json | jq '.columns[] | select(.drifted)'\n\nExit codes: 0 no dataset drift, 1 dataset drift, 2 usage error, 3 unreadable input.",
        )
        .arg(Arg::new("reference").long("reference").value_name("FILE").required(true).help("Reference data"))
        .arg(Arg::new("current").long("current").value_name("FILE").required(true).help("Current data"))
        .arg(
            Arg::new("columns")
                .long("columns")
                .value_name("A,B")
                .value_delimiter(',')
                .help("Columns to compare [default: every column in both files]"),
        )
        .arg(
            Arg::new("method")
                .long("method")
                .value_parser(["auto", "psi", "kl", "js", "wasserstein", "ks", "chi2", "ztest"])
                .default_value("auto")
                .help("Drift statistic that decides"),
        )
        .arg(
            Arg::new("psi-bins")
                .long("psi-bins")
                .value_parser(["quantile", "sturges"])
                .default_value("quantile")
                .help("Bins for PSI/KL/JS: reference deciles, or Evidently's Sturges bins"),
        )
        .arg(
            Arg::new("drift-share")
                .long("drift-share")
                .value_parser(clap::value_parser!(f64))
                .default_value("0.5")
                .help("Share of drifted columns at which the dataset counts as drifted"),
        )
}
