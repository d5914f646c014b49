//! Hyperparameter search (`training.tuning`): grid or random search over the values a
//! candidate declares, each trial scored by cross-validation on the training rows.
//!
//! In `models[].params`, a list is a set of values to try (`alpha: [0.1, 1, 10]`) and a
//! map is a range for random search (`alpha: {low: 0.001, high: 10, log: true}`,
//! `max_depth: {low: 2, high: 12, int: true}`); plain values are fixed.

use std::collections::BTreeMap;

use mlx_contracts::config::{Direction, Metric, ParamValue, TuningMethod};
use nalgebra::DMatrix;
use rand::{RngExt, SeedableRng};
use rayon::prelude::*;

use super::model::{self, FittedModel, Target};
use crate::error::{Error, Result};
use mlx_contracts::config::ModelType;
use mlx_contracts::train::Trial;

/// Whether a parameter's value is a range to sample: a map, except `class_weight`'s,
/// which maps classes to weights.
pub fn is_range(name: &str, v: &ParamValue) -> bool {
    matches!(v, ParamValue::Map(_)) && name != "class_weight"
}

/// A network's layer sizes (`hidden: [128, 64]`, `channels: [32, 64]`) and a sequence
/// model's inputs (`sequence: [lag_2, lag_1]`, and their positions) are one value; a
/// list of such lists is a choice between them.
fn is_one_list(name: &str, v: &ParamValue) -> bool {
    let ParamValue::List(l) = v else {
        return false;
    };
    match name {
        "hidden" | "channels" | "sequence_index" => {
            l.iter().all(|i| matches!(i, ParamValue::Int(_)))
        }
        "sequence" => l.iter().all(|i| matches!(i, ParamValue::String(_))),
        _ => false,
    }
}

/// Whether a parameter lists values to choose from.
fn is_choice(name: &str, v: &ParamValue) -> bool {
    matches!(v, ParamValue::List(_)) && !is_one_list(name, v)
}

/// Whether a candidate declares a search (any list or range parameter).
pub fn is_search(params: &BTreeMap<String, ParamValue>) -> bool {
    params
        .iter()
        .any(|(k, v)| is_choice(k, v) || is_range(k, v))
}

fn range(name: &str, m: &BTreeMap<String, ParamValue>) -> Result<(f64, f64, bool, bool)> {
    let num = |k: &str| match m.get(k) {
        Some(ParamValue::Int(i)) => Some(*i as f64),
        Some(ParamValue::Float(f)) => Some(*f),
        _ => None,
    };
    let flag = |k: &str| matches!(m.get(k), Some(ParamValue::Bool(true)));
    for k in m.keys() {
        if !["low", "high", "log", "int"].contains(&k.as_str()) {
            return Err(Error::Usage(format!(
                "the range of `{name}` has an unknown key `{k}`; a range is {{low, high, log, int}}"
            )));
        }
    }
    match (num("low"), num("high")) {
        (Some(lo), Some(hi)) if lo < hi && (!flag("log") || lo > 0.0) => {
            Ok((lo, hi, flag("log"), flag("int")))
        }
        _ => Err(Error::Usage(format!(
            "the range of `{name}` needs numbers `low` < `high` (and `low` > 0 with `log: true`)"
        ))),
    }
}

