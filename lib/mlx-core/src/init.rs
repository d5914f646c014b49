//! `mlx init`: a starter `mlx.yaml` from the templates under `templates/init/`.
//!
//! The templates are compiled into the binary, so `mlx init` works offline and from
//! any directory. `config/examples/` holds each template rendered with the example
//! name; a test keeps the two in step.

use std::path::{Path, PathBuf};

use crate::error::{Error, IoContext, Result};
use crate::fsutil::atomic_write;

/// `(name, one-line description, template source)` of every starter template.
pub const TEMPLATES: &[(&str, &str, &str)] = &[
    (
        "classification",
        "tabular binary or multi-class classification (default)",
        include_str!("../../../templates/init/classification.yaml.j2"),
    ),
    (
        "regression",
        "tabular regression",
        include_str!("../../../templates/init/regression.yaml.j2"),
    ),
    (
        "time_series",
        "forecasting with a temporal split",
        include_str!("../../../templates/init/time_series.yaml.j2"),
    ),
    (
        "deep_learning",
        "neural networks (MLP, 1-D CNN, LSTM, Transformer)",
        include_str!("../../../templates/init/deep_learning.yaml.j2"),
    ),
];

/// The data each template reads, written beside a new config so that it runs as
/// written: `(template, path relative to the config, contents)`. The same files as
/// `config/examples/data/` (each written by a seeded script there). The time-series
/// template reads its sales from PostgreSQL; `data/ad_sales.csv` is those rows, to load
/// into its `ad_sales` table (docs/forecasting.md).
pub const TEMPLATE_DATA: &[(&str, &str, &[u8])] = &[
    (
        "classification",
        "data/customers.csv",
        include_bytes!("../../../config/examples/data/customers.csv"),
    ),
    (
        "regression",
        "data/house_sales.csv",
        include_bytes!("../../../config/examples/data/house_sales.csv"),
    ),
    (
        "time_series",
        "data/ad_spend.csv",
        include_bytes!("../../../config/examples/data/ad_spend.csv"),
    ),
    (
        "time_series",
        "data/ad_sales.csv",
        include_bytes!("../../../config/examples/data/ad_sales.csv"),
    ),
    (
        "deep_learning",
        "data/digits.csv",
        include_bytes!("../../../config/examples/data/digits.csv"),
    ),
];

/// Writes `template`'s sample data under `dir` where no file of that name exists (a
/// user's data is never replaced); returns the files written.
pub fn sample_data(dir: &Path, template: &str) -> Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for (_, rel, bytes) in TEMPLATE_DATA.iter().filter(|(t, _, _)| *t == template) {
        let path = dir.join(rel);
        if path.exists() {
            continue;
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).with_path("creating", parent)?;
        }
        atomic_write(&path, bytes).with_path("writing", &path)?;
        written.push(path);
    }
    Ok(written)
}

/// Renders a template for a project name.
pub fn render(template: &str, project_name: &str) -> Result<String> {
    let (_, _, source) = TEMPLATES
        .iter()
        .find(|(n, _, _)| *n == template)
        .ok_or_else(|| {
            let names: Vec<&str> = TEMPLATES.iter().map(|t| t.0).collect();
            let hint = crate::config::did_you_mean(template, names.iter().copied())
                .map(|s| format!(" (did you mean `{s}`?)"))
                .unwrap_or_default();
            Error::Usage(format!(
                "unknown template `{template}`{hint}; available: {}",
                names.join(", ")
            ))
        })?;
    environment(false)
        .render_str(source, minijinja::context! { name => project_name })
        .map_err(|e| Error::Runtime(format!("template `{template}`: {e:#}")))
}

/// The template environment: strict about undefined values, keeping trailing
/// newlines. `square` selects `[[ ]]` / `[% %]` delimiters, for templates of files
/// that use `${{ }}` themselves (GitHub workflows).
pub(crate) fn environment(square: bool) -> minijinja::Environment<'static> {
    let mut env = minijinja::Environment::new();
    let mut syntax = minijinja::syntax::SyntaxConfig::builder();
    syntax.keep_trailing_newline(true);
    if square {
        syntax
            .block_delimiters("[%", "%]")
            .variable_delimiters("[[", "]]")
            .comment_delimiters("[#", "#]");
    }
    env.set_syntax(syntax.build().expect("valid delimiters"));
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env
}

/// The workflows `mlx init --github` writes under `.github/workflows/`.
pub const GITHUB_TEMPLATES: &[(&str, &str)] = &[
    (
        "mlx-train.yml",
        include_str!("../../../templates/github/mlx-train.yml.j2"),
    ),
    (
        "mlx-review.yml",
        include_str!("../../../templates/github/mlx-review.yml.j2"),
    ),
    (
        "mlx-monitor.yml",
        include_str!("../../../templates/github/mlx-monitor.yml.j2"),
    ),
];

/// Where `mlx init --github` points the workflows by default.
pub const MLX_REPOSITORY: &str = "mlx-dev/mlx";

/// The mlx release the workflows of this build use by default.
pub fn default_ref() -> String {
    format!("v{}", env!("CARGO_PKG_VERSION"))
}

