//! Each stage's command line: its flags (clap), what they mean for the stage's typed
//! functions in `mlx-core`, and its uses beside the pipeline (`mlx-validate drift`,
//! `mlx-promote list`, `mlx-serve batch`). The core never parses a command line.

pub mod eval;
pub mod features;
pub mod gate;
pub mod github;
pub mod ingest;
pub mod monitor;
pub mod promote;
pub mod serve;
pub mod shap;
pub mod train;
pub mod validate;
pub mod version;

use clap::{ArgMatches, Command};
use mlx_core::config::LoadedConfig;
use mlx_core::stage::Standalone;
use mlx_core::{Context, Error, Outcome, Result, Stage, Workdir};

/// A stage's command line.
pub trait Verb: Sync {
    /// The stage it runs.
    fn stage(&self) -> &'static dyn Stage;
    /// Adds the stage's own flags and subcommands to its command.
    fn args(&self, cmd: Command) -> Command {
        cmd
    }
    /// Runs the stage with its flags (their defaults under `mlx run`).
    fn run(&self, ctx: &Context, args: &ArgMatches) -> Result<Outcome> {
        let _ = args;
        self.stage().run(ctx)
    }
    /// A use beside the pipeline, which writes no stage record; `None` when `args` ask
    /// for the stage's normal run. `config` loads the config when there is a config file
    /// (only uses that need it call it, so a broken `mlx.yaml` does not stop a
    /// config-free use); `workdir` is the work directory from `--workdir`.
    fn standalone(
        &self,
        args: &ArgMatches,
        config: &dyn Fn() -> Result<Option<LoadedConfig>>,
        workdir: &Workdir,
    ) -> Option<Result<Standalone>> {
        let _ = (args, config, workdir);
        None
    }
}

/// A stage without flags of its own, as a verb.
pub struct Plain(pub &'static dyn Stage);

impl Verb for Plain {
    fn stage(&self) -> &'static dyn Stage {
        self.0
    }
}

/// Runs `stage` as `mlx run` does: through its verb, with every flag at its default
/// (a flag's variable, such as `MLX_CHAMPION`, still counts).
pub fn run_in_pipeline(verbs: &[&dyn Verb], stage: &dyn Stage, ctx: &Context) -> Result<Outcome> {
    let name = stage.name();
    let verb = verbs
        .iter()
        .find(|v| v.stage().name() == name)
        .ok_or_else(|| Error::Runtime(format!("stage `{name}` has no command line")))?;
    let args = verb
        .args(Command::new(name))
        .try_get_matches_from([name])
        .map_err(|e| {
            Error::Runtime(format!(
                "stage `{name}` has required flags and cannot run in a pipeline: {e}"
            ))
        })?;
    verb.run(ctx, &args)
}
