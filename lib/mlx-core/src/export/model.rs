//! `mlx export model`: a registry version (or a bundle) as a model other tools load,
//! in MLflow's format ([`super::mlflow`]) or ONNX's ([`super::onnx`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::Result;
use crate::model::bundle::Bundle;
use crate::model::FittedModel;

/// The families both formats take, as the refusals name them.
pub(crate) const EXPORTABLE: &str =
    "linear or logistic regression, a decision tree, a random forest, gradient boosting, \
     XGBoost or LightGBM";

/// What the model is, when it is of a family whose scoring only mlx holds (no format
/// carries it); `None` for the families both formats take.
pub(crate) fn scored_only_by_mlx(model: &FittedModel) -> Option<&'static str> {
    match model {
        FittedModel::Linear(_)
        | FittedModel::Forest(_)
        | FittedModel::Boosted(_)
        | FittedModel::Xgboost { .. }
        | FittedModel::Lightgbm { .. } => None,
        FittedModel::Knn(_) => Some("k-nearest neighbours"),
        FittedModel::Svm(_) => Some("a support vector machine"),
        FittedModel::Forecast(_) | FittedModel::Direct(_) => Some("a forecaster"),
        FittedModel::Neural(_) => Some("a neural network"),
    }
}

/// What to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// An MLflow model directory.
    Mlflow,
    /// One ONNX model file.
    Onnx,
}

/// What was written, and how to load it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exported {
    /// The directory or file.
    pub path: PathBuf,
    /// How other tools load it.
    pub load: String,
}

/// Exports registry version `which` (a number, a stage, an alias; default `production`)
/// of the config's registry, or the bundle at `bundle`, to `out`.
pub fn export(
    cfg: &mlx_contracts::Config,
    workdir: &crate::workdir::Workdir,
    which: Option<&str>,
    bundle: Option<&Path>,
    format: Format,
    out: &Path,
) -> Result<Exported> {
    let (loaded, provenance) = load(cfg, workdir, which, bundle)?;
    let at = out.display();
    let load = match format {
        Format::Mlflow => {
            let w = super::mlflow::write(&loaded, out, &provenance)?;
            format!(
                "mlflow.pyfunc.load_model(\"{at}\") (flavors: {})",
                w.flavors.join(", ")
            )
        }
        Format::Onnx => {
            super::onnx::write(&loaded, out, &provenance)?;
            format!("onnxruntime.InferenceSession(\"{at}\")")
        }
    };
    Ok(Exported {
        path: out.to_owned(),
        load,
    })
}

/// The bundle to export and its provenance (the registry version, its hashes, the run).
fn load(
    cfg: &mlx_contracts::Config,
    workdir: &crate::workdir::Workdir,
    which: Option<&str>,
    bundle: Option<&Path>,
) -> Result<(Bundle, BTreeMap<String, String>)> {
    let mut provenance = BTreeMap::new();
    provenance.insert(
        "mlx_version".to_owned(),
        env!("CARGO_PKG_VERSION").to_owned(),
    );
    let loaded = match bundle {
        Some(path) => Bundle::load(path)?,
        None => {
            let (v, tar) =
                crate::registry::registry_version(cfg, workdir, which.unwrap_or("production"))?;
            provenance.insert("registered_model".into(), v.model.clone());
            provenance.insert("registry_version".into(), v.version.to_string());
            provenance.insert("archive_sha256".into(), v.archive_sha256.clone());
            provenance.insert("bundle_sha256".into(), v.bundle_sha256.clone());
            provenance.insert("run_id".into(), v.run_id.clone());
            provenance.insert("dataset_sha256".into(), v.dataset_sha256.clone());
            if let Some(c) = &v.git_commit {
                provenance.insert("git_commit".into(), c.clone());
            }
            Bundle::load(&tar)?
        }
    };
    let m = &loaded.manifest;
    provenance
        .entry("bundle_sha256".into())
        .or_insert_with(|| crate::model::bundle::content_hash(&m.files));
    provenance.insert("candidate".into(), m.name.clone());
    provenance.insert("model_type".into(), m.model_type.as_str().to_owned());
    Ok((loaded, provenance))
}
