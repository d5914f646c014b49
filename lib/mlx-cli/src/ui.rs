//! `mlx ui`: the command line of `mlx_core::ui`.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use mlx_core::{Error, ExitStatus};

use crate::{context, output, GlobalArgs, Ui};

/// `mlx ui`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct UiArgs {
    #[command(subcommand)]
    command: Option<UiCommand>,
    /// Address to listen on [default: ui.bind, 127.0.0.1:5000]; 0.0.0.0:PORT serves
    /// other machines.
    #[arg(long, value_name = "ADDR:PORT")]
    bind: Option<String>,
    /// A secrets file of `name=token` lines, one per reviewer [default:
    /// $MLX_UI_TOKENS_FILE].
    #[arg(long, value_name = "FILE")]
    tokens_file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum UiCommand {
    /// Makes a reviewer's login token: prints the token (give it to the reviewer, or
    /// keep it in a secrets file) and the line with its hash for `ui.tokens`.
    #[command(after_help = "\
Examples:
  mlx ui token alice
  mlx ui token alice --json | jq -r .token > alice.token")]
    Token {
        /// The reviewer, as in approval_gate.reviewers.
        name: String,
    },
}

/// `mlx ui …`.
pub(crate) fn run(args: UiArgs, global: &GlobalArgs, ui: &Ui) -> Result<ExitStatus, Error> {
    if let Some(UiCommand::Token { name }) = args.command {
        mlx_core::ui::auth::check_name(&name, "mlx ui token")?;
        let (token, hash) = mlx_core::ui::auth::new_token();
        if global.json {
            output::stdout(&format!(
                "{}\n",
                serde_json::json!({"name": name, "token": token, "sha256": hash})
            ));
        } else {
            output::stdout(&format!("{token}\n"));
            ui.info(&format!(
                "the token above is {name}'s secret; put its hash in mlx.yaml:\n\nui:\n  tokens:\n    {name}: sha256:{hash}\n"
            ));
        }
        return Ok(ExitStatus::Ok);
    }
    let ctx = context(global)?;
    mlx_core::ui::serve(
        ctx.config.config,
        ctx.workdir,
        &mlx_core::ui::Options {
            bind: args.bind,
            tokens_file: args.tokens_file,
        },
    )?;
    Ok(ExitStatus::Ok)
}
