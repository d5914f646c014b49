//! `mlx export`: the pipeline for another scheduler. Here `airflow`, the pipeline as
//! Airflow DAGs for teams that schedule with Airflow rather than GitHub Actions;
//! [`kubernetes`], the served model and the scheduled jobs as Kubernetes manifests.
//!
//! The Airflow DAGs: one task per enabled stage, chained in pipeline order as `mlx run` runs them, the
//! schedule, retries and failure emails from `orchestration:`, and a monitoring DAG on
//! `monitoring.schedule` whose `TriggerDagRunOperator` starts training when a retraining
//! trigger fires.

pub mod kubernetes;
pub mod mlflow;
pub mod model;
pub mod onnx;

use std::path::Path;

use crate::error::{Error, Result};
use crate::stage::{Context, Stage};

const AIRFLOW: &str = include_str!("../../../../templates/export/airflow.py.j2");

/// A Python identifier made from a name.
fn identifier(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    if s.starts_with(|c: char| c.is_ascii_digit()) || s.is_empty() {
        format!("mlx_{s}")
    } else {
        s
    }
}

/// The DAG file for the config in `ctx`; `config` is the path the tasks pass to `mlx`,
/// `dag_dir` the directory the DAG file will be in (relative to the current directory),
/// when known. Nothing of this machine's absolute paths goes into the DAG: the tasks run
/// in the project directory, found relative to the DAG file (or from `MLX_PROJECT_DIR`
/// on the worker), so the repository can be checked out anywhere.
pub fn airflow(
    stages: &[&dyn Stage],
    ctx: &Context,
    config: &Path,
    mlx: &str,
    dag_dir: Option<&Path>,
) -> Result<String> {
    let cfg = &ctx.config.config;
    let enabled: Vec<&dyn Stage> = stages
        .iter()
        .copied()
        .filter(|s| s.in_pipeline() && s.enabled(cfg))
        .collect();
    let name = identifier(cfg.project.name.as_deref().unwrap_or("mlx"));
    // Tasks run where the export ran, so relative paths mean what they meant here.
    let project_from_dag = match dag_dir {
        Some(dir) => path_back(dir)?,
        None => ".".to_string(),
    };
    let o = &cfg.orchestration;
    let stage_names: Vec<&str> = enabled.iter().map(|s| s.name()).collect();
    let ctx = minijinja::context! {
        name => name.clone(),
        description => cfg.project.description.clone().unwrap_or_else(|| format!("mlx pipeline of {name}")),
        mlx => mlx,
        config => config.display().to_string(),
        workdir => ctx.workdir.root().display().to_string(),
        project_from_dag => project_from_dag,
        training_dag => format!("{name}_training"),
        monitoring_dag => format!("{name}_monitoring"),
        owner => cfg.project.owner.clone().unwrap_or_else(|| "mlx".into()),
        retries => o.retries,
        retry_delay_minutes => o.retry_delay_minutes,
        emails => &o.alert_emails,
        schedule => &o.schedule,
        monitoring_schedule => &cfg.monitoring.schedule,
        retrain => cfg.monitoring.retrain,
        start => minijinja::context! {
            year => chrono::Datelike::year(&o.start_date),
            month => chrono::Datelike::month(&o.start_date),
            day => chrono::Datelike::day(&o.start_date),
        },
        stages => stage_names,
    };
    crate::init::environment(false)
        .render_str(AIRFLOW, ctx)
        .map_err(|e| Error::Runtime(format!("Airflow DAG template: {e:#}")))
}

/// The path from directory `dir` (relative to the current directory, or absolute) back
/// to the current directory: `..` for `dags`, `.` for `` or `.`.
fn path_back(dir: &Path) -> Result<String> {
    let cwd = std::env::current_dir()
        .map_err(|e| Error::Runtime(format!("the current directory: {e}")))?;
    let here = crate::fsutil::lexical_parts(&cwd);
    let there = crate::fsutil::lexical_parts(&cwd.join(dir));
    let common = here.iter().zip(&there).take_while(|(a, b)| a == b).count();
    let mut rel: Vec<String> = vec!["..".to_string(); there.len() - common];
    rel.extend(here[common..].iter().cloned());
    Ok(if rel.is_empty() {
        ".".to_string()
    } else {
        rel.join("/")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_way_back_from_the_dag_directory() {
        let cwd = std::env::current_dir().unwrap();
        let name = cwd.file_name().unwrap().to_string_lossy().into_owned();
        assert_eq!(path_back(Path::new("")).unwrap(), ".");
        assert_eq!(path_back(Path::new("dags")).unwrap(), "..");
        assert_eq!(path_back(Path::new("a/b/")).unwrap(), "../..");
        assert_eq!(path_back(Path::new("../x")).unwrap(), format!("../{name}"));
    }

    #[test]
    fn names_become_python_identifiers() {
        assert_eq!(identifier("ad-sales"), "ad_sales");
        assert_eq!(identifier("2024 Churn"), "mlx_2024_churn");
    }
}
