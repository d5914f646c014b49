//! Command-line plumbing shared by `mlx` and every `mlx-<stage>` binary: global flags,
//! logging, error rendering, exit codes, `--json`, GitHub Actions outputs, the
//! umbrella's built-in commands (`run`, `dag`, `init`, `config`), and each stage's
//! command line ([`verbs`]).
//!
//! A binary's `main` is one call: [`umbrella_main`] or [`stage_main`].

mod alloc;
pub mod github;
mod image;
mod output;
pub mod registry;
mod runs;
mod ui;
pub mod verbs;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{ArgAction, Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use mlx_core::config::{self, LoadedConfig, ProcessEnv};
use mlx_core::pipeline::{self, RunOptions};
use mlx_core::{Context, Error, ExitStatus, Stage, Workdir};

use crate::verbs::Verb;

pub use output::Ui;

/// Flags every mlx binary accepts; each can also come from an `MLX_*` variable.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// The pipeline config.
    #[arg(
        short,
        long,
        global = true,
        env = "MLX_CONFIG",
        default_value = "mlx.yaml"
    )]
    pub config: PathBuf,
    /// Work directory where stages exchange files and write records.
    #[arg(long, global = true, env = "MLX_WORKDIR", default_value = ".mlx")]
    pub workdir: PathBuf,
    /// Print machine-readable JSON on stdout (the stage record for a stage).
    #[arg(long, global = true, env = "MLX_JSON")]
    pub json: bool,
    /// More logging (-v debug, -vv trace). MLX_LOG overrides, e.g. MLX_LOG=mlx_core=debug.
    #[arg(short, long, global = true, action = ArgAction::Count)]
    pub verbose: u8,
    /// Only errors on stderr; no progress bars.
    #[arg(short, long, global = true, env = "MLX_QUIET")]
    pub quiet: bool,
}

impl GlobalArgs {
    /// The default work directory is beside the config, as the config's own relative
    /// paths are read from its directory, and belongs to that config alone: `.mlx` for
    /// `mlx.yaml`, `.mlx/<name>` for any other (`classification.yaml`: `.mlx/classification`),
    /// so two configs never share one. `mlx --config ex/mlx.yaml run` from anywhere uses
    /// `ex/.mlx`. `--workdir` and `MLX_WORKDIR` are taken as given.
    fn beside_the_config(mut self, matches: &clap::ArgMatches) -> Self {
        if matches.value_source("workdir") == Some(clap::parser::ValueSource::DefaultValue) {
            self.workdir = default_workdir(&self.config);
        }
        self
    }
}

/// The work directory of the config at `config` when none is given.
fn default_workdir(config: &Path) -> PathBuf {
    let dir = config.parent().unwrap_or(Path::new("")).join(".mlx");
    let stem = config.file_stem().map(|s| s.to_string_lossy().into_owned());
    match stem.as_deref() {
        None | Some("mlx") => dir,
        // Not the names of what the defaults keep in `.mlx/` beside it.
        Some(s @ ("cache" | "registry" | "registry-cache" | "predictions" | "tracking")) => {
            dir.join(format!("{s}-config"))
        }
        Some(s) => dir.join(s),
    }
}

const UMBRELLA_EXAMPLES: &str = "\
Examples:
  mlx init --template time_series      write a starter mlx.yaml
  mlx config check                     validate mlx.yaml (file:line:column errors)
  mlx run                              run the pipeline, skipping up-to-date stages
  mlx run --from train --force         rerun train and everything after it
  mlx dag --format mermaid             draw the stages for a README or PR
  mlx init --github                    workflows: train on PRs, /mlx approve, monitor
  mlx export airflow -o dags/model.py  the pipeline as Airflow DAGs
  mlx export kubernetes --image IMG    Kubernetes manifests: serving, jobs
  mlx image build                      an OCI image serving production
  mlx runs list --sort -metrics.f1     every run so far, best F1 first
  mlx metrics diff                     HEAD's metrics against the work directory's
  mlx run --json | jq '.[].status'     machine-readable results

