//! `mlx export model --format mlflow`: a registry version (or a bundle) as an MLflow
//! model directory that `mlflow.pyfunc.load_model` loads (docs/mlflow.md).
//!
//! ```text
//! <dir>/MLmodel            flavors (python_function; xgboost or lightgbm for those
//!                          models), the signature, mlx's provenance as metadata
//! <dir>/data/              the bundle's files as mlx wrote them: manifest.json,
//!                          preprocessor.json and the model in its library's format
//! <dir>/code/mlx_model.py  the loader: mlx's preprocessing and scoring, in numpy
//! <dir>/requirements.txt, python_env.yaml, conda.yaml
//! ```
//!
//! The loader answers as mlx-serve does: `prediction`, and `proba_<class>` per class.
//! What it scores: linear and logistic regression, decision trees, random forests,
//! mlx's gradient boosting, XGBoost and LightGBM. A family whose scoring only mlx holds
//! (SVMs, k-NN, networks, forecasters) is refused, naming what serves it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mlx_contracts::features::InputKind;
use serde_json::{json, Value};

use crate::error::{Error, IoContext, Result};
use crate::model::bundle::Bundle;

const LOADER: &str = include_str!("../../../../templates/export/mlflow/mlx_model.py");

/// What [`write`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// The model's flavors.
    pub flavors: Vec<String>,
}

/// The library versions the loader is pinned to (those mlx's backends build against,
/// when the manifest does not say).
fn requirements(bundle: &Bundle) -> Vec<String> {
    let lib = &bundle.manifest.library;
    let mut out = vec!["numpy".to_owned(), "pandas".to_owned()];
    match lib.name.as_str() {
        "xgboost" => out.push(pin("xgboost", &lib.version)),
        "lightgbm" => out.push(pin("lightgbm", &lib.version)),
        _ => {}
    }
    out
}

fn pin(package: &str, version: &str) -> String {
    if version.chars().all(|c| c.is_ascii_digit() || c == '.') && !version.is_empty() {
        format!("{package}=={version}")
    } else {
        package.to_owned()
    }
}

/// Why a bundle cannot be an MLflow model, if it cannot.
pub fn unsupported(bundle: &Bundle) -> Option<String> {
    let family = super::model::scored_only_by_mlx(&bundle.model)?;
    Some(format!(
        "`{}` is {family} ({}), which an MLflow model cannot carry: its scoring is mlx's \
         own. Export {}; or serve this one with mlx-serve, which answers MLflow's \
         /invocations (docs/serve.md)",
        bundle.manifest.name,
        bundle.manifest.model_type.as_str(),
        super::model::EXPORTABLE
    ))
}

/// MLflow's column schema of a signature: `double` for numbers, `string` for
/// categories, as a JSON string (MLmodel keeps it so).
fn colspec(cols: &[(String, &str)]) -> Result<String> {
    let v: Vec<Value> = cols
        .iter()
        .map(|(n, t)| json!({ "type": t, "name": n, "required": true }))
        .collect();
    serde_json::to_string(&v).map_err(|e| Error::Runtime(format!("encoding a signature: {e}")))
}

/// The MLmodel document.
fn mlmodel(bundle: &Bundle, provenance: &BTreeMap<String, String>) -> Result<Value> {
    let m = &bundle.manifest;
    let inputs: Vec<(String, &str)> = m
        .signature
        .inputs
        .iter()
        .map(|c| {
            let t = match c.kind {
                InputKind::Numeric => "double",
                InputKind::Categorical => "string",
            };
            (c.name.clone(), t)
        })
        .collect();
    let mut outputs: Vec<(String, &str)> = Vec::new();
    match &m.classes {
        Some(classes) => {
            outputs.push(("prediction".into(), "string"));
            outputs.extend(classes.iter().map(|c| (format!("proba_{c}"), "double")));
        }
        None => outputs.push(("prediction".into(), "double")),
    }
    let mut flavors = serde_json::Map::new();
    flavors.insert(
        "python_function".into(),
        json!({
            "loader_module": "mlx_model",
            "code": "code",
            "data": "data",
            "env": { "conda": "conda.yaml", "virtualenv": "python_env.yaml" },
            "python_version": "3.11",
        }),
    );
    // The library's own flavor loads the bare booster: it takes the preprocessed
    // features (the python_function flavor takes the raw columns).
    match m.library.name.as_str() {
        "xgboost" => {
            flavors.insert(
                "xgboost".into(),
                json!({
                    "code": null,
                    "data": format!("data/{}", m.model_file),
                    "model_class": "xgboost.core.Booster",
                    "model_format": "json",
                    "xgb_version": m.library.version,
                }),
            );
        }
        "lightgbm" => {
            flavors.insert(
                "lightgbm".into(),
                json!({
                    "code": null,
                    "data": format!("data/{}", m.model_file),
                    "model_class": "lightgbm.basic.Booster",
                    "lgb_version": m.library.version,
                }),
            );
        }
        _ => {}
    }
    Ok(json!({
        "flavors": flavors,
        "signature": {
            "inputs": colspec(&inputs)?,
            "outputs": colspec(&outputs)?,
            "params": null,
        },
        "metadata": provenance,
        "model_uuid": &provenance.get("bundle_sha256").map_or("", |s| &s[..32.min(s.len())]),
        "utc_time_created": chrono::Utc::now().format("%Y-%m-%d %H:%M:%S%.6f").to_string(),
    }))
}

