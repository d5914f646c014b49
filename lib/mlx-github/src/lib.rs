//! mlx on GitHub: the steps of the reusable workflows under `.github/workflows/`.
//!
//! - [`api`]: every REST call, on octocrab (`GITHUB_TOKEN`, `GITHUB_API_URL`).
//! - [`event`]: the webhook payloads (`GITHUB_EVENT_PATH`) and `/mlx` commands.
//! - [`ops`]: report, review, deployment, alert, find-run.
//! - `mlx github <step>` is the command line's (`mlx_cli::verbs::github`).

pub mod api;
pub mod event;
pub mod ops;
