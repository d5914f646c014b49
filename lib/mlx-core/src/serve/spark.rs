//! `mlx-serve batch` on Spark (`engine.kind: spark`): the bundle compiled to Spark SQL
//! ([`crate::model::sql`]) scores a table or files of the cluster where they are, and
//! the cluster writes the input columns and the predictions as Parquet to `--output`.
//! The rows never come to this machine, and the executors need nothing of mlx.
//!
//! Why SQL rather than the mlx binaries per partition (`TRANSFORM ... USING`): the
//! models that serve tables (linear, trees, boosters) are expressions, so the path
//! works on a cluster where the user has no shell on the workers (Databricks, EMR
//! Serverless, Dataproc), Spark's optimizer and codegen run them, and a retried task
//! recomputes the same values.

use std::collections::BTreeMap;

use mlx_contracts::config::{Engine, Source as DataSource};
use mlx_contracts::features::InputKind;
use mlx_contracts::Status;
use mlx_spark::{Kind, Read};
use serde_json::json;

use super::models::{self, Source};
use super::Batch;
use crate::config::LoadedConfig;
use crate::engine;
use crate::error::{Error, Result};
use crate::stage::Standalone;

/// The view the input is named by in the scoring query.
const INPUT_VIEW: &str = "mlx_batch_input";

/// Where the cluster reads and writes: absolute, or a URL of its storage.
fn on_cluster(flag: &str, path: &str) -> Result<()> {
    if mlx_spark::is_cluster_path(path) {
        Ok(())
    } else {
        Err(Error::Usage(format!(
            "{flag} `{path}` is relative, but with `engine.kind: spark` the cluster reads and writes it, from a directory of its own; give it as the cluster names it: absolute (`/mnt/lake/new.parquet`) or a URL (`s3a://lake/new/`)"
        )))
    }
}

/// `mlx-serve batch` on the cluster.
pub fn batch(
    loaded: &LoadedConfig,
    engine_cfg: &Engine,
    source: &Source,
    b: &Batch,
) -> Result<Standalone> {
    let refuse = |what: &str, why: &str| {
        Err(Error::Usage(format!(
            "{what} is not available with `engine.kind: spark`: {why}"
        )))
    };
    if b.log {
        return refuse(
            "--log",
            "the predictions stay on the cluster; log them from there, or score with the local engine",
        );
    }
    if b.skip_invalid {
        return refuse(
            "--skip-invalid",
            "the cluster's columns are typed, so the checks are made on the schema, before anything is scored",
        );
    }
    if !loaded.config.features.derived.is_empty() {
        return refuse(
            "`features.derived`",
            "the derived features are not compiled to Spark SQL yet; score with the local engine, or derive them in the table (a view or `query:`)",
        );
    }
    let read = match (&b.table, b.input.as_os_str().is_empty()) {
        (Some(t), _) => Read::Table(t.clone()),
        (None, false) => {
            let input = b.input.display().to_string();
            on_cluster("--input", &input)?;
            engine::read_of(&DataSource {
                name: "input".into(),
                uri: input,
                ..DataSource::default()
            })?
        }
        (None, true) => {
            return Err(Error::Usage(
                "give --input PATH or --table NAME to score".into(),
            ))
        }
    };
    let output = b.output.display().to_string();
    on_cluster("--output", &output)?;
    let key = models::current_key(source)?;
    let routing = models::load(source, key.as_ref(), None)?;
    let model = &routing.live;
    let bundle = &model.scorer.bundle;
    let what = match &b.table {
        Some(t) => format!("table `{t}`"),
        None => b.input.display().to_string(),
    };
    let cluster = engine::connect(loaded, engine_cfg)?;
    let fail = |what: String| move |e| engine::spark_error(loaded, Some(&what), e);
    let input = cluster.read(&read).map_err(fail(what.clone()))?;
    let schema = input.schema().map_err(fail(what.clone()))?;
    // The signature's checks, on the schema: every input there, numbers where
    // numbers belong.
    let by_name: BTreeMap<&str, &mlx_spark::Field> =
        schema.iter().map(|f| (f.name.as_str(), f)).collect();
    for i in &bundle.preprocessor.inputs {
        let Some(f) = by_name.get(i.name.as_str()) else {
            return Err(Error::Usage(format!(
                "{what} has no column `{}`, which the model reads; its columns: {}",
                i.name,
                schema
                    .iter()
                    .map(|f| f.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        };
        let fits = match i.kind {
            InputKind::Numeric => f.kind == Kind::Numeric || f.spark_type == "boolean",
            InputKind::Categorical => matches!(f.kind, Kind::Numeric | Kind::Categorical),
        };
        if !fits {
            return Err(Error::Usage(format!(
                "`{}` of {what} is {} on the cluster, but the model reads it as {}; cast it in the table (or a `query:`) first",
                i.name,
                f.spark_type,
                match i.kind {
                    InputKind::Numeric => "a number",
                    InputKind::Categorical => "a category (text)",
                }
            )));
        }
    }
    input.view(INPUT_VIEW).map_err(fail(what.clone()))?;
    let keep: Vec<String> = schema.iter().map(|f| f.name.clone()).collect();
    let query = crate::model::sql::scoring_query(bundle, INPUT_VIEW, &keep)?;
    let scored = cluster
        .sql(&query)
        .map_err(fail(format!("scoring {what}")))?;
    scored
        .write_parquet(&output)
        .map_err(fail(format!("writing {output}")))?;
    let rows = cluster
        .read(&Read::Path {
            path: output.clone(),
            format: "parquet".into(),
            options: BTreeMap::new(),
        })
        .and_then(|f| f.count())
        .map_err(fail(format!("reading back {output}")))?;
    let ui = cluster.ui_url();
    Ok(Standalone {
        status: Status::Passed,
        human: format!(
            "{rows} rows of {what} scored on the Spark cluster by {} {} into {output}{}",
            model.name,
            model.label(),
            ui.as_ref()
                .map_or(String::new(), |u| format!(" (Spark UI: {u})"))
        ),
        json: json!({
            "rows": rows,
            "output": output,
            "version": model.version,
            "rejected": 0,
            "rejects": null,
            "engine": "spark",
            "spark_ui": ui,
        }),
    })
}
