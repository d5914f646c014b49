//! XGBoost through its C library (the `xgb` crate over libxgboost.so; cargo feature
//! `xgboost`). The model file in the bundle is XGBoost's own JSON, so Python's `xgboost`
//! loads the same model.
//!
//! Parameters are XGBoost's own names, passed through (`eta`, `max_depth`,
//! `subsample`, `lambda`, `scale_pos_weight`, `objective`, ...), plus
//! `n_estimators` (boosting rounds, default 100) and `early_stopping_rounds` (stop when
//! the validation metric has not improved for that many rounds, keeping the best).

use std::collections::BTreeMap;

use mlx_contracts::config::ParamValue;
use nalgebra::DMatrix;
use xgb::parameters::BoosterParameters;
use xgb::{Booster, DMatrix as XMatrix};

use super::Rows;
use crate::error::{Error, Result};

fn err(e: xgb::XGBError) -> Error {
    Error::Runtime(format!("xgboost: {e}"))
}

/// Row-major f32 values of a matrix (XGBoost's input), NaN as missing.
fn dense(x: &DMatrix<f64>) -> Vec<f32> {
    let mut out = Vec::with_capacity(x.nrows() * x.ncols());
    for i in 0..x.nrows() {
        for j in 0..x.ncols() {
            out.push(x[(i, j)] as f32);
        }
    }
    out
}

fn matrix(x: &DMatrix<f64>, labels: Option<&[f32]>) -> Result<XMatrix> {
    let mut m = XMatrix::from_dense_with_missing(&dense(x), x.nrows(), f32::NAN).map_err(err)?;
    if let Some(l) = labels {
        m.set_labels(l).map_err(err)?;
    }
    Ok(m)
}

fn text(v: &ParamValue) -> String {
    match v {
        ParamValue::String(s) => s.clone(),
        ParamValue::Bool(b) => u8::from(*b).to_string(),
        other => other.to_string(),
    }
}

/// XGBoost's own estimate of the base score: the (weighted) mean target, or for several
/// classes the centred log (weighted) class shares.
fn base_score(y: &[f32], weights: Option<&[f32]>, classes: usize) -> String {
    let w = |i: usize| weights.map_or(1.0, |w| f64::from(w[i]));
    let total: f64 = (0..y.len()).map(w).sum::<f64>().max(f64::MIN_POSITIVE);
    if classes > 2 {
        let mut counts = vec![0f64; classes];
        for (i, &c) in y.iter().enumerate() {
            counts[c as usize] += w(i);
        }
        // Softmax margins of the class shares, centred.
        let logs: Vec<f64> = counts.iter().map(|c| (c / total).ln()).collect();
        let mean = logs.iter().sum::<f64>() / classes as f64;
        let margins: Vec<String> = logs.iter().map(|l| format!("{:e}", l - mean)).collect();
        format!("[{}]", margins.join(","))
    } else {
        let sum: f64 = y
            .iter()
            .enumerate()
            .map(|(i, v)| f64::from(*v) * w(i))
            .sum();
        format!("{:e}", sum / total)
    }
}

/// A fitted booster: its JSON model and output width.
pub struct Fitted {
    /// XGBoost's JSON model.
    pub json: Vec<u8>,
    /// Per round: the training and validation metric.
    pub history: Vec<(f64, Option<f64>)>,
}

