//! LightGBM through its C API (the `lightgbm3-sys` crate, which compiles LightGBM's own
//! sources with cmake; cargo feature `lightgbm`). The model file in the bundle is
//! LightGBM's own text format, which Python's `lightgbm` loads.
//!
//! Parameters are LightGBM's own names, passed through (`learning_rate`, `num_leaves`,
//! `max_depth`, `min_data_in_leaf`, `feature_fraction`, `bagging_fraction`, `lambda_l2`,
//! `objective`, `metric`, `is_unbalance`, `scale_pos_weight`, ...), plus `n_estimators`
//! (rounds, default 100) and `early_stopping_rounds` on the validation split. The
//! training loop is mlx's, as Python's `lightgbm.train` is Python's: one
//! `LGBM_BoosterUpdateOneIter` per round, LightGBM's own metric on the training and
//! validation rows after each, and with early stopping the model saved up to its best
//! round.

use std::collections::BTreeMap;
use std::ffi::{c_char, c_int, c_void, CStr, CString};

use lightgbm3::Booster;
use lightgbm3_sys as sys;
use mlx_contracts::config::ParamValue;
use nalgebra::DMatrix;

use super::Rows;
use crate::error::{Error, Result};

fn err(e: lightgbm3::Error) -> Error {
    Error::Runtime(format!("lightgbm: {e}"))
}

/// LightGBM's message for the last failed call.
fn check(rc: c_int) -> Result<()> {
    if rc == 0 {
        return Ok(());
    }
    // SAFETY: LGBM_GetLastError returns a pointer to a NUL-terminated thread-local buffer.
    let msg = unsafe { CStr::from_ptr(sys::LGBM_GetLastError()) };
    Err(Error::Usage(format!(
        "lightgbm refused the model: {}",
        msg.to_string_lossy()
    )))
}

/// A dataset handle, freed on drop.
struct Data(sys::DatasetHandle);

impl Drop for Data {
    fn drop(&mut self) {
        // SAFETY: the handle came from LGBM_DatasetCreateFromMat and is freed once.
        unsafe { sys::LGBM_DatasetFree(self.0) };
    }
}

/// A booster handle, freed on drop.
struct Handle(sys::BoosterHandle);

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: the handle came from LGBM_BoosterCreate and is freed once.
        unsafe { sys::LGBM_BoosterFree(self.0) };
    }
}

fn set_field(d: &Data, name: &str, values: &[f32]) -> Result<()> {
    let name = CString::new(name).unwrap_or_default();
    // SAFETY: `values` outlives the call; LightGBM copies the field.
    check(unsafe {
        sys::LGBM_DatasetSetField(
            d.0,
            name.as_ptr(),
            values.as_ptr().cast::<c_void>(),
            values.len() as c_int,
            sys::C_API_DTYPE_FLOAT32 as c_int,
        )
    })
}

/// A dataset over a column-major matrix (nalgebra's layout), binned like `reference`.
fn dataset(
    x: &DMatrix<f64>,
    y: &[f32],
    weights: Option<&[f32]>,
    params: &CString,
    reference: Option<&Data>,
) -> Result<Data> {
    let mut out: sys::DatasetHandle = std::ptr::null_mut();
    // SAFETY: the matrix holds nrows × ncols f64 values, column-major (is_row_major 0).
    check(unsafe {
        sys::LGBM_DatasetCreateFromMat(
            x.as_slice().as_ptr().cast::<c_void>(),
            sys::C_API_DTYPE_FLOAT64 as c_int,
            x.nrows() as i32,
            x.ncols() as i32,
            0,
            params.as_ptr(),
            reference.map_or(std::ptr::null_mut(), |r| r.0),
            &mut out,
        )
    })?;
    let d = Data(out);
    set_field(&d, "label", y)?;
    if let Some(w) = weights {
        set_field(&d, "weight", w)?;
    }
    Ok(d)
}

/// The first metric of data set `index` (0 training, 1 validation).
fn eval(b: &Handle, index: c_int, count: usize) -> Result<Option<f64>> {
    if count == 0 {
        return Ok(None);
    }
    let mut out = vec![0.0; count];
    let mut len: c_int = 0;
    // SAFETY: `out` has room for every metric LightGBM reports.
    check(unsafe { sys::LGBM_BoosterGetEval(b.0, index, &mut len, out.as_mut_ptr()) })?;
    Ok(out.first().copied().filter(|_| len > 0))
}

