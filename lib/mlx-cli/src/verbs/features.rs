//! `mlx-features`: `--data`, and `materialize`, `get`, `compute` and `join`.

use std::path::PathBuf;

use clap::{Arg, ArgAction, ArgMatches, Command};
use mlx_core::config::LoadedConfig;
use mlx_core::features::{compute_file, features, get, join_files, materialize, JoinFiles};
use mlx_core::stage::Standalone;
use mlx_core::{Context, Error, Outcome, Result, Stage, Workdir};

use super::Verb;

/// The verb.
pub struct Features;

impl Verb for Features {
    fn stage(&self) -> &'static dyn Stage {
        &mlx_core::features::Features
    }
    fn args(&self, cmd: Command) -> Command {
        cmd.arg(
            Arg::new("data")
                .long("data")
                .value_name("FILE")
                .env("MLX_FEATURES_DATA")
                .help("Dataset to compute features on [default: <workdir>/data/raw.parquet]"),
        )
        .subcommand(
            Command::new("materialize")
                .about("Write the latest feature values per entity to the online store")
                .after_help(
                    "Examples:\n  mlx-features materialize\n  mlx-features materialize --view customer_stats --as-of 2024-06-30",
                )
                .arg(Arg::new("view").long("view").value_name("NAME").action(ArgAction::Append).help("Only this view (repeatable) [default: every view]"))
                .arg(Arg::new("as-of").long("as-of").value_name("TIME").help("Latest values at or before this time (YYYY-MM-DD or RFC 3339); the view's TTL counts back from it")),
        )
        .subcommand(
            Command::new("get")
                .about("Read an entity's latest feature values from the online store")
                .after_help(
                    "Examples:\n  mlx-features get --entity 42\n  mlx-features get --entity store=7,item=3 --view sales --json\n\nExit codes: 0 found, 1 not found in any view.",
                )
                .arg(Arg::new("entity").long("entity").value_name("KEY").required(true).help("The entity key: a value, or COLUMN=VALUE pairs separated by commas"))
                .arg(Arg::new("view").long("view").value_name("NAME").help("Only this view [default: every view]")),
        )
        .subcommand(
            Command::new("compute")
                .about("Compute the config's derived features on any table (no split, no store)")
                .after_help(
                    "Batch scoring computes features with the same definitions as training:\n  mlx-features compute --data new.parquet --out new-features.parquet",
                )
                .arg(Arg::new("data").long("data").value_name("FILE").required(true).help("Input table (CSV, Parquet, ...)"))
                .arg(Arg::new("out").long("out").value_name("FILE").required(true).help("Output Parquet file")),
        )
        .subcommand(
            Command::new("join")
                .about("Point-in-time join of a label table and a feature table, without a config")
                .after_help(
                    "For each label row: the latest feature row of the same entity at or before the label's\ntime (and within --ttl), as Feast's get_historical_features.\n\nExample:\n  mlx-features join --labels labels.parquet --features clicks.parquet --entity user_id \\\n      --timestamp ts --ttl 30d --out train.parquet",
                )
                .arg(Arg::new("labels").long("labels").value_name("FILE").required(true).help("Label rows (entity key, timestamp, ...)"))
                .arg(Arg::new("features").long("features").value_name("FILE").required(true).help("Feature rows (entity key, timestamp, features)"))
                .arg(Arg::new("entity").long("entity").value_name("A,B").required(true).value_delimiter(',').help("Entity key columns (in both files)"))
                .arg(Arg::new("timestamp").long("timestamp").value_name("COL").required(true).help("Event-time column of the labels"))
                .arg(Arg::new("feature-timestamp").long("feature-timestamp").value_name("COL").help("Event-time column of the features [default: --timestamp]"))
                .arg(Arg::new("columns").long("columns").value_name("A,B").value_delimiter(',').help("Feature columns [default: every other column of --features]"))
                .arg(Arg::new("ttl").long("ttl").value_name("DURATION").help("Ignore feature rows older than this at the label's time (30d, 12h)"))
                .arg(Arg::new("out").long("out").value_name("FILE").required(true).help("Output Parquet file")),
        )
    }
    fn run(&self, ctx: &Context, args: &ArgMatches) -> Result<Outcome> {
        features(ctx, args.get_one::<String>("data"))
    }
    fn standalone(
        &self,
        args: &ArgMatches,
        config: &dyn Fn() -> Result<Option<LoadedConfig>>,
        workdir: &Workdir,
    ) -> Option<Result<Standalone>> {
        let (name, sub) = args.subcommand()?;
        if name == "join" {
            let s = |k: &str| sub.get_one::<String>(k).cloned().unwrap_or_default();
            let many = |k: &str| sub.get_many::<String>(k).map(|v| v.cloned().collect());
            return Some(join_files(&JoinFiles {
                labels: PathBuf::from(s("labels")),
                features: PathBuf::from(s("features")),
                entity: many("entity").unwrap_or_default(),
                timestamp: s("timestamp"),
                feature_timestamp: sub.get_one::<String>("feature-timestamp").cloned(),
                columns: many("columns"),
                ttl: sub.get_one::<String>("ttl").cloned(),
                out: PathBuf::from(s("out")),
            }));
        }
        let loaded = match config() {
            Ok(Some(c)) => c,
            Ok(None) => {
                return Some(Err(Error::Usage(format!(
                    "`mlx-features {name}` reads the feature views and stores from mlx.yaml, and \
                     there is none here; pass --config FILE"
                ))))
            }
            Err(e) => return Some(Err(e)),
        };
        let cfg = &loaded.config;
        Some(match name {
            "compute" => {
                let path =
                    |k: &str| PathBuf::from(sub.get_one::<String>(k).cloned().unwrap_or_default());
                compute_file(cfg, &path("data"), &path("out"))
            }
            "materialize" => materialize(
                cfg,
                workdir,
                &sub.get_many::<String>("view")
                    .map(|v| v.cloned().collect::<Vec<_>>())
                    .unwrap_or_default(),
                sub.get_one::<String>("as-of").map(String::as_str),
            ),
            "get" => get(
                cfg,
                workdir,
                sub.get_one::<String>("entity").map_or("", String::as_str),
                sub.get_one::<String>("view").map(String::as_str),
            ),
            _ => return None,
        })
    }
}
