//! mlx on GitHub: the steps of the reusable workflows under `.github/workflows/`.
//!
//! - [`api`]: every REST call, on octocrab (`GITHUB_TOKEN`, `GITHUB_API_URL`).
//! - [`event`]: the webhook payloads (`GITHUB_EVENT_PATH`) and `/mlx` commands.
//! - [`ops`]: report, review, deployment, alert, find-run.
//! - [`cli`]: `mlx github <step>`.

pub mod api;
pub mod cli;
pub mod event;
pub mod ops;
