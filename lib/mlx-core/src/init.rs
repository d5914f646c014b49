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
    let mut env = minijinja::Environment::new();
    let syntax = minijinja::syntax::SyntaxConfig::builder()
        .keep_trailing_newline(true)
        .build()
        .map_err(|e| Error::Runtime(format!("template syntax: {e}")))?;
    env.set_syntax(syntax);
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.render_str(source, minijinja::context! { name => project_name })
        .map_err(|e| Error::Runtime(format!("template `{template}`: {e:#}")))
}

/// Writes `<dir>/mlx.yaml` from a template; refuses to overwrite without `force`.
pub fn init(
    dir: &Path,
    template: &str,
    project_name: Option<&str>,
    force: bool,
) -> Result<PathBuf> {
    let name = match project_name {
        Some(n) => n.to_owned(),
        None => default_name(dir),
    };
    let text = render(template, &name)?;
    let path = dir.join("mlx.yaml");
    if path.exists() && !force {
        return Err(Error::Usage(format!(
            "{} already exists; pass --force to overwrite it",
            path.display()
        )));
    }
    std::fs::create_dir_all(dir).with_path("creating", dir)?;
    atomic_write(&path, text.as_bytes()).with_path("writing", &path)?;
    Ok(path)
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
