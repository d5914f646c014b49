//! `mlx github ...`: the steps of the reusable workflows.

use clap::{Arg, ArgAction, ArgMatches, Command};
use mlx_contracts::config::Config;
use mlx_core::{Error, Result, Workdir};

use mlx_github::api::GitHub;
use mlx_github::event;
use mlx_github::ops::{self, ReviewOptions, RunInfo, StepResult};

const ABOUT: &str = "The GitHub side of the workflows: PR report, decisions from comments \
and reviews, deployments, monitoring alerts";

const AFTER: &str = "\
Every subcommand reads GITHUB_TOKEN, GITHUB_REPOSITORY and GITHUB_API_URL (GitHub
Enterprise Server: https://HOST/api/v3), and the event from GITHUB_EVENT_NAME and
GITHUB_EVENT_PATH, as GitHub Actions sets them. Step outputs go to $GITHUB_OUTPUT.

Examples:
  mlx github report                           PR comment (updated in place) + mlx/gate status
  mlx github review                           /mlx approve|reject|defer, or a PR review
  mlx github deployment --environment production --version 7
  mlx github alert                            after mlx monitor: alert issue + retraining
  mlx github find-run --pr 42                 the training run of the PR's head commit

Exit codes: 0 done (or nothing to do; `alert` after opening the issue and dispatching),
1 refused (no permission, own model, stale evidence, no finished training run), 2 a bad
command or input, 3 a GitHub or I/O error.";

fn workflow_arg() -> Arg {
    Arg::new("train-workflow")
        .long("train-workflow")
        .value_name("FILE")
        .env("MLX_TRAIN_WORKFLOW")
        .default_value("mlx-train.yml")
        .help("The training workflow to dispatch (its file name under .github/workflows)")
}

/// The `github` subcommand.
pub fn command() -> Command {
    Command::new("github")
        .about(ABOUT)
        .after_help(AFTER)
        .subcommand_required(true)
        .arg_required_else_help(true)
        .subcommand(
            Command::new("report")
                .about("Post or update the PR comment with the gate report; set the mlx/gate commit status")
                .arg(
                    Arg::new("pr")
                        .long("pr")
                        .value_name("N")
                        .value_parser(clap::value_parser!(u64))
                        .help("The pull request [default: the event's]"),
                )
                .arg(
                    Arg::new("sha")
                        .long("sha")
                        .value_name("SHA")
                        .help("The commit to set the status on [default: the PR head, else GITHUB_SHA]"),
                ),
        )
        .subcommand(
            Command::new("review")
                .about("Record the decision in a PR comment (/mlx approve|reject|defer) or review")
                .arg(workflow_arg())
                .arg(
                    Arg::new("default-branch")
                        .long("default-branch")
                        .value_name("BRANCH")
                        .env("MLX_DEFAULT_BRANCH")
                        .default_value("main")
                        .help("Where a deferral of a fork's PR dispatches retraining"),
                ),
        )
        .subcommand(
            Command::new("deployment")
                .about("Record a GitHub deployment of a registry version to an environment")
                .arg(
                    Arg::new("environment")
                        .long("environment")
                        .required(true)
                        .value_name("NAME"),
                )
                .arg(
                    Arg::new("version")
                        .long("version")
                        .required(true)
                        .value_name("N"),
                )
                .arg(
                    Arg::new("ref")
                        .long("ref")
                        .value_name("REF")
                        .help("The commit or branch [default: GITHUB_SHA]"),
                )
                .arg(
                    Arg::new("failed")
                        .long("failed")
                        .action(ArgAction::SetTrue)
                        .help("Record a failed deployment"),
                ),
        )
        .subcommand(
            Command::new("alert")
                .about("After mlx monitor: open or update the alert issue and dispatch retraining")
                .arg(workflow_arg())
                .arg(
                    Arg::new("ref")
                        .long("ref")
                        .value_name("BRANCH")
                        .default_value("main")
                        .help("The branch to retrain on"),
                ),
        )
        .subcommand(
            Command::new("find-run")
                .about("Find the newest successful training run of a commit")
                .arg(workflow_arg())
                .arg(Arg::new("sha").long("sha").value_name("SHA").help("The commit"))
                .arg(
                    Arg::new("pr")
                        .long("pr")
                        .value_name("N")
                        .value_parser(clap::value_parser!(u64))
                        .conflicts_with("sha")
                        .help("The pull request whose head commit to look up"),
                )
                .group(clap::ArgGroup::new("commit").args(["sha", "pr"]).required(true)),
        )
}