/// Writes the calling workflows into `<dir>/.github/workflows/`, configured from
/// `config` (the path the workflows pass, relative to the repository root) and `cfg`.
/// Refuses to overwrite without `force`. Returns the files written.
pub fn github(
    dir: &Path,
    config: &str,
    cfg: &mlx_contracts::Config,
    repository: &str,
    git_ref: &str,
    force: bool,
) -> Result<Vec<PathBuf>> {
    let safe = |s: &str, extra: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c) || extra.contains(c))
    };
    if !safe(git_ref, "/") {
        return Err(Error::Usage(format!(
            "--ref `{git_ref}` is not a git ref (a tag, branch or commit of mlx)"
        )));
    }
    if !safe(repository, "/") || repository.matches('/').count() != 1 {
        return Err(Error::Usage(format!(
            "--repository `{repository}` is not OWNER/NAME"
        )));
    }
    if !safe(config, "/") {
        return Err(Error::Usage(format!(
            "the config path `{config}` has characters a workflow file cannot carry; use \
             letters, digits, `-_./`"
        )));
    }
    // Values written into the workflows are checked here too, not only by
    // `config check`: a config made in code reaches this function as well.
    let rules = crate::config::rules::environment_name_problem;
    if let Some(problem) = [
        rules(&cfg.github.environments.staging),
        rules(&cfg.github.environments.production),
        crate::config::rules::command_prefix_problem(&cfg.github.command_prefix),
        cfg.github
            .image
            .as_deref()
            .and_then(crate::config::rules::image_repository_problem),
    ]
    .into_iter()
    .flatten()
    .next()
    {
        return Err(Error::Usage(format!(
            "cannot write the workflows: {problem}"
        )));
    }
    let out = dir.join(".github/workflows");
    let targets: Vec<PathBuf> = GITHUB_TEMPLATES.iter().map(|(n, _)| out.join(n)).collect();
    if let Some(existing) = targets.iter().find(|p| p.exists() && !force) {
        return Err(Error::Usage(format!(
            "{} already exists; pass --force to overwrite it",
            existing.display()
        )));
    }
    let env = environment(true);
    let mut texts = Vec::new();
    for (name, source) in GITHUB_TEMPLATES {
        let schedule = if *name == "mlx-monitor.yml" {
            &cfg.monitoring.schedule
        } else {
            &cfg.orchestration.schedule
        };
        let text = env
            .render_str(
                source,
                minijinja::context! {
                    config => config,
                    repository => repository,
                    mlx_ref => git_ref,
                    schedule => schedule,
                    prefix => &cfg.github.command_prefix,
                    staging => &cfg.github.environments.staging,
                    production => &cfg.github.environments.production,
                    image => &cfg.github.image,
                },
            )
            .map_err(|e| Error::Runtime(format!("template `{name}`: {e:#}")))?;
        texts.push(text);
    }
    std::fs::create_dir_all(&out).with_path("creating", &out)?;
    for (text, path) in texts.iter().zip(&targets) {
        atomic_write(path, text.as_bytes()).with_path("writing", path)?;
    }
    Ok(targets)
}

/// Writes `<dir>/mlx.yaml` from a template. An existing mlx.yaml is a user's work: it
/// is replaced only with `overwrite_config` (`--overwrite-config`, never `--force`),
/// and then first copied to `mlx.yaml.bak` (or `mlx.yaml.bak.N`, never over an older
/// backup). Returns the file written and the backup made.
pub fn init(
    dir: &Path,
    template: &str,
    project_name: Option<&str>,
    overwrite_config: bool,
) -> Result<(PathBuf, Option<PathBuf>)> {
    let name = match project_name {
        Some(n) => n.to_owned(),
        None => default_name(dir),
    };
    let text = render(template, &name)?;
    let path = dir.join("mlx.yaml");
    let mut backup = None;
    if path.exists() {
        if !overwrite_config {
            return Err(Error::Usage(format!(
                "{} already exists; keep it (edit it, or `mlx init --github` to add workflows \
                 configured from it), or pass --overwrite-config to replace it with the \
                 template (a backup is kept)",
                path.display()
            )));
        }
        let free = (0..)
            .map(|i| match i {
                0 => dir.join("mlx.yaml.bak"),
                n => dir.join(format!("mlx.yaml.bak.{n}")),
            })
            .find(|p| !p.exists())
            .expect("an unused backup name");
        std::fs::copy(&path, &free).with_path("backing up", &path)?;
        backup = Some(free);
    }
    std::fs::create_dir_all(dir).with_path("creating", dir)?;
    atomic_write(&path, text.as_bytes()).with_path("writing", &path)?;
    Ok((path, backup))
}

/// The directory's name, made safe for a registry model name.
fn default_name(dir: &Path) -> String {
    let base = std::fs::canonicalize(dir)
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .or_else(|| dir.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default();
    let cleaned: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let cleaned = cleaned.trim_matches('-').to_owned();
    if cleaned.is_empty() {
        "my-model".into()
    } else {
        cleaned
    }
}