/// The name of the booster's first metric.
fn first_metric(b: &Handle, count: usize) -> Result<String> {
    if count == 0 {
        return Ok(String::new());
    }
    let mut buffers = vec![vec![0u8; 256]; count];
    let mut pointers: Vec<*mut c_char> = buffers
        .iter_mut()
        .map(|b| b.as_mut_ptr().cast::<c_char>())
        .collect();
    let (mut len, mut needed) = (0, 0usize);
    // SAFETY: `count` buffers of 256 bytes each.
    check(unsafe {
        sys::LGBM_BoosterGetEvalNames(
            b.0,
            count as c_int,
            &mut len,
            256,
            &mut needed,
            pointers.as_mut_ptr(),
        )
    })?;
    let name = CStr::from_bytes_until_nul(&buffers[0])
        .map(|c| c.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(name)
}

/// A fitted booster: its text model and history.
pub struct Fitted {
    /// LightGBM's text model.
    pub text: Vec<u8>,
    /// Per round: the training and validation metric (LightGBM's first metric).
    pub history: Vec<(f64, Option<f64>)>,
}

/// `key=value` as LightGBM's parameter string wants it.
fn value_text(k: &str, v: &ParamValue) -> Result<String> {
    Ok(match v {
        ParamValue::String(s) => s.clone(),
        ParamValue::Bool(b) => b.to_string(),
        ParamValue::Int(i) => i.to_string(),
        ParamValue::Float(f) => f.to_string(),
        ParamValue::Null | ParamValue::List(_) | ParamValue::Map(_) => {
            return Err(Error::Usage(format!(
                "lightgbm parameter `{k}` must be a number, a word or true/false"
            )))
        }
    })
}

/// Fits a booster. `classes` is 0 for regression.
pub fn fit(
    params: &BTreeMap<String, ParamValue>,
    train: Rows,
    classes: usize,
    validation: Option<(&DMatrix<f64>, &[f32])>,
    seed: u64,
) -> Result<Fitted> {
    let mut p: BTreeMap<String, String> = BTreeMap::new();
    let objective = match classes {
        0 => "regression",
        2 => "binary",
        _ => "multiclass",
    };
    p.insert("objective".into(), objective.into());
    if classes > 2 {
        p.insert("num_class".into(), classes.to_string());
    }
    p.insert("seed".into(), seed.to_string());
    p.insert("verbosity".into(), "-1".into());
    p.insert("num_iterations".into(), "100".into());
    for (k, v) in params {
        let key = match k.as_str() {
            "n_estimators" | "num_boost_round" => "num_iterations",
            "early_stopping_rounds" => "early_stopping_round",
            "num_class" => {
                return Err(Error::Usage(
                    "`num_class` follows from the target's classes; remove it".into(),
                ))
            }
            other => other,
        };
        p.insert(key.into(), value_text(k, v)?);
    }
    let whole = |k: &str| -> Result<Option<usize>> {
        p.get(k)
            .map(|v| {
                v.parse::<usize>().ok().filter(|n| *n >= 1).ok_or_else(|| {
                    Error::Usage(format!(
                        "lightgbm parameter `{k}` must be a whole number of at least 1, got {v}"
                    ))
                })
            })
            .transpose()
    };
    let rounds = whole("num_iterations")?.unwrap_or(100);
    let patience = whole("early_stopping_round")?;
    if patience.is_some() && validation.is_none() {
        return Err(Error::Usage(
            "`early_stopping_rounds` needs a validation split (`split.validation` above 0)".into(),
        ));
    }
    // Every round's metric on the training rows too, for the run's history.
    p.insert("is_provide_training_metric".into(), "true".into());
    let text: Vec<String> = p.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let text = CString::new(text.join(" "))
        .map_err(|_| Error::Usage("a lightgbm parameter holds a NUL byte".into()))?;

    let dtrain = dataset(train.x, train.y, train.weights, &text, None)?;
    let dvalid = validation
        .map(|(vx, vy)| dataset(vx, vy, None, &text, Some(&dtrain)))
        .transpose()?;
    let mut raw: sys::BoosterHandle = std::ptr::null_mut();
    // SAFETY: `dtrain` is a live dataset; LightGBM keeps its own reference.
    check(unsafe { sys::LGBM_BoosterCreate(dtrain.0, text.as_ptr(), &mut raw) })?;
    let booster = Handle(raw);
    if let Some(v) = &dvalid {
        // SAFETY: both handles are live.
        check(unsafe { sys::LGBM_BoosterAddValidData(booster.0, v.0) })?;
    }
    let mut count: c_int = 0;
    // SAFETY: a live booster.
    check(unsafe { sys::LGBM_BoosterGetEvalCounts(booster.0, &mut count) })?;
    let count = count.max(0) as usize;
    let metric = first_metric(&booster, count)?;
    let higher_better = ["auc", "ndcg", "map", "average_precision"]
        .iter()
        .any(|m| metric.starts_with(m));

    let mut history = Vec::with_capacity(rounds);
    let mut best: Option<(usize, f64)> = None;
    for round in 0..rounds {
        let mut finished: c_int = 0;
        // SAFETY: a live booster.
        check(unsafe { sys::LGBM_BoosterUpdateOneIter(booster.0, &mut finished) })?;
        if finished != 0 {
            break;
        }
        let train_metric = eval(&booster, 0, count)?.unwrap_or(f64::NAN);
        let valid_metric = if dvalid.is_some() {
            eval(&booster, 1, count)?
        } else {
            None
        };
        history.push((train_metric, valid_metric));
        if let (Some(wait), Some(v)) = (patience, valid_metric) {
            let improved = best.is_none_or(|(_, b)| if higher_better { v > b } else { v < b });
            if improved {
                best = Some((round, v));
            } else if best.is_some_and(|(r, _)| round - r >= wait) {
                break;
            }
        }
    }
    // With early stopping, the model up to its best round (as Python's `lightgbm`
    // saves it); the history keeps every round that was trained.
    let keep = match (patience, best) {
        (Some(_), Some((r, _))) => r as c_int + 1,
        _ => -1,
    };
    let mut len = 0i64;
    // SAFETY: a size query with an empty buffer.
    check(unsafe {
        sys::LGBM_BoosterSaveModelToString(booster.0, 0, keep, 0, 0, &mut len, std::ptr::null_mut())
    })?;
    let mut buffer = vec![0u8; len.max(1) as usize];
    // SAFETY: `buffer` has the size LightGBM asked for.
    check(unsafe {
        sys::LGBM_BoosterSaveModelToString(
            booster.0,
            0,
            keep,
            0,
            buffer.len() as i64,
            &mut len,
            buffer.as_mut_ptr().cast::<c_char>(),
        )
    })?;
    // The text ends with a NUL.
    while buffer.last() == Some(&0) {
        buffer.pop();
    }
    Ok(Fitted {
        text: buffer,
        history,
    })
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