/// The parameter sets to try: every combination of the lists (grid), or `trials`
/// random draws (lists uniformly, ranges uniformly or log-uniformly).
pub fn trials(
    params: &BTreeMap<String, ParamValue>,
    method: TuningMethod,
    trials: u32,
    seed: u64,
) -> Result<Vec<BTreeMap<String, ParamValue>>> {
    match method {
        TuningMethod::Grid => {
            let mut sets = vec![BTreeMap::new()];
            for (k, v) in params {
                let values = match v {
                    ParamValue::List(l) if !l.is_empty() && is_choice(k, v) => l.clone(),
                    ParamValue::List(_) if is_choice(k, v) => {
                        return Err(Error::Usage(format!("`{k}` lists no values to try")))
                    }
                    v if is_range(k, v) => {
                        return Err(Error::Usage(format!(
                            "grid search needs a list of values for `{k}`, not a range; use \
                             `training.tuning.method: random` for ranges"
                        )))
                    }
                    other => vec![other.clone()],
                };
                sets = sets
                    .into_iter()
                    .flat_map(|s| {
                        values.iter().map(move |v| {
                            let mut s = s.clone();
                            s.insert(k.clone(), v.clone());
                            s
                        })
                    })
                    .collect();
            }
            Ok(sets)
        }
        TuningMethod::Random => {
            let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
            (0..trials.max(1))
                .map(|_| {
                    params
                        .iter()
                        .map(|(k, v)| {
                            let value = match v {
                                ParamValue::List(l) if !l.is_empty() && is_choice(k, v) => {
                                    l[rng.random_range(0..l.len())].clone()
                                }
                                ParamValue::Map(m) if is_range(k, v) => {
                                    let (lo, hi, log, int) = range(k, m)?;
                                    let u: f64 = rng.random();
                                    let x = if log {
                                        (lo.ln() + u * (hi.ln() - lo.ln())).exp()
                                    } else {
                                        lo + u * (hi - lo)
                                    };
                                    if int {
                                        ParamValue::Int(x.round() as i64)
                                    } else {
                                        ParamValue::Float(x)
                                    }
                                }
                                other => other.clone(),
                            };
                            Ok((k.clone(), value))
                        })
                        .collect()
                })
                .collect()
        }
    }
}

/// How trials are compared: the primary metric (any that applies, as mlx-eval computes
/// it) and its direction.
#[derive(Debug, Clone, Copy)]
pub struct Scoring {
    /// The metric.
    pub metric: Metric,
    /// Whether higher is better.
    pub direction: Direction,
}

impl Scoring {
    /// The config's primary metric (accuracy or RMSE by default).
    pub fn new(cfg: &mlx_contracts::Config) -> Self {
        let (metric, direction) = crate::metric::primary_metric(cfg);
        Self { metric, direction }
    }

    /// The score of `model` on `x` against `y` (NaN where the metric is undefined on
    /// these rows, which never wins).
    pub fn score(&self, model: &FittedModel, x: &DMatrix<f64>, y: &Target) -> Result<f64> {
        let s = crate::model::score::of_model(model, x, y, None)?;
        Ok(s.metrics
            .get(self.metric.as_str())
            .copied()
            .unwrap_or(f64::NAN))
    }

    fn better(&self, a: f64, b: f64) -> bool {
        match self.direction {
            Direction::Maximize => a > b,
            Direction::Minimize => a < b,
        }
    }
}

fn rows_of(x: &DMatrix<f64>, rows: &[usize]) -> DMatrix<f64> {
    DMatrix::from_fn(rows.len(), x.ncols(), |i, j| x[(rows[i], j)])
}

/// Scores every trial by cross-validation over `folds` (training and validation
/// positions) and returns the trials and the index of the best one (the first on ties).
#[allow(clippy::too_many_arguments)]
pub fn search(
    model_type: ModelType,
    sets: Vec<BTreeMap<String, ParamValue>>,
    x: &DMatrix<f64>,
    classes: Option<(&[usize], &[String])>,
    values: Option<&[f64]>,
    folds: &[(Vec<usize>, Vec<usize>)],
    scoring: Scoring,
    seed: u64,
) -> Result<(Vec<Trial>, usize)> {
    let trials: Vec<Trial> = sets
        .into_par_iter()
        .map(|params| {
            let mut scores = Vec::with_capacity(folds.len());
            for (train, valid) in folds {
                let (xt, xv) = (rows_of(x, train), rows_of(x, valid));
                let pick_c = |r: &[usize]| -> Vec<usize> {
                    classes
                        .map(|(c, _)| r.iter().map(|&i| c[i]).collect())
                        .unwrap_or_default()
                };
                let pick_v = |r: &[usize]| -> Vec<f64> {
                    values
                        .map(|v| r.iter().map(|&i| v[i]).collect())
                        .unwrap_or_default()
                };
                let (ct, cv, vt, vv) = (pick_c(train), pick_c(valid), pick_v(train), pick_v(valid));
                let (yt, yv) = match classes {
                    Some((_, k)) => (Target::Classes(&ct, k), Target::Classes(&cv, k)),
                    None => (Target::Values(&vt), Target::Values(&vv)),
                };
                let fit = model::fit(model_type, &params, &xt, yt, None, seed)?;
                scores.push(scoring.score(&fit.model, &xv, &yv)?);
            }
            let score = scores.iter().sum::<f64>() / scores.len().max(1) as f64;
            Ok(Trial {
                params,
                score,
                folds: scores,
            })
        })
        .collect::<Result<_>>()?;
    let mut best = 0;
    for (i, t) in trials.iter().enumerate() {
        if scoring.better(t.score, trials[best].score) {
            best = i;
        }
    }
    Ok((trials, best))
}

