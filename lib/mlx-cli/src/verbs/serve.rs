//! `mlx-serve`: what to serve and where, and `mlx-serve batch` for a file.

use std::path::PathBuf;

use clap::{value_parser, Arg, ArgMatches, Command};
use mlx_core::config::LoadedConfig;
use mlx_core::serve::{Batch, Options};
use mlx_core::stage::Standalone;
use mlx_core::{Result, Stage, Workdir};

use super::Verb;

/// The verb.
pub struct Serve;

impl Verb for Serve {
    fn stage(&self) -> &'static dyn Stage {
        &mlx_core::serve::Serve
    }
    fn args(&self, cmd: Command) -> Command {
        let source = |c: Command| {
            c.arg(
                Arg::new("bundle")
                    .long("bundle")
                    .value_name("PATH")
                    .global(true)
                    .help("Serve this bundle (directory or packed file) instead of the registry"),
            )
            .arg(
                Arg::new("model")
                    .long("model")
                    .value_name("VERSION")
                    .global(true)
                    .help("The registry version: production, staging, an alias or a number [default: deploy.model]"),
            )
        };
        source(cmd)
            .arg(Arg::new("host").long("host").help("Listen address [default: deploy.host]"))
            .arg(
                Arg::new("port")
                    .long("port")
                    .value_parser(value_parser!(u16))
                    .help("Listen port; 0 picks a free one [default: deploy.port]"),
            )
            .subcommand(
                Command::new("health")
                    .about(
                        "Exit 0 when the server on this machine answers /healthz, 1 when \
                         not: a container's health check",
                    )
                    .arg(
                        Arg::new("port")
                            .long("port")
                            .value_parser(value_parser!(u16))
                            .help("The server's port [default: deploy.port]"),
                    ),
            )
            .subcommand(
                Command::new("batch")
                    .about(
                        "Score a file (CSV or Parquet) with the same bundle and pipeline; with \
                         engine.kind: spark, files or a table of the cluster, on the cluster",
                    )
                    .arg(
                        Arg::new("input")
                            .long("input")
                            .required_unless_present("table")
                            .value_name("FILE")
                            .help("The rows to score (with engine.kind: spark, a path the cluster reads)"),
                    )
                    .arg(
                        Arg::new("table")
                            .long("table")
                            .conflicts_with("input")
                            .value_name("NAME")
                            .help("With engine.kind: spark: a table of the cluster's catalog to score"),
                    )
                    .arg(
                        Arg::new("output")
                            .long("output")
                            .required(true)
                            .value_name("FILE")
                            .help(
                                "CSV or Parquet, by extension: the input columns and the \
                                 predictions (with engine.kind: spark, a new Parquet directory \
                                 the cluster writes)",
                            ),
                    )
                    .arg(
                        Arg::new("log")
                            .long("log")
                            .action(clap::ArgAction::SetTrue)
                            .help(
                                "Also append the predictions to the prediction log \
                                 (deploy.prediction_log), for mlx-monitor",
                            ),
                    )
                    .arg(
                        Arg::new("skip-invalid")
                            .long("skip-invalid")
                            .action(clap::ArgAction::SetTrue)
                            .help(
                                "Score the valid rows and write the rejected ones, with their \
                                 reasons, to <output stem>.rejects.csv; exit 1 when any row was \
                                 rejected [default: refuse the whole file]",
                            ),
                    )
                    .arg(
                        Arg::new("delta")
                            .long("delta")
                            .value_name("MODE")
                            .value_parser(["append", "overwrite"])
                            .help(
                                "Write --output as a Delta Lake table (a directory, or an \
                                 s3://, gs://, az:// URL), one commit that appends the \
                                 predictions or overwrites the table with them",
                            ),
                    )
                    .arg(
                        Arg::new("at-column")
                            .long("at-column")
                            .value_name("COLUMN")
                            .requires("log")
                            .help(
                                "With --log: log each row as scored at this column's date or \
                                 time (backfilling a daily batch job's log) [default: now]",
                            ),
                    ),
            )
    }
    fn standalone(
        &self,
        args: &ArgMatches,
        config: &dyn Fn() -> Result<Option<LoadedConfig>>,
        workdir: &Workdir,
    ) -> Option<Result<Standalone>> {
        let batch = match args.subcommand() {
            Some(("batch", sub)) => Some(Batch {
                input: PathBuf::from(sub.get_one::<String>("input").cloned().unwrap_or_default()),
                table: sub.get_one::<String>("table").cloned(),
                output: PathBuf::from(sub.get_one::<String>("output").cloned().unwrap_or_default()),
                log: sub.get_flag("log"),
                skip_invalid: sub.get_flag("skip-invalid"),
                at_column: sub.get_one::<String>("at-column").cloned(),
                delta: sub.get_one::<String>("delta").map(|m| match m.as_str() {
                    "overwrite" => mlx_core::lake::Mode::Overwrite,
                    _ => mlx_core::lake::Mode::Append,
                }),
            }),
            _ => None,
        };
        let options = Options {
            bundle: args.get_one::<String>("bundle").map(PathBuf::from),
            model: args.get_one::<String>("model").cloned(),
            host: args.get_one::<String>("host").cloned(),
            port: match args.subcommand() {
                Some(("health", sub)) => sub.get_one::<u16>("port").copied(),
                _ => args.get_one::<u16>("port").copied(),
            },
            batch,
            health: matches!(args.subcommand(), Some(("health", _))),
        };
        Some(mlx_core::serve::run(config, workdir, &options))
    }
}
