//! LightGBM through its C library (the `lightgbm3` crate, which compiles LightGBM's own
//! sources with cmake; cargo feature `lightgbm`). The model file in the bundle is
//! LightGBM's own text format, which Python's `lightgbm` loads.
//!
//! Parameters are LightGBM's own names, passed through (`learning_rate`, `num_leaves`,
//! `max_depth`, `min_data_in_leaf`, `feature_fraction`, `bagging_fraction`, `lambda_l2`,
//! `objective`, `is_unbalance`, `scale_pos_weight`, ...), plus `n_estimators` (rounds,
//! default 100) and `early_stopping_rounds` on the validation split.

use std::collections::BTreeMap;

use lightgbm3::{Booster, Dataset};
use mlx_contracts::config::ParamValue;
use nalgebra::DMatrix;

use crate::error::{Error, Result};

fn err(e: lightgbm3::Error) -> Error {
    Error::Runtime(format!("lightgbm: {e}"))
}

/// Fits a booster; returns LightGBM's text model. `classes` is 0 for regression.
pub fn fit(
    params: &BTreeMap<String, ParamValue>,
    x: &DMatrix<f64>,
    y: &[f32],
    classes: usize,
    validation: Option<(&DMatrix<f64>, &[f32])>,
    seed: u64,
) -> Result<Vec<u8>> {
    let width = x.ncols() as i32;
    // nalgebra stores columns contiguously: LightGBM reads them as column-major.
    let train = Dataset::from_slice(x.as_slice(), y, width, false).map_err(err)?;
    let valid = validation
        .map(|(vx, vy)| {
            Dataset::from_slice_with_reference(vx.as_slice(), vy, width, false, Some(&train))
        })
        .transpose()
        .map_err(err)?;
    let mut p = serde_json::Map::new();
    let objective = match classes {
        0 => "regression",
        2 => "binary",
        _ => "multiclass",
    };
    p.insert("objective".into(), objective.into());
    if classes > 2 {
        p.insert("num_class".into(), classes.into());
    }
    p.insert("seed".into(), seed.into());
    p.insert("verbosity".into(), (-1).into());
    p.insert("num_iterations".into(), 100.into());
    for (k, v) in params {
        let key = match k.as_str() {
            "n_estimators" | "num_boost_round" => "num_iterations",
            "num_class" => {
                return Err(Error::Usage(
                    "`num_class` follows from the target's classes; remove it".into(),
                ))
            }
            other => other,
        };
        let value = match v {
            ParamValue::Null | ParamValue::List(_) | ParamValue::Map(_) => {
                return Err(Error::Usage(format!(
                    "lightgbm parameter `{k}` must be a number, a word or true/false"
                )))
            }
            other => serde_json::to_value(other).unwrap_or_default(),
        };
        p.insert(key.into(), value);
    }
    if p.contains_key("early_stopping_rounds") && valid.is_none() {
        return Err(Error::Usage(
            "`early_stopping_rounds` needs a validation split (`split.validation` above 0)".into(),
        ));
    }
    let booster = Booster::train_with_valid(train, valid, &serde_json::Value::Object(p))
        .map_err(|e| Error::Usage(format!("lightgbm refused the model: {e}")))?;
    Ok(booster.save_string().map_err(err)?.into_bytes())
}

/// Values (`n × 1`) or class probabilities (`n × classes`) from a text model.
pub fn predict(text: &[u8], classes: usize, x: &DMatrix<f64>) -> Result<DMatrix<f64>> {
    let booster = Booster::from_string(&String::from_utf8_lossy(text)).map_err(err)?;
    let out = booster
        .predict(x.as_slice(), x.ncols() as i32, false)
        .map_err(err)?;
    let n = x.nrows();
    Ok(match classes {
        0 => DMatrix::from_fn(n, 1, |i, _| out[i]),
        2 => DMatrix::from_fn(n, 2, |i, k| if k == 1 { out[i] } else { 1.0 - out[i] }),
        k => DMatrix::from_fn(n, k, |i, c| out[i * k + c]),
    })
}