Exit codes: 0 ok, 1 a check said no, 2 usage or config error, 3 runtime error.";

/// mlx: a config-driven MLOps toolchain. One mlx.yaml drives ingest, versioning,
/// validation, features, training, evaluation, SHAP, the approval gate, the registry,
/// serving and monitoring.
#[derive(Debug, Parser)]
#[command(name = "mlx", version, long_version = mlx_core::long_version(), after_help = UMBRELLA_EXAMPLES, subcommand_required = true, arg_required_else_help = true)]
struct Umbrella {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Builtin,
}

#[derive(Debug, Subcommand)]
enum Builtin {
    /// Run the pipeline in order, skipping stages whose inputs, config section and
    /// tool version are unchanged since their last successful run.
    #[command(after_help = "\
Examples:
  mlx run                          run what is out of date
  mlx run --dry-run                say what would run and why
  mlx run --force                  rerun every stage
  mlx run --from validate --to train
  mlx run --json > run.json")]
    Run {
        /// Rerun stages even when up to date.
        #[arg(long, env = "MLX_FORCE")]
        force: bool,
        /// Start at this stage.
        #[arg(long, value_name = "STAGE")]
        from: Option<String>,
        /// Stop after this stage.
        #[arg(long, value_name = "STAGE")]
        to: Option<String>,
        /// Only print what would run and why.
        #[arg(long)]
        dry_run: bool,
    },
    /// Print the stages and what each reads and writes.
    #[command(after_help = "\
Examples:
  mlx dag
  mlx dag --format mermaid >> README.md")]
    Dag {
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: DagFormat,
    },
    /// Write a starter mlx.yaml from a template.
    #[command(after_help = "\
Examples:
  mlx init                                 classification template in .
  mlx init --template time_series --dir forecasting
  mlx init --github                        mlx.yaml and .github/workflows/mlx-*.yml
  mlx init --list")]
    Init {
        /// Template: classification, regression, time_series, deep_learning.
        #[arg(short, long, default_value = "classification")]
        template: String,
        /// Directory to write mlx.yaml into.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// Project name (default: the directory's name).
        #[arg(long)]
        name: Option<String>,
        /// Overwrite existing workflow files (with --github). Never touches mlx.yaml.
        #[arg(long)]
        force: bool,
        /// Replace an existing mlx.yaml with the template, keeping a backup
        /// (mlx.yaml.bak).
        #[arg(long)]
        overwrite_config: bool,
        /// List the templates and exit.
        #[arg(long)]
        list: bool,
        /// Also write the GitHub workflows (train, review, promote, monitor) into
        /// .github/workflows/, configured from the directory's mlx.yaml.
        #[arg(long)]
        github: bool,
        /// The mlx release (tag or commit) the workflows use.
        #[arg(long = "ref", value_name = "REF", default_value_t = mlx_core::init::default_ref())]
        git_ref: String,
        /// The repository the workflows build mlx from.
        #[arg(long, value_name = "OWNER/NAME", default_value = mlx_core::init::MLX_REPOSITORY)]
        repository: String,
    },
    /// Write the pipeline for another scheduler (Airflow DAGs, Kubernetes manifests), or a
    /// model for another tool (MLflow).
    #[command(subcommand)]
    Export(ExportCommand),
    /// Build container images of mlx, without a Docker daemon or a base image.
    #[command(subcommand)]
    Image(image::ImageCommand),
    /// Check, show or describe mlx.yaml.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// The tracking store's runs: list, filter, sort, show, compare, gc
    /// (docs/tracking.md).
    #[command(subcommand)]
    Runs(runs::RunsCommand),
    /// The metrics of the work directory's or a git revision's runs, and their diff.
    #[command(subcommand)]
    Metrics(runs::MetricsCommand),
    /// The tracking store's mirror on an MLflow server: send what it lacks
    /// (docs/mlflow.md).
    #[command(subcommand)]
    Tracking(runs::TrackingCommand),
    /// A web page over the tracking store, the registry and the work directory: runs,
    /// compare, registry with its audit trail, the reviewer's dashboard (approve,
    /// reject, defer) and monitoring (docs/ui.md).
    #[command(after_help = "\
Examples:
  mlx ui                                 http://127.0.0.1:5000, this machine only
  mlx ui --bind 127.0.0.1:8080
  mlx ui --tokens-file /run/secrets/mlx-ui-tokens
  MLX_UI_TOKENS=alice=$ALICE_TOKEN mlx ui
  mlx ui token alice                     make a reviewer's token and its hash")]
    Ui(ui::UiArgs),
}

