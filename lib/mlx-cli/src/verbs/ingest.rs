//! `mlx-ingest`: `--append`.

use clap::{Arg, ArgAction, ArgMatches, Command};
use mlx_core::{Context, Outcome, Result, Stage};

use super::Verb;

/// The verb.
pub struct Ingest;

impl Verb for Ingest {
    fn stage(&self) -> &'static dyn Stage {
        &mlx_core::ingest::Ingest
    }
    fn args(&self, cmd: Command) -> Command {
        cmd.arg(
            Arg::new("append")
                .long("append")
                .action(ArgAction::SetTrue)
                .help(
                    "Only add rows newer than the newest `data.time_column` value already ingested",
                ),
        )
    }
    fn run(&self, ctx: &Context, args: &ArgMatches) -> Result<Outcome> {
        mlx_core::ingest::ingest(ctx, args.get_flag("append"))
    }
}