/// Fits a booster. `classes` is 0 for regression.
pub fn fit(
    params: &BTreeMap<String, ParamValue>,
    train: Rows,
    classes: usize,
    validation: Option<(&DMatrix<f64>, &[f32])>,
    seed: u64,
) -> Result<Fitted> {
    let y = train.y;
    let mut dtrain = matrix(train.x, Some(y))?;
    if let Some(w) = train.weights {
        dtrain.set_weights(w).map_err(err)?;
    }
    let dval = validation
        .map(|(vx, vy)| matrix(vx, Some(vy)))
        .transpose()?;
    let mut cached = vec![&dtrain];
    cached.extend(dval.as_ref());
    let mut booster =
        Booster::new_with_cached_dmats(&BoosterParameters::default(), &cached).map_err(err)?;
    let mut rounds = 100usize;
    let mut patience: Option<usize> = None;
    let objective = match classes {
        0 => "reg:squarederror",
        2 => "binary:logistic",
        _ => "multi:softprob",
    };
    booster.set_param("objective", objective).map_err(err)?;
    if classes > 2 {
        booster
            .set_param("num_class", &classes.to_string())
            .map_err(err)?;
    }
    booster.set_param("seed", &seed.to_string()).map_err(err)?;
    // The bindings always send a `base_score` (0.5), which turns off XGBoost's own
    // estimate of it; send that estimate instead, as XGBoost computes it: the mean
    // target (regression, binary) or the centred log class shares (multiclass).
    booster
        .set_param("base_score", &base_score(y, train.weights, classes))
        .map_err(err)?;
    for (k, v) in params {
        match k.as_str() {
            "n_estimators" | "num_boost_round" => {
                rounds = match v {
                    ParamValue::Int(n) if *n >= 1 => *n as usize,
                    other => {
                        return Err(Error::Usage(format!(
                            "`{k}` must be a whole number of at least 1, got {}",
                            text(other)
                        )))
                    }
                }
            }
            "early_stopping_rounds" => {
                patience = match v {
                    ParamValue::Int(n) if *n >= 1 => Some(*n as usize),
                    other => {
                        return Err(Error::Usage(format!(
                            "`early_stopping_rounds` must be a whole number of at least 1, got {}",
                            text(other)
                        )))
                    }
                }
            }
            "num_class" => {
                return Err(Error::Usage(
                    "`num_class` follows from the target's classes; remove it".into(),
                ))
            }
            _ => booster.set_param(k, &text(v)).map_err(|e| {
                Error::Usage(format!("xgboost does not accept `{k}: {}`: {e}", text(v)))
            })?,
        }
    }
    let metric_of = |m: &std::collections::HashMap<String, f32>| -> Option<f64> {
        let mut v: Vec<(&String, &f32)> = m.iter().collect();
        v.sort_by(|a, b| a.0.cmp(b.0));
        v.first().map(|(_, x)| f64::from(**x))
    };
    let mut history = Vec::with_capacity(rounds);
    let (mut best, mut best_round) = (f64::INFINITY, 0usize);
    for round in 0..rounds {
        booster.update(&dtrain, round as i32).map_err(err)?;
        let train_metric = metric_of(&booster.evaluate(&dtrain).map_err(err)?).unwrap_or(f64::NAN);
        let val_metric = match &dval {
            Some(d) => metric_of(&booster.evaluate(d).map_err(err)?),
            None => None,
        };
        history.push((train_metric, val_metric));
        if let (Some(p), Some(v)) = (patience, val_metric) {
            // XGBoost's default metrics (rmse, logloss, mlogloss) are minimised.
            if v < best {
                best = v;
                best_round = round;
            } else if round - best_round >= p {
                booster = booster.slice(0, best_round as i32 + 1).map_err(err)?;
                history.truncate(best_round + 1);
                break;
            }
        }
    }
    let json = booster.save_buffer(false).map_err(err)?;
    Ok(Fitted { json, history })
}

/// Values (`n × 1`) or class probabilities (`n × classes`) from a JSON model.
pub fn predict(json: &[u8], classes: usize, x: &DMatrix<f64>) -> Result<DMatrix<f64>> {
    let booster = Booster::load_buffer(json).map_err(err)?;
    let out = booster.predict(&matrix(x, None)?).map_err(err)?;
    let n = x.nrows();
    Ok(match classes {
        0 => DMatrix::from_fn(n, 1, |i, _| f64::from(out[i])),
        2 => DMatrix::from_fn(n, 2, |i, k| {
            let p = f64::from(out[i]);
            if k == 1 {
                p
            } else {
                1.0 - p
            }
        }),
        k => DMatrix::from_fn(n, k, |i, c| f64::from(out[i * k + c])),
    })
}