/// `k` shuffled folds over `n` rows (when the split defines none).
pub fn kfold(n: usize, k: usize, seed: u64) -> Vec<(Vec<usize>, Vec<usize>)> {
    use rand::seq::SliceRandom;
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut rand_pcg::Pcg64::seed_from_u64(seed));
    crate::model::transform::kfold(n, k.min(n).max(2))
        .into_iter()
        .map(|test| {
            let valid: Vec<usize> = test.iter().map(|&p| order[p]).collect();
            let mut is_valid = vec![false; n];
            for &v in &valid {
                is_valid[v] = true;
            }
            ((0..n).filter(|&i| !is_valid[i]).collect(), valid)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_class_weight_map_is_not_a_range() {
        let weights = ParamValue::Map([("yes".to_string(), ParamValue::Int(5))].into());
        let fixed: BTreeMap<String, ParamValue> = [("class_weight".to_string(), weights)].into();
        assert!(!is_search(&fixed));
        let range = ParamValue::Map([("low".to_string(), ParamValue::Int(1))].into());
        assert!(is_search(&[("C".to_string(), range)].into()));
    }

    #[test]
    fn layer_sizes_are_one_value_and_lists_of_them_a_choice() {
        let ints = |v: &[i64]| ParamValue::List(v.iter().map(|i| ParamValue::Int(*i)).collect());
        let fixed: BTreeMap<String, ParamValue> = [("hidden".to_string(), ints(&[128, 64]))].into();
        assert!(!is_search(&fixed));
        let p: BTreeMap<String, ParamValue> = [
            (
                "hidden".to_string(),
                ParamValue::List(vec![ints(&[64]), ints(&[128, 64])]),
            ),
            ("channels".to_string(), ints(&[16, 32])),
            (
                "learning_rate".to_string(),
                ParamValue::List(vec![ParamValue::Float(0.01), ParamValue::Float(0.001)]),
            ),
        ]
        .into();
        assert!(is_search(&p));
        let sets = trials(&p, TuningMethod::Grid, 0, 0).unwrap();
        assert_eq!(sets.len(), 4);
        assert!(sets.iter().all(|s| s["channels"] == ints(&[16, 32])));
        assert_eq!(sets[0]["hidden"], ints(&[64]));
        assert_eq!(sets[3]["hidden"], ints(&[128, 64]));
    }

    #[test]
    fn a_grid_is_every_combination() {
        let p: BTreeMap<String, ParamValue> = [
            (
                "a".to_string(),
                ParamValue::List(vec![ParamValue::Int(1), ParamValue::Int(2)]),
            ),
            (
                "b".to_string(),
                ParamValue::List(vec![
                    ParamValue::Float(0.1),
                    ParamValue::Float(0.2),
                    ParamValue::Float(0.3),
                ]),
            ),
            ("c".to_string(), ParamValue::Bool(true)),
        ]
        .into();
        let t = trials(&p, TuningMethod::Grid, 0, 0).unwrap();
        assert_eq!(t.len(), 6);
        assert!(t.iter().all(|s| s["c"] == ParamValue::Bool(true)));
    }

    #[test]
    fn random_ranges_stay_inside_and_repeat_per_seed() {
        let range: BTreeMap<String, ParamValue> = [
            ("low".to_string(), ParamValue::Float(0.001)),
            ("high".to_string(), ParamValue::Int(10)),
            ("log".to_string(), ParamValue::Bool(true)),
        ]
        .into();
        let p: BTreeMap<String, ParamValue> =
            [("alpha".to_string(), ParamValue::Map(range))].into();
        let t = trials(&p, TuningMethod::Random, 50, 3).unwrap();
        assert_eq!(t.len(), 50);
        for s in &t {
            let ParamValue::Float(a) = s["alpha"] else {
                panic!()
            };
            assert!((0.001..=10.0).contains(&a));
        }
        assert_eq!(t, trials(&p, TuningMethod::Random, 50, 3).unwrap());
    }
}