/// What `mlx export model` writes.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum ModelFormat {
    /// An MLflow model directory (MLmodel, the python_function flavor).
    Mlflow,
    /// One ONNX model file (the preprocessing and the model, for onnxruntime).
    Onnx,
}

#[derive(Debug, Subcommand)]
enum ExportCommand {
    /// A registry version (or a bundle) as a model other tools load: an MLflow model
    /// directory for `mlflow.pyfunc.load_model`, or an ONNX model for onnxruntime
    /// (docs/mlflow.md).
    #[command(after_help = "\
Examples:
  mlx export model --format mlflow -o churn-mlflow            the production version
  mlx export model --version 3 --format mlflow -o churn-v3
  mlx export model --bundle .mlx/runs/logistic-49071ce45fbf/bundle --format mlflow -o m
  mlx export model --format onnx -o churn.onnx
  python -c \"import mlflow; print(mlflow.pyfunc.load_model('churn-mlflow').predict(df))\"

Both formats carry linear and logistic regression, decision trees, random forests,
gradient boosting, XGBoost and LightGBM, with the fitted preprocessing; they refuse, and
say why, the families whose scoring only mlx holds.")]
    Model {
        /// The registry version: a number, production, staging, latest or an alias
        /// [default: production].
        #[arg(long, conflicts_with = "bundle")]
        version: Option<String>,
        /// Export this bundle (a directory or packed file) instead of a registry version.
        #[arg(long, value_name = "PATH")]
        bundle: Option<PathBuf>,
        /// What to write.
        #[arg(long, value_enum)]
        format: ModelFormat,
        /// Where to write it: a new directory (mlflow) or a new file (onnx).
        #[arg(long, short, value_name = "PATH")]
        output: PathBuf,
    },
    /// Airflow DAGs: training (one task per stage) and monitoring (which triggers it).
    #[command(after_help = "\
Examples:
  mlx export airflow > dags/churn.py
  mlx export airflow --output dags/churn.py --mlx /opt/mlx/bin/mlx")]
    Airflow {
        /// Write here instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
        /// How the DAG's tasks invoke mlx.
        #[arg(long, default_value = "mlx")]
        mlx: String,
    },
    /// Kubernetes manifests: the served model (Deployment, Service, autoscaler,
    /// disruption budget), the config, the prediction log's volume, and CronJobs for
    /// training and monitoring (docs/deploy.md).
    #[command(after_help = "\
Examples:
  mlx export kubernetes --image ghcr.io/acme/mlx:1.4 --output k8s && kubectl apply -k k8s
  mlx export kubernetes --image ghcr.io/acme/mlx:1.4 | kubectl apply -f -
  mlx export kubernetes --image ghcr.io/acme/mlx:1.4 --namespace ml --replicas 3 --max-replicas 12
  mlx image build --tag ghcr.io/acme/churn:v3 --push && mlx export kubernetes -o k8s")]
    Kubernetes {
        /// The image the containers run; it must hold mlx (docs/deploy.md)
        /// [default: the image of the production version last pushed by
        /// `mlx image build --push`, by digest].
        #[arg(long)]
        image: Option<String>,
        /// Write one file per object and a kustomization.yaml into this directory,
        /// instead of one stream on standard output.
        #[arg(long, short, value_name = "DIR")]
        output: Option<PathBuf>,
        /// Namespace of every object [default: kubectl's].
        #[arg(long)]
        namespace: Option<String>,
        /// How the containers invoke mlx in the image.
        #[arg(long, default_value = "mlx")]
        mlx: String,
        /// Serving replicas at least (the autoscaler's minimum).
        #[arg(long, default_value_t = 2)]
        replicas: u32,
        /// Serving replicas at most (the autoscaler's maximum).
        #[arg(long, default_value_t = 10)]
        max_replicas: u32,
        /// CPU requested per serving replica.
        #[arg(long, default_value = "500m")]
        cpu: String,
        /// Memory requested, and its limit, per serving replica.
        #[arg(long, default_value = "512Mi")]
        memory: String,
        /// Size of the prediction log's volume (ReadWriteMany).
        #[arg(long, default_value = "10Gi")]
        log_storage: String,
        /// Storage class of the prediction log's volume [default: the cluster's].
        #[arg(long)]
        storage_class: Option<String>,
        /// Serve the bundle baked into the image (/opt/mlx/bundle.tar, from
        /// `mlx image build`) instead of following the registry's deployment: a
        /// rollout is then an image change.
        #[arg(long)]
        baked: bool,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum DagFormat {
    Text,
    Mermaid,
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Validate config files: types, unknown keys, interpolation and cross-field rules.
    #[command(after_help = "\
Examples:
  mlx config check
  mlx config check config/examples/*.yaml
  mlx config check --json | jq '.[] | select(.ok == false)'")]
    Check {
        /// Files to check (default: --config).
        files: Vec<PathBuf>,
    },
    /// Print the fully resolved config, with defaults filled in and secrets masked.
    #[command(after_help = "\
Examples:
  mlx config show
  mlx config show --format json | jq .split")]
    Show {
        /// Output format.
        #[arg(long, value_enum, default_value = "yaml")]
        format: ShowFormat,
    },
    /// Print the JSON Schema of mlx.yaml (or of a file contract).
    #[command(after_help = "\
Examples:
  mlx config schema > mlx.schema.json
  mlx config schema --contract stage-record")]
    Schema {
        /// Print a file contract's schema instead.
        #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(config::CONTRACTS))]
        contract: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum ShowFormat {
    Yaml,
    Json,
}

/// `main` of the installed `mlx`, a multi-call binary: run through a link named
/// `mlx-<stage>` (`scripts/install.sh` makes one per stage, busybox style) it is that
/// stage's binary, exactly as `bins/mlx-<stage>` is; under any other name, the umbrella.
pub fn multicall_main() -> ExitCode {
    let invoked = std::env::args_os().next().map(std::path::PathBuf::from);
    let stage = invoked
        .as_deref()
        .and_then(std::path::Path::file_stem)
        .and_then(|s| s.to_str())
        .and_then(|s| s.strip_prefix("mlx-"))
        .filter(|s| registry::verbs().iter().any(|v| v.stage().name() == *s))
        .map(str::to_owned);
    match stage {
        Some(s) => stage_main(&s),
        None => umbrella_main(),
    }
}

/// `main` of the `mlx` umbrella with the built-in stages.
pub fn umbrella_main() -> ExitCode {
    alloc::tune();
    umbrella_main_with(&registry::verbs(), std::env::args_os())
}

/// `main` of an umbrella over the given stages' verbs (the test harness passes fakes).
pub fn umbrella_main_with(
    verbs: &[&dyn Verb],
    args: impl IntoIterator<Item = OsString>,
) -> ExitCode {
    let mut cmd = Umbrella::command().subcommand(crate::verbs::github::command());
    for v in verbs {
        cmd = cmd.subcommand(stage_command(*v, v.stage().name()));
    }
    let matches = match cmd.try_get_matches_from(args) {
        Ok(m) => m,
        Err(e) => return clap_exit(e),
    };
    let global = match GlobalArgs::from_arg_matches(&matches) {
        Ok(g) => g.beside_the_config(&matches),
        Err(e) => return clap_exit(e),
    };
    output::speak_as_umbrella();
    let ui = Ui::init(&global);
    let status = if let Some(("github", sub)) = matches.subcommand() {
        github(sub, &global, &ui)
    } else if let Some((name, sub)) = matches
        .subcommand()
        .filter(|(n, _)| verbs.iter().any(|v| v.stage().name() == *n))
    {
        let verb = verbs.iter().find(|v| v.stage().name() == name).copied();
        verb.map_or(Ok(ExitStatus::Usage), |v| run_stage(v, &global, sub, &ui))
    } else {
        match Umbrella::from_arg_matches(&matches) {
            Ok(u) => builtin(u.command, verbs, &global, &ui),
            Err(e) => return clap_exit(e),
        }
    };
    finish(status, &ui, global.json)
}

/// `main` of `mlx-<name>`: the same code as `mlx <name>`.
pub fn stage_main(name: &str) -> ExitCode {
    alloc::tune();
    let verbs = registry::verbs();
    let Some(verb) = verbs.iter().find(|v| v.stage().name() == name).copied() else {
        eprintln!("error: this build of mlx has no `{name}` stage");
        return ExitCode::from(ExitStatus::Usage as u8);
    };
    // Augmenting with the global flags would set `about` to GlobalArgs' own doc comment.
    let cmd = GlobalArgs::augment_args(stage_command(verb, &format!("mlx-{name}")))
        .about(verb.stage().about());
    let matches = match cmd.try_get_matches() {
        Ok(m) => m,
        Err(e) => return clap_exit(e),
    };
    let global = match GlobalArgs::from_arg_matches(&matches) {
        Ok(g) => g.beside_the_config(&matches),
        Err(e) => return clap_exit(e),
    };
    let ui = Ui::init(&global);
    let status = run_stage(verb, &global, &matches, &ui);
    finish(status, &ui, global.json)
}

fn stage_command(verb: &dyn Verb, bin: &str) -> clap::Command {
    let stage = verb.stage();
    let mut c = clap::Command::new(bin.to_owned()).about(stage.about());
    if !stage.long_about().is_empty() {
        c = c.after_help(stage.long_about());
    }
    verb.args(c)
}

fn clap_exit(e: clap::Error) -> ExitCode {
    let _ = e.print();
    if e.use_stderr() {
        ExitCode::from(ExitStatus::Usage as u8)
    } else {
        ExitCode::SUCCESS
    }
}

/// The exit code; an error is said on stderr, and with `--json` also as a JSON object
/// on stdout (`{"error": …, "exit_code": …}`), so a machine reading stdout learns why.
fn finish(status: Result<ExitStatus, Error>, ui: &Ui, json: bool) -> ExitCode {
    match status {
        Ok(s) => ExitCode::from(s as u8),
        Err(e) => {
            ui.error(&e);
            let code = e.exit_status() as u8;
            if json {
                let message = match &e {
                    Error::Config(d) => d.to_string(),
                    other => format!("{other:#}"),
                };
                let message = output::commands_named(&message).into_owned();
                let v = serde_json::json!({ "error": message, "exit_code": code });
                output::stdout(&format!("{v}\n"));
            }
            ExitCode::from(code)
        }
    }
}

fn context(global: &GlobalArgs) -> Result<Context, Error> {
    let config = config::load(&global.config, &ProcessEnv)?;
    Ok(Context {
        config,
        workdir: Workdir::new(&global.workdir),
    })
}

/// `mlx github <step>`.
fn github(args: &clap::ArgMatches, global: &GlobalArgs, ui: &Ui) -> Result<ExitStatus, Error> {
    let config = || context(global).map(|c| c.config.config);
    let result = crate::verbs::github::run(args, &config, &Workdir::new(&global.workdir))?;
    ui.info(&result.human);
    ui.outputs(&result.outputs);
    if global.json {
        output::stdout(&format!("{}\n", mlx_github::ops::to_json(&result)));
    }
    Ok(output::status_exit(result.status))
}

fn run_stage(
    verb: &dyn Verb,
    global: &GlobalArgs,
    args: &clap::ArgMatches,
    ui: &Ui,
) -> Result<ExitStatus, Error> {
    // A standalone use reads the config only if it needs one and there is one.
    let config = || -> Result<Option<LoadedConfig>, Error> {
        if global.config.exists() {
            Ok(Some(config::load(&global.config, &ProcessEnv)?))
        } else {
            Ok(None)
        }
    };
    if let Some(result) = verb.standalone(args, &config, &Workdir::new(&global.workdir)) {
        let out = result?;
        // What the user asked for is the result: stdout, unless --json asks for the
        // machine form there (then the human text is a diagnostic on stderr).
        if global.json {
            ui.info(&out.human);
            output::stdout(&format!("{}\n", output::json_text(&out.json)?));
        } else {
            // Warnings within a result are diagnostics.
            let (warnings, result): (Vec<&str>, Vec<&str>) =
                out.human.lines().partition(|l| l.starts_with("warning: "));
            for w in warnings {
                ui.info(w);
            }
            if !result.is_empty() {
                output::stdout(&format!("{}\n", result.join("\n")));
            }
        }
        return Ok(output::status_exit(out.status));
    }
    let ctx = context(global)?;
    let _lock = ctx.workdir.lock(&format!("mlx {}", verb.stage().name()))?;
    let executed = pipeline::execute(verb.stage(), &ctx, |c| verb.run(c, args))?;
    ui.stage_done(&executed, None);
    if global.json {
        output::stdout(&executed.record.to_json());
    }
    Ok(output::status_exit(executed.record.status))
}

fn builtin(
    cmd: Builtin,
    verbs: &[&dyn Verb],
    global: &GlobalArgs,
    ui: &Ui,
) -> Result<ExitStatus, Error> {
    let stages: Vec<&dyn Stage> = verbs.iter().map(|v| v.stage()).collect();
    let stages = stages.as_slice();
    match cmd {
        Builtin::Run {
            force,
            from,
            to,
            dry_run,
        } => {
            let ctx = context(global)?;
            let _lock = if dry_run {
                None
            } else {
                Some(ctx.workdir.lock("mlx run")?)
            };
            let opts = RunOptions {
                force,
                from,
                to,
                dry_run,
            };
            let steps = pipeline::run_pipeline(
                stages,
                &ctx,
                &opts,
                |stage, ctx| crate::verbs::run_in_pipeline(verbs, stage, ctx),
                |name, step| ui.step(name, step),
            )?;
            if global.json {
                output::stdout(&format!("{}\n", output::steps_json(&steps)));
            } else {
                ui.run_summary(&ctx, &steps);
            }
            ui.github_run_summary(&steps);
            Ok(output::steps_exit(&steps))
        }
        Builtin::Dag { format } => {
            let ctx = match context(global) {
                Ok(c) => c,
                // The shape of the pipeline is worth seeing before a config exists.
                Err(Error::Config(_)) if !global.config.exists() => Context {
                    config: LoadedConfig::from_config(&global.config, Default::default()),
                    workdir: Workdir::new(&global.workdir),
                },
                Err(e) => return Err(e),
            };
            let text = match format {
                DagFormat::Text => mlx_core::dag::text(stages, &ctx),
                DagFormat::Mermaid => mlx_core::dag::mermaid(stages, &ctx),
            };
            output::stdout(&text);
            Ok(ExitStatus::Ok)
        }
        Builtin::Init {
            template,
            dir,
            name,
            force,
            overwrite_config,
            list,
            github,
            git_ref,
            repository,
        } => {
            if list {
                for (n, about, _) in mlx_core::init::TEMPLATES {
                    output::stdout(&format!("{n:<15} {about}\n"));
                }
                return Ok(ExitStatus::Ok);
            }
            let config_path = dir.join("mlx.yaml");
            // With --github, an existing mlx.yaml is kept and configures the workflows.
            if !(github && config_path.exists() && !overwrite_config) {
                let (path, backup) =
                    mlx_core::init::init(&dir, &template, name.as_deref(), overwrite_config)?;
                if let Some(b) = backup {
                    ui.info(&format!("kept the previous config as {}", b.display()));
                }
                ui.info(&format!(
                    "wrote {} ({template}); check it with `mlx config check`",
                    path.display()
                ));
                for p in mlx_core::init::sample_data(&dir, &template)? {
                    ui.info(&format!(
                        "wrote {} (sample data the config reads; replace it with yours)",
                        p.display()
                    ));
                }
            }
            if github {
                let cfg = config::load(&config_path, &ProcessEnv)?.config;
                let written =
                    mlx_core::init::github(&dir, "mlx.yaml", &cfg, &repository, &git_ref, force)?;
                for p in written {
                    ui.info(&format!("wrote {}", p.display()));
                }
                ui.info(
                    "create the environments named in github.environments (Settings > \
                     Environments) and add their required reviewers: they are the second \
                     human gate before production",
                );
            }
            Ok(ExitStatus::Ok)
        }
        Builtin::Export(ExportCommand::Airflow { output, mlx }) => {
            let ctx = context(global)?;
            let dag_dir = output
                .as_deref()
                .map(|p| p.parent().unwrap_or(Path::new("")));
            let text = mlx_core::export::airflow(stages, &ctx, &global.config, &mlx, dag_dir)?;
            match output {
                Some(p) => {
                    mlx_core::fsutil::atomic_write(&p, text.as_bytes())
                        .map_err(|e| Error::io(format!("writing {}", p.display()), e))?;
                    ui.info(&format!("wrote {}", p.display()));
                }
                None => output::stdout(&text),
            }
            Ok(ExitStatus::Ok)
        }
        Builtin::Export(k @ ExportCommand::Kubernetes { .. }) => export_kubernetes(k, global, ui),
        Builtin::Export(m @ ExportCommand::Model { .. }) => export_model(m, global, ui),
        Builtin::Image(i) => image::run(i, stages, global, ui),
        Builtin::Config(c) => config_command(c, global, ui),
        Builtin::Runs(c) => runs::runs(c, global, ui),
        Builtin::Metrics(c) => runs::metrics(c, global, ui),
        Builtin::Tracking(c) => runs::tracking(c, global, ui),
        Builtin::Ui(a) => ui::run(a, global, ui),
    }
}

/// `mlx export kubernetes`: one stream on stdout, or a file per object and a
/// kustomization in a directory (each written atomically).
fn export_model(cmd: ExportCommand, global: &GlobalArgs, ui: &Ui) -> Result<ExitStatus, Error> {
    let ExportCommand::Model {
        version,
        bundle,
        format,
        output,
    } = cmd
    else {
        unreachable!("called for `export model` only")
    };
    let ctx = context(global)?;
    let format = match format {
        ModelFormat::Mlflow => mlx_core::export::model::Format::Mlflow,
        ModelFormat::Onnx => mlx_core::export::model::Format::Onnx,
    };
    let e = mlx_core::export::model::export(
        &ctx.config.config,
        &ctx.workdir,
        version.as_deref(),
        bundle.as_deref(),
        format,
        &output,
    )?;
    ui.info(&format!(
        "wrote {}; load it with {}",
        e.path.display(),
        e.load
    ));
    Ok(ExitStatus::Ok)
}

fn export_kubernetes(
    cmd: ExportCommand,
    global: &GlobalArgs,
    ui: &Ui,
) -> Result<ExitStatus, Error> {
    let ExportCommand::Kubernetes {
        image,
        output,
        namespace,
        mlx,
        replicas,
        max_replicas,
        cpu,
        memory,
        log_storage,
        storage_class,
        baked,
    } = cmd
    else {
        unreachable!("called for kubernetes only")
    };
    let config = config::load(&global.config, &ProcessEnv)?;
    let image = match image {
        Some(i) => i,
        None => {
            let i = mlx_core::image::production_image(&config.config)?;
            ui.info(&format!("image: {i} (pushed for the production version)"));
            i
        }
    };
    let opts = mlx_core::export::kubernetes::Options {
        image,
        namespace,
        mlx,
        replicas,
        max_replicas,
        cpu,
        memory,
        log_storage,
        storage_class,
        baked,
    };
    let export = mlx_core::export::kubernetes::kubernetes(&config, &opts)?;
    let Some(dir) = output else {
        output::stdout(&export.stream()?);
        return Ok(ExitStatus::Ok);
    };
    std::fs::create_dir_all(&dir)
        .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
    let mut files = Vec::new();
    for m in &export.manifests {
        files.push((m.file.clone(), export.text(m)?));
    }
    files.push((
        "kustomization.yaml".into(),
        export.kustomization(opts.namespace.as_deref())?,
    ));
    for (name, text) in &files {
        let p = dir.join(name);
        mlx_core::fsutil::atomic_write(&p, text.as_bytes())
            .map_err(|e| Error::io(format!("writing {}", p.display()), e))?;
    }
    ui.info(&format!(
        "wrote {} files into {}: kubectl apply -k {}",
        files.len(),
        dir.display(),
        dir.display()
    ));
    if !export.variables.is_empty() {
        ui.info(&format!(
            "the pods read {} from the Secret {}: create it before applying",
            export
                .variables
                .iter()
                .map(|v| v.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            export.secret
        ));
    }
    Ok(ExitStatus::Ok)
}

fn config_command(cmd: ConfigCommand, global: &GlobalArgs, ui: &Ui) -> Result<ExitStatus, Error> {
    match cmd {
        ConfigCommand::Check { files } => {
            let files = if files.is_empty() {
                vec![global.config.clone()]
            } else {
                files
            };
            let mut all_ok = true;
            let mut reports = Vec::new();
            for f in &files {
                match config::load(f, &ProcessEnv).and_then(|c| config::check_build(&c).map(|()| c))
                {
                    Ok(c) => {
                        ui.info(&format!(
                            "{}: ok ({}, {} candidate model{})",
                            f.display(),
                            c.config.pipeline.problem_type,
                            c.config.models.len(),
                            if c.config.models.len() == 1 { "" } else { "s" }
                        ));
                        reports.push(output::check_json(f, None));
                    }
                    Err(d) => {
                        all_ok = false;
                        ui.error(&Error::Config(d.clone()));
                        reports.push(output::check_json(f, Some(&d)));
                    }
                }
            }
            if global.json {
                output::stdout(&format!("{}\n", serde_json::Value::Array(reports)));
            }
            Ok(if all_ok {
                ExitStatus::Ok
            } else {
                ExitStatus::Usage
            })
        }
        ConfigCommand::Show { format } => {
            let loaded = config::load(&global.config, &ProcessEnv)?;
            match format {
                ShowFormat::Yaml if !global.json => output::stdout(&config::to_yaml(&loaded)?),
                _ => output::stdout(&config::to_json(&loaded)?),
            }
            Ok(ExitStatus::Ok)
        }
        ConfigCommand::Schema { contract } => {
            let text = match contract {
                None => config::schema_json()?,
                Some(name) => match config::contract_schema_json(&name) {
                    Some(text) => text?,
                    None => String::new(),
                },
            };
            output::stdout(&text);
            Ok(ExitStatus::Ok)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_config_has_its_own_default_work_directory() {
        let w = |c: &str| default_workdir(Path::new(c));
        assert_eq!(w("mlx.yaml"), Path::new(".mlx"));
        assert_eq!(w("ex/mlx.yaml"), Path::new("ex/.mlx"));
        // The examples used to share config/examples/.mlx and overwrite each other.
        assert_eq!(
            w("config/examples/classification.yaml"),
            Path::new("config/examples/.mlx/classification")
        );
        assert_eq!(w("ad-sales.yaml"), Path::new(".mlx/ad-sales"));
        assert_eq!(w("registry.yaml"), Path::new(".mlx/registry-config"));
    }

    #[test]
    fn cli_definition_is_consistent() {
        Umbrella::command().debug_assert();
    }
}
