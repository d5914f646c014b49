//! `mlx-version`: `add`, `status`, `push`, `pull`, `checkout`, `diff`, `log`, `gc`.

use std::path::{Path, PathBuf};

use clap::{Arg, ArgAction, ArgMatches, Command};
use mlx_core::config::LoadedConfig;
use mlx_core::stage::Standalone;
use mlx_core::version::Repo;
use mlx_core::{Result, Stage, Workdir};

use super::Verb;

/// The verb.
pub struct Version;

impl Verb for Version {
    fn stage(&self) -> &'static dyn Stage {
        &mlx_core::version::Version
    }
    fn args(&self, cmd: Command) -> Command {
        let paths = || {
            Arg::new("paths")
                .value_name("PATH")
                .num_args(0..)
                .help("Data paths or their .mlx pointers [default: every pointer below .]")
        };
        cmd.subcommand(
            Command::new("add")
                .about("Store files or directories and write PATH.mlx pointers")
                .arg(Arg::new("paths").value_name("PATH").num_args(1..).required(true)),
        )
        .subcommand(Command::new("status").about("Show data that differs from its pointer or is missing from the cache").arg(paths()))
        .subcommand(
            Command::new("push")
                .about("Upload cached objects the remote lacks")
                .arg(paths())
                .arg(Arg::new("verify").long("verify").action(ArgAction::SetTrue).help(
                    "Also download and hash the objects the remote has, and upload again those whose content does not match (repairs a corrupt remote copy)",
                )),
        )
        .subcommand(Command::new("pull").about("Download missing objects, then check out").arg(paths()))
        .subcommand(Command::new("checkout").about("Restore data to match the pointers").arg(paths()))
        .subcommand(
            Command::new("diff")
                .about("Compare pointers between two git revisions (schema and rows for tables)")
                .arg(Arg::new("rev_a").required(true))
                .arg(Arg::new("rev_b").required(true))
                .arg(paths()),
        )
        .subcommand(Command::new("log").about("History of a pointer through git").arg(Arg::new("path").required(true)))
        .subcommand(
            Command::new("gc")
                .about("Delete cache objects no pointer references (working tree plus --rev revisions)")
                .arg(Arg::new("rev").long("rev").action(ArgAction::Append).value_name("REV"))
                .arg(Arg::new("dry-run").long("dry-run").action(ArgAction::SetTrue)),
        )
    }
    fn standalone(
        &self,
        args: &ArgMatches,
        config: &dyn Fn() -> Result<Option<LoadedConfig>>,
        _workdir: &Workdir,
    ) -> Option<Result<Standalone>> {
        let (name, sub) = args.subcommand()?;
        let config = match config() {
            Ok(c) => c,
            Err(e) => return Some(Err(e)),
        };
        let repo = Repo::from_config(config.as_ref());
        let paths = |sub: &ArgMatches| -> Vec<PathBuf> {
            sub.get_many::<String>("paths")
                .map(|v| v.map(PathBuf::from).collect())
                .unwrap_or_default()
        };
        let result = match name {
            "add" => repo.cmd_add(&paths(sub)),
            "status" => repo.cmd_status(&paths(sub)),
            "push" => repo.cmd_push(&paths(sub), sub.get_flag("verify")),
            "pull" => repo.cmd_pull(&paths(sub)),
            "checkout" => repo.cmd_checkout(&paths(sub)),
            "diff" => repo.cmd_diff(
                sub.get_one::<String>("rev_a").map_or("", String::as_str),
                sub.get_one::<String>("rev_b").map_or("", String::as_str),
                &paths(sub),
            ),
            "log" => repo.cmd_log(Path::new(
                sub.get_one::<String>("path").map_or("", String::as_str),
            )),
            "gc" => repo.cmd_gc(
                &sub.get_many::<String>("rev")
                    .map(|v| v.cloned().collect::<Vec<_>>())
                    .unwrap_or_default(),
                sub.get_flag("dry-run"),
            ),
            _ => return None,
        };
        let result = result.and_then(|s| repo.cache.save_state().map(|_| s));
        Some(result)
    }
}
