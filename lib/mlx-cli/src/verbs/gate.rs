//! `mlx-gate review`: a human decision on the gate's evidence.

use clap::{Arg, ArgMatches, Command};
use mlx_contracts::gate::Decision;
use mlx_core::config::LoadedConfig;
use mlx_core::gate::review::{record, Request};
use mlx_core::registry::state;
use mlx_core::stage::Standalone;
use mlx_core::{Error, Result, Stage, Workdir};

use super::Verb;

/// The verb.
pub struct Gate;

impl Verb for Gate {
    fn stage(&self) -> &'static dyn Stage {
        &mlx_core::gate::Gate
    }
    fn args(&self, cmd: Command) -> Command {
        cmd.subcommand(command())
    }
    fn standalone(
        &self,
        args: &ArgMatches,
        config: &dyn Fn() -> Result<Option<LoadedConfig>>,
        workdir: &Workdir,
    ) -> Option<Result<Standalone>> {
        let (name, sub) = args.subcommand()?;
        (name == "review").then(|| review(sub, config, workdir))
    }
}

/// `mlx-gate review`.
fn command() -> Command {
    Command::new("review")
        .about("Record a human decision (approve, reject, defer) on the current gate evidence")
        .after_help(
            "Examples:
  mlx-gate review --decision approve --reviewer alice --notes \"slices look fine\"
  mlx-gate review --decision reject --reviewer bob --notes \"uses a leaked column\"
  mlx-gate review --decision defer --reviewer alice --notes \"retrain with March\" --evidence 3f2a9c01d4e5",
        )
        .arg(
            Arg::new("decision")
                .long("decision")
                .required(true)
                .value_parser(["approve", "reject", "defer"]),
        )
        .arg(
            Arg::new("reviewer")
                .long("reviewer")
                .value_name("NAME")
                .help("Who decides [default: MLX_ACTOR, GITHUB_ACTOR or USER]"),
        )
        .arg(
            Arg::new("notes")
                .long("notes")
                .value_name("TEXT")
                .default_value(""),
        )
        .arg(
            Arg::new("evidence")
                .long("evidence")
                .value_name("SHA256")
                .help(
                    "The evidence hash the decision was made on (at least 8 hex digits); \
                     refused when the gate's evidence has changed since",
                ),
        )
        .arg(
            Arg::new("source")
                .long("source")
                .value_parser(["cli", "pull_request_review", "issue_comment"])
                .default_value("cli"),
        )
        .arg(Arg::new("url").long("url").value_name("URL"))
}

/// `mlx-gate review`.
fn review(
    args: &ArgMatches,
    config: &dyn Fn() -> Result<Option<LoadedConfig>>,
    workdir: &Workdir,
) -> Result<Standalone> {
    let cfg = config()?.map(|c| c.config).ok_or_else(|| {
        Error::Usage(
            "a review needs the project's config (its approval policy and registry): run it \
             where mlx.yaml is, or pass --config"
                .into(),
        )
    })?;
    let request = Request {
        decision: match args.get_one::<String>("decision").map(String::as_str) {
            Some("approve") => Decision::Approve,
            Some("reject") => Decision::Reject,
            _ => Decision::Defer,
        },
        reviewer: args
            .get_one::<String>("reviewer")
            .cloned()
            .unwrap_or_else(state::actor),
        notes: args.get_one::<String>("notes").cloned().unwrap_or_default(),
        evidence: args.get_one::<String>("evidence").cloned(),
        source: args
            .get_one::<String>("source")
            .cloned()
            .unwrap_or_else(|| "cli".into()),
        url: args.get_one::<String>("url").cloned(),
    };
    record(&cfg, workdir, request)
}