/// Writes the MLflow model of `bundle` into `dir` (which must not exist or be empty);
/// `provenance` (registry version, bundle hash, ...) goes into MLmodel's metadata.
pub fn write(
    bundle: &Bundle,
    dir: &Path,
    provenance: &BTreeMap<String, String>,
) -> Result<Written> {
    if let Some(why) = unsupported(bundle) {
        return Err(Error::Usage(why));
    }
    if dir.exists()
        && std::fs::read_dir(dir)
            .with_path("reading", dir)?
            .next()
            .is_some()
    {
        return Err(Error::Usage(format!(
            "{} is not empty; give a new directory (an MLflow model is a directory of its own)",
            dir.display()
        )));
    }
    let data = dir.join("data");
    let code = dir.join("code");
    for d in [&data, &code] {
        std::fs::create_dir_all(d).with_path("creating", d)?;
    }
    let m = &bundle.manifest;
    let files: [(PathBuf, Vec<u8>); 4] = [
        (
            data.join(crate::model::bundle::MANIFEST),
            crate::json::pretty(m)?.into_bytes(),
        ),
        (
            data.join(crate::model::bundle::PREPROCESSOR),
            crate::json::pretty(&bundle.preprocessor)?.into_bytes(),
        ),
        (data.join(&m.model_file), bundle.model.to_bytes()?),
        (code.join("mlx_model.py"), LOADER.as_bytes().to_vec()),
    ];
    for (path, bytes) in files {
        std::fs::write(&path, bytes).with_path("writing", &path)?;
    }
    let doc = mlmodel(bundle, provenance)?;
    let yaml = serde_norway::to_string(&doc)
        .map_err(|e| Error::Runtime(format!("writing MLmodel: {e}")))?;
    let reqs = requirements(bundle);
    let python_env =
        "python: \"3.11\"\nbuild_dependencies:\n  - pip\ndependencies:\n  - -r requirements.txt\n"
            .to_owned();
    let conda = format!(
        "name: mlflow-env\nchannels:\n  - conda-forge\ndependencies:\n  - python=3.11\n  - pip\n  - pip:\n{}",
        reqs.iter()
            .map(|r| format!("      - {r}\n"))
            .collect::<String>()
    );
    for (name, text) in [
        ("MLmodel", yaml),
        ("requirements.txt", format!("{}\n", reqs.join("\n"))),
        ("python_env.yaml", python_env),
        ("conda.yaml", conda),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, text).with_path("writing", &path)?;
    }
    let flavors = doc["flavors"]
        .as_object()
        .map(|f| f.keys().cloned().collect())
        .unwrap_or_default();
    Ok(Written { flavors })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libraries_are_pinned_only_to_a_plain_version() {
        assert_eq!(pin("xgboost", "3.2.0"), "xgboost==3.2.0");
        assert_eq!(pin("lightgbm", ""), "lightgbm");
        assert_eq!(pin("lightgbm", "4.7.0; rm -rf /"), "lightgbm");
    }

    #[test]
    fn a_signature_is_mlflow_column_json() {
        let s = colspec(&[("age".into(), "double"), ("plan".into(), "string")]).unwrap();
        let v: Value = serde_json::from_str(&s).unwrap();
        assert_eq!(
            v,
            json!([
                {"type": "double", "name": "age", "required": true},
                {"type": "string", "name": "plan", "required": true}
            ])
        );
    }
}
