//! `mlx-monitor`: `--as-of`, `--log`, `--actuals`.

use std::path::Path;

use clap::{Arg, ArgMatches, Command};
use mlx_core::config::LoadedConfig;
use mlx_core::stage::Standalone;
use mlx_core::{Result, Stage, Workdir};

use super::Verb;

/// The verb.
pub struct Monitor;

impl Verb for Monitor {
    fn stage(&self) -> &'static dyn Stage {
        &mlx_core::monitor::Monitor
    }
    fn args(&self, cmd: Command) -> Command {
        cmd.arg(Arg::new("as-of").long("as-of").value_name("DATE").help(
            "Evaluate the window ending on this day (YYYY-MM-DD) [default: the log's last day]",
        ))
        .arg(
            Arg::new("log")
                .long("log")
                .value_name("DIR")
                .help("The prediction log [default: deploy.prediction_log]"),
        )
        .arg(Arg::new("actuals").long("actuals").value_name("FILE").help(
            "Actual outcomes: request_id and actual, or the entity and time columns and the target",
        ))
    }
    fn standalone(
        &self,
        args: &ArgMatches,
        config: &dyn Fn() -> Result<Option<LoadedConfig>>,
        workdir: &Workdir,
    ) -> Option<Result<Standalone>> {
        Some(mlx_core::monitor::run(
            config,
            workdir,
            args.get_one::<String>("log").map(Path::new),
            args.get_one::<String>("actuals").map(Path::new),
            args.get_one::<String>("as-of").map(String::as_str),
        ))
    }
}
