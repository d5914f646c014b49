//! `mlx-promote`: `--up-to`, and `list`, `show`, `history`, `promote`, `archive`,
//! `rollback`, `alias`, `deploy`, `fetch` over the registry.

use std::path::PathBuf;

use clap::{value_parser, Arg, ArgMatches, Command};
use mlx_contracts::config::PromoteTarget;
use mlx_core::config::LoadedConfig;
use mlx_core::promote::{command, pipeline_stage, Action, On};
use mlx_core::stage::Standalone;
use mlx_core::{Context, Error, Outcome, Result, Stage, Workdir};

use super::Verb;

/// The verb.
pub struct Promote;

impl Verb for Promote {
    fn stage(&self) -> &'static dyn Stage {
        &mlx_core::promote::Promote
    }
    fn args(&self, cmd: Command) -> Command {
        let version = || {
            Arg::new("version")
                .long("version")
                .value_name("N|STAGE|ALIAS")
                .required(true)
                .help("A version number, a stage (`production`, `staging`) or an alias")
        };
        let reason = || {
            Arg::new("reason")
                .long("reason")
                .value_name("TEXT")
                .default_value("")
                .help("Why; recorded in the audit trail")
        };
        let target = |c: Command| {
            c.arg(
                Arg::new("registry")
                    .long("registry")
                    .value_name("URI")
                    .global(true)
                    .help("The registry [default: registry.uri of the config]"),
            )
            .arg(
                Arg::new("model")
                    .long("model")
                    .value_name("NAME")
                    .global(true)
                    .help("The registered model [default: registry.model_name]"),
            )
        };
        target(cmd)
            .arg(
                Arg::new("up-to")
                    .long("up-to")
                    .value_name("STAGE")
                    .value_parser(["none", "staging", "production"])
                    .help(
                        "In a pipeline: how far to promote, overriding registry.promote_to \
                         (a workflow promotes to staging and production in separate jobs)",
                    ),
            )
            .subcommand(Command::new("list").about("Versions, stages, aliases and deployment"))
            .subcommand(
                Command::new("show")
                    .about("One version's metadata and state")
                    .arg(version()),
            )
            .subcommand(
                Command::new("history").about("Every change: who, when, why, on which evidence"),
            )
            .subcommand(
                Command::new("promote")
                    .about("Move a version to a stage")
                    .arg(version())
                    .arg(Arg::new("to").long("to").required(true).value_parser([
                        "none",
                        "staging",
                        "production",
                        "archived",
                    ]))
                    .arg(reason()),
            )
            .subcommand(
                Command::new("archive")
                    .about("Archive a version")
                    .arg(version())
                    .arg(reason()),
            )
            .subcommand(
                Command::new("rollback")
                    .about("Return production to the version it replaced")
                    .arg(reason()),
            )
            .subcommand(
                Command::new("alias")
                    .about("Set or remove a named alias")
                    .arg(
                        Arg::new("action")
                            .required(true)
                            .value_parser(["set", "remove"]),
                    )
                    .arg(Arg::new("name").required(true))
                    .arg(
                        Arg::new("version")
                            .long("version")
                            .value_name("N|STAGE|ALIAS"),
                    ),
            )
            .subcommand(
                Command::new("deploy")
                    .about("Record the deployment strategy mlx-serve follows")
                    .arg(
                        Arg::new("strategy")
                            .long("strategy")
                            .value_parser(["direct", "blue_green", "canary", "shadow"])
                            .help("How traffic is split [default: deploy.strategy]"),
                    )
                    .arg(
                        Arg::new("challenger")
                            .long("challenger")
                            .value_name("N|ALIAS"),
                    )
                    .arg(
                        Arg::new("fraction")
                            .long("fraction")
                            .value_parser(value_parser!(f64))
                            .help("Canary: the challenger's share of traffic [default: deploy.canary_fraction]"),
                    ),
            )
            .subcommand(
                Command::new("fetch")
                    .about("Download a version's bundle, verified against its SHA-256")
                    .arg(version())
                    .arg(
                        Arg::new("output")
                            .long("output")
                            .required(true)
                            .value_name("FILE"),
                    ),
            )
    }
    fn run(&self, ctx: &Context, args: &ArgMatches) -> Result<Outcome> {
        let up_to = match args
            .try_get_one::<String>("up-to")
            .ok()
            .flatten()
            .map(String::as_str)
        {
            Some("none") => Some(PromoteTarget::None),
            Some("staging") => Some(PromoteTarget::Staging),
            Some("production") => Some(PromoteTarget::Production),
            _ => None,
        };
        pipeline_stage(&ctx.config.config, &ctx.workdir, up_to)
    }
    fn standalone(
        &self,
        args: &ArgMatches,
        config: &dyn Fn() -> Result<Option<LoadedConfig>>,
        _workdir: &Workdir,
    ) -> Option<Result<Standalone>> {
        let (name, sub) = args.subcommand()?;
        let flag = |k: &str| {
            sub.get_one::<String>(k)
                .or_else(|| args.get_one::<String>(k))
                .cloned()
        };
        let on = On {
            registry: flag("registry"),
            model: flag("model"),
            reason: sub
                .try_get_one::<String>("reason")
                .ok()
                .flatten()
                .cloned()
                .unwrap_or_default(),
        };
        Some(action(name, sub).and_then(|a| command(config, &on, &a)))
    }
}

/// The subcommand as an action.
fn action(name: &str, sub: &ArgMatches) -> Result<Action> {
    let s = |k: &str| sub.get_one::<String>(k).cloned();
    let required = |k: &str| s(k).unwrap_or_default();
    Ok(match name {
        "list" => Action::List,
        "show" => Action::Show {
            version: required("version"),
        },
        "history" => Action::History,
        "promote" => Action::Promote {
            version: required("version"),
            to: required("to"),
        },
        "archive" => Action::Archive {
            version: required("version"),
        },
        "rollback" => Action::Rollback,
        "alias" => Action::Alias {
            name: required("name"),
            set: s("action").as_deref() == Some("set"),
            version: s("version"),
        },
        "deploy" => Action::Deploy {
            strategy: s("strategy"),
            challenger: s("challenger"),
            fraction: sub.get_one::<f64>("fraction").copied(),
        },
        "fetch" => Action::Fetch {
            version: required("version"),
            output: PathBuf::from(required("output")),
        },
        other => return Err(Error::Usage(format!("unknown subcommand `{other}`"))),
    })
}