fn env_event() -> Result<event::Event> {
    let name = std::env::var("GITHUB_EVENT_NAME").unwrap_or_default();
    let path = std::env::var("GITHUB_EVENT_PATH").unwrap_or_default();
    if name.is_empty() || path.is_empty() {
        return Err(Error::Usage(
            "GITHUB_EVENT_NAME and GITHUB_EVENT_PATH are not set: this command handles a \
             GitHub Actions event"
                .into(),
        ));
    }
    event::load(&name, std::path::Path::new(&path))
}

fn git_ref(args: &ArgMatches, run: &RunInfo) -> Result<String> {
    args.get_one::<String>("ref")
        .cloned()
        .or_else(|| run.sha.clone())
        .ok_or_else(|| Error::Usage("no --ref and no GITHUB_SHA: say which commit".into()))
}

/// Runs `mlx github <sub>`. `config` loads mlx.yaml (only the subcommands that need it
/// call it).
pub fn run(
    args: &ArgMatches,
    config: &dyn Fn() -> Result<Config>,
    workdir: &Workdir,
) -> Result<StepResult> {
    let run = RunInfo::from_env();
    let (name, sub) = args
        .subcommand()
        .ok_or_else(|| Error::Usage("mlx github needs a subcommand; see --help".into()))?;
    let gh = GitHub::from_env()?;
    match name {
        "report" => {
            let cfg = config()?;
            let (pr_event, head) = match std::env::var("GITHUB_EVENT_NAME").as_deref() {
                Ok("pull_request") | Ok("pull_request_target") => match env_event()? {
                    event::Event::PullRequest { number, head_sha } => {
                        (Some(number), Some(head_sha))
                    }
                    _ => (None, None),
                },
                _ => (None, None),
            };
            let pr = sub.get_one::<u64>("pr").copied().or(pr_event);
            let sha = sub
                .get_one::<String>("sha")
                .cloned()
                .or(head)
                .or_else(|| run.sha.clone())
                .ok_or_else(|| {
                    Error::Usage("no --sha and no GITHUB_SHA: say which commit".into())
                })?;
            ops::report(&gh, &cfg, workdir, pr, &sha, &run)
        }
        "review" => {
            let cfg = config()?;
            let opts = ReviewOptions {
                train_workflow: sub
                    .get_one::<String>("train-workflow")
                    .cloned()
                    .unwrap_or_default(),
                default_branch: sub
                    .get_one::<String>("default-branch")
                    .cloned()
                    .unwrap_or_default(),
            };
            ops::review(&gh, &cfg, workdir, &env_event()?, &opts)
        }
        "deployment" => {
            let cfg = config()?;
            let environment = sub
                .get_one::<String>("environment")
                .cloned()
                .unwrap_or_default();
            let version = sub
                .get_one::<String>("version")
                .cloned()
                .unwrap_or_default();
            let r = git_ref(sub, &run)?;
            ops::deployment(
                &gh,
                &cfg,
                &environment,
                &version,
                &r,
                !sub.get_flag("failed"),
                &run,
            )
        }
        "alert" => {
            let cfg = config()?;
            let wf = sub
                .get_one::<String>("train-workflow")
                .cloned()
                .unwrap_or_default();
            let r = sub.get_one::<String>("ref").cloned().unwrap_or_default();
            ops::alert(&gh, &cfg, workdir, &wf, &r, &run)
        }
        "find-run" => {
            let wf = sub
                .get_one::<String>("train-workflow")
                .cloned()
                .unwrap_or_default();
            let sha = match sub.get_one::<u64>("pr") {
                Some(n) => gh.pull(*n)?.head_sha,
                None => sub.get_one::<String>("sha").cloned().unwrap_or_default(),
            };
            ops::find_run(&gh, &wf, &sha)
        }
        other => Err(Error::Usage(format!("unknown subcommand `{other}`"))),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn cli_definition_is_consistent() {
        super::command().debug_assert();
    }
}
