//! The model layer: everything a fitted model is at run time, whichever stage holds
//! it. The bundle (load, verify, pack), the fitted preprocessing and the row-local
//! derived features, every family (linear, trees, SVM, k-NN, boosting, XGBoost,
//! LightGBM, networks, forecasters) behind [`FittedModel`], and the target encodings.
//! Stages (train, eval, shap, serve, monitor) use it; it uses no stage.
//!
//! Model families behind one interface: fit on a matrix, predict values or class
//! probabilities, save and load in the library's own format.

pub mod boosting;
pub mod bundle;
pub mod derive;
pub mod ensemble;
pub mod expr;
pub mod flat;
pub mod forecast;
pub mod knn;
mod lbfgs;
// LightGBM's C API: the crate's one `unsafe` code, each call with its safety argument.
#[cfg(feature = "lightgbm")]
#[allow(unsafe_code)]
pub mod lightgbm;
pub mod linear;
pub mod neural;
pub mod records;
pub mod score;
pub mod scorer;
pub mod sql;
pub mod svm;
pub mod target;
pub mod transform;
pub mod tree;
#[cfg(feature = "xgboost")]
pub mod xgboost;

pub use target::{encode_classes, numeric_target};

use std::collections::BTreeMap;

use mlx_contracts::config::{ModelType, ParamValue};
use nalgebra::DMatrix;
use serde::{Deserialize, Serialize};

use self::boosting::Boosted;
use self::knn::Knn;
use self::linear::LinearModel;
use self::svm::{Kernel, Svm};
use self::tree::{Forest, Labels, Limits};
use crate::error::{Error, Result};

/// What a model learns from: a dense matrix and the target.
pub enum Target<'a> {
    /// Numbers.
    Values(&'a [f64]),
    /// Class codes and the classes' names (code `k` is `names[k]`).
    Classes(&'a [usize], &'a [String]),
}

/// `class_weight` (classifiers): `balanced` weighs each class by `n / (classes · count)`,
/// as scikit-learn; a map weighs the classes it names (by their labels), others 1;
/// forests also take `balanced_subsample` (balanced within each bootstrap sample, read
/// by the forest). Returns the weight of each class code, or `None` when not given.
fn class_weights(
    params: &BTreeMap<String, ParamValue>,
    codes: &[usize],
    names: &[String],
) -> Result<Option<Vec<f64>>> {
    match params.get("class_weight") {
        None | Some(ParamValue::Null) => Ok(None),
        Some(ParamValue::String(s)) if s == "balanced" => Ok(Some(balanced(codes, names.len()))),
        Some(ParamValue::String(s)) if s == "balanced_subsample" => Err(Error::Usage(
            "`class_weight: balanced_subsample` is for random forests; use `balanced`".into(),
        )),
        Some(ParamValue::Map(m)) => {
            let mut w = vec![1.0; names.len()];
            for (label, v) in m {
                let Some(k) = names.iter().position(|n| n == label) else {
                    return Err(Error::Usage(format!(
                        "`class_weight` names the class `{label}`, which is not in the target; \
                         its classes are: {}",
                        names.join(", ")
                    )));
                };
                w[k] = match v {
                    ParamValue::Int(i) if *i >= 0 => *i as f64,
                    ParamValue::Float(f) if *f >= 0.0 && f.is_finite() => *f,
                    other => {
                        return Err(Error::Usage(format!(
                            "`class_weight` of class `{label}` must be a number of at least 0, \
                             got {}",
                            other
                        )))
                    }
                };
            }
            Ok(Some(w))
        }
        Some(other) => Err(Error::Usage(format!(
            "`class_weight` must be `balanced` or a map from class to weight (`{{{}: 2}}`), \
             got {}",
            names.first().map_or("yes", String::as_str),
            other
        ))),
    }
}

/// scikit-learn's balanced weights: `n / (classes present · count)` per class code.
pub(crate) fn balanced(codes: &[usize], classes: usize) -> Vec<f64> {
    let mut counts = vec![0usize; classes];
    for &c in codes {
        counts[c] += 1;
    }
    let present = counts.iter().filter(|&&c| c > 0).count().max(1);
    counts
        .iter()
        .map(|&c| {
            if c == 0 {
                1.0
            } else {
                codes.len() as f64 / (present * c) as f64
            }
        })
        .collect()
}

/// Each row's weight: its class's.
fn per_row(codes: &[usize], weights: Option<&[f64]>) -> Vec<f64> {
    weights.map_or_else(
        || vec![1.0; codes.len()],
        |w| codes.iter().map(|&c| w[c]).collect(),
    )
}

/// The model file of a direct multi-step model: every step's model, as mlx's JSON.
pub const DIRECT_FILE: &str = "model.direct.json";

/// A fitted model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "family", rename_all = "snake_case", deny_unknown_fields)]
pub enum FittedModel {
    /// Linear and logistic regression (mlx's own solvers).
    Linear(LinearModel),
    /// A decision tree (a forest of one) or a random forest.
    Forest(Forest),
    /// Gradient-boosted regression trees (mlx's own).
    Boosted(Boosted),
    /// k-nearest neighbours.
    Knn(Knn),
    /// A support vector machine.
    Svm(Svm),
    /// An XGBoost booster (its own JSON model; the bundle's model file is that JSON).
    Xgboost {
        /// Number of classes (0 for regression).
        classes: usize,
        /// XGBoost's JSON model.
        json: Vec<u8>,
    },
    /// A statistical forecaster (ARIMA, SARIMAX, exponential smoothing, a baseline)
    /// with its training series.
    Forecast(Box<crate::model::forecast::Forecaster>),
    /// One model per step ahead of a multi-step forecast (`forecast.strategy: direct`).
    Direct(Box<crate::model::forecast::Direct>),
    /// A neural network (MLP, 1-D CNN, LSTM, Transformer) and its weights.
    Neural(Box<crate::model::neural::Network>),
    /// A LightGBM booster (its own text model; the bundle's model file is that text).
    Lightgbm {
        /// Number of classes (0 for regression).
        classes: usize,
        /// LightGBM's text model.
        text: Vec<u8>,
    },
}

/// A fit's result: the model and its history.
pub struct Fit {
    /// The model.
    pub model: FittedModel,
    /// Per iteration (solver step, boosting round): the training loss and, when there is
    /// a validation set, the validation metric (empty for closed-form solutions).
    pub history: Vec<(f64, Option<f64>)>,
}

/// The hyperparameters each model family reads: its fit refuses any other, and `mlx
/// config check` refuses them up front, at the key. `None` for XGBoost and LightGBM,
/// whose parameters go to the library, which checks them when it trains.
/// `classification`: the candidate predicts classes.
pub fn known_params(model: ModelType, classification: bool) -> Option<Vec<&'static str>> {
    use ModelType as M;
    Some(match model {
        M::Linear => vec![],
        M::Ridge => vec!["alpha"],
        M::Lasso => vec!["alpha", "tol", "max_iter"],
        M::ElasticNet => vec!["alpha", "l1_ratio", "tol", "max_iter"],
        M::Logistic => vec!["C", "penalty", "class_weight", "tol", "max_iter"],
        M::DecisionTree | M::RandomForest => {
            let mut known = vec![
                "max_depth",
                "min_samples_split",
                "min_samples_leaf",
                "max_features",
            ];
            if model == M::RandomForest {
                known.extend(["n_estimators", "bootstrap"]);
            }
            if classification {
                known.push("class_weight");
            }
            known
        }
        M::GradientBoosting => vec![
            "n_estimators",
            "learning_rate",
            "max_depth",
            "min_samples_split",
            "min_samples_leaf",
            "max_features",
            "subsample",
        ],
        M::Knn => vec!["n_neighbors", "weights"],
        M::Svm if classification => vec!["kernel", "C", "gamma", "tol", "class_weight"],
        M::Svm => vec!["kernel", "C", "gamma", "epsilon", "tol"],
        M::Arima | M::Sarimax => vec!["order", "seasonal_order", "constant", "exog", "criterion"],
        M::Ets => vec!["trend", "damped", "seasonal", "seasonal_periods"],
        M::SeasonalNaive => vec!["season", "method"],
        M::Mlp | M::Cnn1d | M::Lstm | M::Transformer => crate::model::neural::known_params(model),
        M::Xgboost | M::Lightgbm => return None,
    })
}

/// Reads hyperparameters, refusing unknown ones with the list of known ones.
pub(crate) struct Params<'a> {
    model: ModelType,
    given: &'a BTreeMap<String, ParamValue>,
    known: Vec<&'static str>,
}

impl<'a> Params<'a> {
    /// The parameters of `model`, checked against [`known_params`].
    pub(crate) fn of(
        model: ModelType,
        given: &'a BTreeMap<String, ParamValue>,
        classification: bool,
    ) -> Result<Self> {
        Self::new(
            model,
            given,
            &known_params(model, classification).unwrap_or_default(),
        )
    }

    pub(crate) fn new(
        model: ModelType,
        given: &'a BTreeMap<String, ParamValue>,
        known: &[&'static str],
    ) -> Result<Self> {
        for k in given.keys() {
            if !known.contains(&k.as_str()) {
                let hint = crate::config::did_you_mean(k, known.iter().copied())
                    .map(|s| format!("did you mean `{s}`? "))
                    .unwrap_or_default();
                return Err(Error::Usage(format!(
                    "`{k}` is not a parameter of `{}`; {hint}its parameters are: {}",
                    model.as_str(),
                    known.join(", ")
                )));
            }
        }
        Ok(Self {
            model,
            given,
            known: known.to_vec(),
        })
    }

    pub(crate) fn float(&self, name: &str, default: f64) -> Result<f64> {
        debug_assert!(self.known.contains(&name));
        match self.given.get(name) {
            None => Ok(default),
            Some(ParamValue::Int(i)) => Ok(*i as f64),
            Some(ParamValue::Float(f)) => Ok(*f),
            Some(other) => Err(Error::Usage(format!(
                "`{}` parameter `{name}` must be a number, got {}",
                self.model.as_str(),
                other
            ))),
        }
    }

    pub(crate) fn int(&self, name: &str, default: usize) -> Result<usize> {
        let v = self.float(name, default as f64)?;
        if v >= 1.0 && v.fract() == 0.0 {
            Ok(v as usize)
        } else {
            Err(Error::Usage(format!(
                "`{}` parameter `{name}` must be a whole number of at least 1, got {v}",
                self.model.as_str()
            )))
        }
    }

    /// `null` (no limit) or a whole number.
    pub(crate) fn optional_int(&self, name: &str) -> Result<Option<usize>> {
        match self.given.get(name) {
            None | Some(ParamValue::Null) => Ok(None),
            Some(_) => self.int(name, 1).map(Some),
        }
    }

    pub(crate) fn flag(&self, name: &str, default: bool) -> Result<bool> {
        match self.given.get(name) {
            None => Ok(default),
            Some(ParamValue::Bool(b)) => Ok(*b),
            Some(other) => Err(Error::Usage(format!(
                "`{}` parameter `{name}` must be true or false, got {}",
                self.model.as_str(),
                other
            ))),
        }
    }

    /// `max_features`: `sqrt`, `log2`, a whole number, a fraction, or `null` (all).
    fn max_features(&self, p: usize, default: &str) -> Result<usize> {
        let v = self
            .given
            .get("max_features")
            .cloned()
            .unwrap_or(ParamValue::String(default.into()));
        let n = match &v {
            ParamValue::Null => p,
            ParamValue::String(s) if s == "sqrt" => (p as f64).sqrt().floor() as usize,
            ParamValue::String(s) if s == "log2" => (p as f64).log2().floor() as usize,
            ParamValue::String(s) if s == "all" => p,
            ParamValue::Int(i) if *i >= 1 => (*i as usize).min(p),
            ParamValue::Float(f) if *f > 0.0 && *f <= 1.0 => {
                ((f * p as f64).floor() as usize).max(1)
            }
            other => {
                return Err(Error::Usage(format!(
                "`max_features` must be `sqrt`, `log2`, a whole number, a fraction in (0, 1] or \
                     null, got {}",
                other
            )))
            }
        };
        Ok(n.max(1))
    }

    pub(crate) fn positive(&self, name: &str, default: f64) -> Result<f64> {
        let v = self.float(name, default)?;
        if v > 0.0 && v.is_finite() {
            Ok(v)
        } else {
            Err(Error::Usage(format!(
                "`{}` parameter `{name}` must be above 0, got {v}",
                self.model.as_str()
            )))
        }
    }
}

/// LightGBM's version: the sources `lightgbm3` vendors and compiles.
const LIGHTGBM_VERSION: &str = "4.7.0";

impl FittedModel {
    /// The library that fitted the model and its version, for the bundle manifest.
    pub fn library(&self) -> (String, String) {
        match self {
            FittedModel::Xgboost { json, .. } => {
                // XGBoost writes its version into the model: "version": [3, 2, 0].
                let version = serde_json::from_slice::<serde_json::Value>(json)
                    .ok()
                    .and_then(|v| v.get("version").and_then(|v| v.as_array()).cloned())
                    .map(|parts| {
                        parts
                            .iter()
                            .map(|p| p.to_string())
                            .collect::<Vec<_>>()
                            .join(".")
                    })
                    .unwrap_or_default();
                ("xgboost".into(), version)
            }
            FittedModel::Lightgbm { .. } => ("lightgbm".into(), LIGHTGBM_VERSION.into()),
            FittedModel::Direct(d) => d.steps[0].library(),
            _ => ("mlx".into(), env!("CARGO_PKG_VERSION").into()),
        }
    }
}

/// Fits `model` with `params` on `x` and `y`.
pub fn fit(
    model: ModelType,
    params: &BTreeMap<String, ParamValue>,
    x: &DMatrix<f64>,
    y: Target,
    validation: Option<(&DMatrix<f64>, &Target)>,
    seed: u64,
) -> Result<Fit> {
    let closed = |m: LinearModel| Fit {
        model: FittedModel::Linear(m),
        history: Vec::new(),
    };
    match (model, y) {
        (ModelType::Linear, Target::Values(y)) => {
            Params::of(model, params, false)?;
            Ok(closed(linear::ols(x, y)?))
        }
        (ModelType::Ridge, Target::Values(y)) => {
            let p = Params::of(model, params, false)?;
            let alpha = p.float("alpha", 1.0)?;
            Ok(closed(linear::ridge(x, y, alpha)?))
        }
        (ModelType::Lasso | ModelType::ElasticNet, Target::Values(y)) => {
            let lasso = model == ModelType::Lasso;
            let p = Params::of(model, params, false)?;
            let l1_ratio = if lasso {
                1.0
            } else {
                p.float("l1_ratio", 0.5)?
            };
            if !(0.0..=1.0).contains(&l1_ratio) {
                return Err(Error::Usage(format!(
                    "`l1_ratio` must be between 0 and 1, got {l1_ratio}"
                )));
            }
            let (m, sweeps) = linear::elastic_net(
                x,
                y,
                p.positive("alpha", 1.0)?,
                l1_ratio,
                p.positive("tol", 1e-4)?,
                p.positive("max_iter", 1000.0)? as u32,
            )?;
            tracing::debug!("coordinate descent: {sweeps} sweeps");
            Ok(closed(m))
        }
        (ModelType::Logistic, Target::Classes(y, names)) => {
            let p = Params::of(model, params, true)?;
            let c = p.positive("C", 1.0)?;
            let k = names.len();
            let sw = per_row(y, class_weights(params, y, names)?.as_deref());
            let l2 = || -> Result<_> {
                let tol = p.positive("tol", 1e-4)?;
                linear::logistic(x, y, k, c, &sw, tol, p.int("max_iter", 100)?)
            };
            let (m, history) = match params.get("penalty") {
                None => l2()?,
                Some(ParamValue::String(s)) if s == "l2" => l2()?,
                Some(ParamValue::String(s)) if s == "l1" => {
                    if let Some(key) = ["tol", "max_iter"]
                        .iter()
                        .find(|k| params.contains_key(**k))
                    {
                        return Err(Error::Usage(format!(
                            "`logistic` parameter `{key}` applies to `penalty: l2`; the l1 \
                             solver always runs to its optimum, so remove `{key}`"
                        )));
                    }
                    linear::logistic_l1(x, y, k, c, &sw)?
                }
                Some(other) => {
                    return Err(Error::Usage(format!(
                        "`logistic` parameter `penalty` must be `l2` or `l1`, got {}",
                        other
                    )))
                }
            };
            Ok(Fit {
                model: FittedModel::Linear(m),
                history: history.into_iter().map(|l| (l, None)).collect(),
            })
        }
        (ModelType::DecisionTree | ModelType::RandomForest, y) => {
            fit_tree_family(model, params, x, y, seed)
        }
        (ModelType::GradientBoosting, Target::Values(y)) => {
            fit_gradient_boosting(model, params, x, y, validation, seed)
        }
        (ModelType::GradientBoosting, Target::Classes(..)) => Err(Error::Usage(
            "`gradient_boosting` is mlx's booster for numbers (squared error); for classes \
             use `xgboost`, `lightgbm` or `random_forest`"
                .into(),
        )),
        (ModelType::Knn, y) => fit_knn(model, params, x, y),
        (m, y) if crate::model::neural::is_network(m) => {
            let (net, history) = crate::model::neural::fit(m, params, x, y, validation, seed)?;
            Ok(Fit {
                model: FittedModel::Neural(Box::new(net)),
                history,
            })
        }
        (ModelType::Xgboost | ModelType::Lightgbm, y) => {
            fit_booster(model, params, x, &y, validation, seed)
        }
        (ModelType::Svm, y) => fit_svm(model, params, x, y),
        (
            ModelType::Linear | ModelType::Ridge | ModelType::Lasso | ModelType::ElasticNet,
            Target::Classes(..),
        ) => Err(Error::Usage(format!(
            "`{}` is a regression model, but the target is classes; use `logistic`",
            model.as_str()
        ))),
        (ModelType::Logistic, Target::Values(_)) => Err(Error::Usage(
            "`logistic` is a classifier, but the problem is regression; use `linear` or `ridge`"
                .into(),
        )),
        (other, _) => Err(Error::Usage(format!(
            "`{}` models are not available in this build of mlx-train yet; the available \
             families are linear, ridge, lasso, elastic_net, logistic, decision_tree, \
             random_forest, gradient_boosting, knn, svm, mlp, cnn1d, lstm, transformer and \
             (in builds with them) xgboost and lightgbm",
            other.as_str()
        ))),
    }
}

/// A decision tree or a random forest (scikit-learn's defaults).
fn fit_tree_family(
    model: ModelType,
    params: &BTreeMap<String, ParamValue>,
    x: &DMatrix<f64>,
    y: Target,
    seed: u64,
) -> Result<Fit> {
    let forest = model == ModelType::RandomForest;
    let p = Params::of(model, params, matches!(y, Target::Classes(..)))?;
    let (labels, weights) = match y {
        Target::Values(v) => (Labels::Values(v), tree::Weights::None),
        Target::Classes(c, names) => {
            let subsample = matches!(params.get("class_weight"),
                Some(ParamValue::String(s)) if s == "balanced_subsample");
            let w = match class_weights(params, c, names) {
                _ if forest && subsample => tree::Weights::BalancedSubsample,
                Ok(Some(w)) => tree::Weights::Classes(w),
                Ok(None) => tree::Weights::None,
                Err(e) => return Err(e),
            };
            (Labels::Classes(c, names.len()), w)
        }
    };
    // scikit-learn's defaults: forests of classifiers try sqrt(p) features per
    // split, regression forests and single trees every feature.
    let default_features = match (forest, labels) {
        (true, Labels::Classes(..)) => "sqrt",
        _ => "all",
    };
    let limits = Limits {
        max_depth: p.optional_int("max_depth")?,
        min_samples_split: p.int("min_samples_split", 2)?.max(2),
        min_samples_leaf: p.int("min_samples_leaf", 1)?,
        max_features: p.max_features(x.ncols(), default_features)?,
    };
    let f = if forest {
        tree::fit_forest(
            x,
            labels,
            &weights,
            p.int("n_estimators", 100)?,
            p.flag("bootstrap", true)?,
            limits,
            seed,
        )
    } else {
        let mut w = vec![1.0; x.nrows()];
        tree::weigh(&mut w, labels, &weights);
        Forest {
            trees: vec![tree::fit_tree(x, labels, &w, limits, seed)],
        }
    };
    Ok(Fit {
        model: FittedModel::Forest(f),
        history: Vec::new(),
    })
}

/// mlx's gradient-boosted trees (squared error), early stopping on the validation rows.
fn fit_gradient_boosting(
    model: ModelType,
    params: &BTreeMap<String, ParamValue>,
    x: &DMatrix<f64>,
    y: &[f64],
    validation: Option<(&DMatrix<f64>, &Target)>,
    seed: u64,
) -> Result<Fit> {
    let p = Params::of(model, params, false)?;
    let subsample = p.positive("subsample", 1.0)?;
    if subsample > 1.0 {
        return Err(Error::Usage(format!(
            "`gradient_boosting` parameter `subsample` is a fraction of the rows, at \
             most 1, got {subsample}"
        )));
    }
    let settings = boosting::Settings {
        n_estimators: p.int("n_estimators", 100)?.max(1),
        learning_rate: p.positive("learning_rate", 0.1)?,
        subsample,
        limits: Limits {
            max_depth: Some(p.int("max_depth", 3)?.max(1)),
            min_samples_split: p.int("min_samples_split", 2)?.max(2),
            min_samples_leaf: p.int("min_samples_leaf", 1)?.max(1),
            max_features: p.max_features(x.ncols(), "all")?,
        },
    };
    let val = validation.and_then(|(xv, t)| match t {
        Target::Values(v) => Some((xv, *v)),
        Target::Classes(..) => None,
    });
    let (b, history) = boosting::fit(x, y, settings, val, seed);
    Ok(Fit {
        model: FittedModel::Boosted(b),
        history,
    })
}

/// k nearest neighbours.
fn fit_knn(
    model: ModelType,
    params: &BTreeMap<String, ParamValue>,
    x: &DMatrix<f64>,
    y: Target,
) -> Result<Fit> {
    let p = Params::of(model, params, matches!(y, Target::Classes(..)))?;
    let distance_weighted = match params.get("weights") {
        None => false,
        Some(ParamValue::String(s)) if s == "uniform" => false,
        Some(ParamValue::String(s)) if s == "distance" => true,
        Some(other) => {
            return Err(Error::Usage(format!(
                "`knn` parameter `weights` must be `uniform` or `distance`, got {}",
                other
            )))
        }
    };
    let (targets, classes) = match y {
        Target::Values(v) => (v.to_vec(), 0),
        Target::Classes(c, names) => (c.iter().map(|&i| i as f64).collect(), names.len()),
    };
    Ok(Fit {
        model: FittedModel::Knn(Knn::fit(
            x,
            targets,
            classes,
            p.int("n_neighbors", 5)?,
            distance_weighted,
        )),
        history: Vec::new(),
    })
}

/// A support vector machine (classifier or regressor, RBF or linear kernel).
fn fit_svm(
    model: ModelType,
    params: &BTreeMap<String, ParamValue>,
    x: &DMatrix<f64>,
    y: Target,
) -> Result<Fit> {
    let regression = matches!(y, Target::Values(_));
    let p = Params::of(model, params, !regression)?;
    let gamma = match params.get("gamma") {
        None => svm::scale_gamma(x),
        Some(ParamValue::String(s)) if s == "scale" => svm::scale_gamma(x),
        Some(_) => p.positive("gamma", 1.0)?,
    };
    let kernel = match params.get("kernel") {
        None => Kernel::Rbf { gamma },
        Some(ParamValue::String(s)) if s == "rbf" => Kernel::Rbf { gamma },
        Some(ParamValue::String(s)) if s == "linear" => Kernel::Linear,
        Some(other) => {
            return Err(Error::Usage(format!(
                "`svm` parameter `kernel` must be `rbf` or `linear`, got {}",
                other
            )))
        }
    };
    let (c, tol) = (p.positive("C", 1.0)?, p.positive("tol", 1e-3)?);
    let m = match y {
        Target::Values(v) => {
            let eps = p.float("epsilon", 0.1)?;
            if eps < 0.0 {
                return Err(Error::Usage(format!(
                    "`epsilon` must be at least 0, got {eps}"
                )));
            }
            Svm::regressor(x, v, kernel, c, eps, tol)
        }
        Target::Classes(codes, names) => {
            let w = class_weights(params, codes, names)?;
            let w = w.unwrap_or_else(|| vec![1.0; names.len()]);
            Svm::classifier(x, codes, names.len(), kernel, c, &w, tol)
        }
    };
    Ok(Fit {
        model: FittedModel::Svm(m),
        history: Vec::new(),
    })
}

/// A booster's training rows: the features, labels (class codes as numbers) and, with
/// class weights, each row's weight.
#[derive(Clone, Copy)]
pub struct Rows<'a> {
    /// Features.
    pub x: &'a DMatrix<f64>,
    /// Labels.
    pub y: &'a [f32],
    /// Row weights.
    pub weights: Option<&'a [f32]>,
}

fn labels(y: &Target) -> (Vec<f32>, usize) {
    match y {
        Target::Values(v) => (v.iter().map(|x| *x as f32).collect(), 0),
        Target::Classes(c, names) => (c.iter().map(|x| *x as f32).collect(), names.len()),
    }
}

/// XGBoost or LightGBM, through their libraries when this build has them. Class weights
/// become the training rows' weights; every other parameter goes to the library.
fn fit_booster(
    model: ModelType,
    params: &BTreeMap<String, ParamValue>,
    x: &DMatrix<f64>,
    y: &Target,
    validation: Option<(&DMatrix<f64>, &Target)>,
    seed: u64,
) -> Result<Fit> {
    let (yl, classes) = labels(y);
    let weights = match y {
        Target::Classes(codes, names) => class_weights(params, codes, names)?
            .map(|w| codes.iter().map(|&c| w[c] as f32).collect::<Vec<_>>()),
        Target::Values(_) if params.contains_key("class_weight") => {
            return Err(Error::Usage(
                "`class_weight` is for classifiers; the problem is regression".into(),
            ))
        }
        Target::Values(_) => None,
    };
    let mut params = params.clone();
    params.remove("class_weight");
    let val = validation.map(|(vx, vy)| (vx, labels(vy).0));
    let val = val.as_ref().map(|(vx, vy)| (*vx, vy.as_slice()));
    let train = Rows {
        x,
        y: &yl,
        weights: weights.as_deref(),
    };
    match model {
        #[cfg(feature = "xgboost")]
        ModelType::Xgboost => {
            let fitted = self::xgboost::fit(&params, train, classes, val, seed)?;
            Ok(Fit {
                model: FittedModel::Xgboost {
                    classes,
                    json: fitted.json,
                },
                history: fitted.history,
            })
        }
        #[cfg(feature = "lightgbm")]
        ModelType::Lightgbm => {
            let fitted = self::lightgbm::fit(&params, train, classes, val, seed)?;
            Ok(Fit {
                model: FittedModel::Lightgbm {
                    classes,
                    text: fitted.text,
                },
                history: fitted.history,
            })
        }
        other => {
            let _ = (params, train, seed, classes, val);
            Err(missing_backend(other))
        }
    }
}

/// The error for a model family this build was compiled without.
fn missing_backend(model: ModelType) -> Error {
    Error::Usage(
        crate::config::missing_backend(model)
            .unwrap_or_else(|| format!("this build of mlx cannot run {}", model.as_str())),
    )
}

impl FittedModel {
    /// Values (`n × 1`) or class probabilities (`n × classes`).
    pub fn predict(&self, x: &DMatrix<f64>) -> Result<DMatrix<f64>> {
        Ok(match self {
            FittedModel::Linear(m) => m.predict(x),
            FittedModel::Forest(f) => f.predict(x),
            FittedModel::Boosted(b) => b.predict(x),
            FittedModel::Knn(k) => k.predict(x),
            FittedModel::Svm(m) => m.predict(x),
            FittedModel::Forecast(f) => f.predict(x)?,
            FittedModel::Direct(d) => d.steps[0].predict(x)?,
            FittedModel::Neural(n) => n.predict(x)?,
            #[cfg(feature = "xgboost")]
            FittedModel::Xgboost { classes, json } => self::xgboost::predict(json, *classes, x)?,
            #[cfg(not(feature = "xgboost"))]
            FittedModel::Xgboost { .. } => return Err(missing_backend(ModelType::Xgboost)),
            #[cfg(feature = "lightgbm")]
            FittedModel::Lightgbm { classes, text } => self::lightgbm::predict(text, *classes, x)?,
            #[cfg(not(feature = "lightgbm"))]
            FittedModel::Lightgbm { .. } => return Err(missing_backend(ModelType::Lightgbm)),
        })
    }

    /// The model file's name inside the bundle.
    pub fn file_name(&self) -> &'static str {
        match self {
            FittedModel::Direct(_) => DIRECT_FILE,
            FittedModel::Xgboost { .. } => "model.xgb.json",
            FittedModel::Lightgbm { .. } => "model.lgb.txt",
            _ => "model.json",
        }
    }

    /// The model file's bytes: the library's own format.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        match self {
            FittedModel::Xgboost { json, .. } => return Ok(json.clone()),
            FittedModel::Lightgbm { text, .. } => return Ok(text.clone()),
            _ => {}
        }
        Ok(crate::json::pretty(self)?.into_bytes())
    }

    /// Reads a model file of a family (`classes`: 0 for regression).
    pub fn from_bytes(model: ModelType, classes: usize, bytes: &[u8]) -> Result<Self> {
        match model {
            ModelType::Xgboost => {
                return Ok(FittedModel::Xgboost {
                    classes,
                    json: bytes.to_vec(),
                })
            }
            ModelType::Lightgbm => {
                return Ok(FittedModel::Lightgbm {
                    classes,
                    text: bytes.to_vec(),
                })
            }
            _ => {}
        }
        serde_json::from_slice(bytes)
            .map_err(|e| Error::Runtime(format!("the model file is corrupt: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, ParamValue)]) -> BTreeMap<String, ParamValue> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    /// Three rows of class `a`, one of `b`, and nothing to split on: the leaf's
    /// probabilities are the (weighted) class shares.
    fn leaf_probabilities(class_weight: Option<ParamValue>) -> Result<Vec<f64>> {
        let x = DMatrix::from_element(4, 1, 1.0);
        let names = vec!["a".to_string(), "b".to_string()];
        let mut p = params(&[]);
        if let Some(w) = class_weight {
            p.insert("class_weight".into(), w);
        }
        let fit = fit(
            ModelType::DecisionTree,
            &p,
            &x,
            Target::Classes(&[0, 0, 0, 1], &names),
            None,
            0,
        )?;
        Ok(fit.model.predict(&x)?.row(0).iter().copied().collect())
    }

    #[test]
    fn class_weights_reweigh_the_classes() {
        assert_eq!(leaf_probabilities(None).unwrap(), [0.75, 0.25]);
        // Balanced: a weighs 4 / (2 · 3), b 4 / (2 · 1); 3 · 2/3 = 1 · 2.
        let balanced = leaf_probabilities(Some(ParamValue::String("balanced".into()))).unwrap();
        assert!((balanced[0] - 0.5).abs() < 1e-12, "{balanced:?}");
        // A map by class label: b weighs 3, a (not named) 1.
        let map = ParamValue::Map([("b".to_string(), ParamValue::Int(3))].into());
        assert_eq!(leaf_probabilities(Some(map)).unwrap(), [0.5, 0.5]);
    }

    /// `tol` and `max_iter` steer the L2 solver; each mistake is named.
    #[test]
    fn logistic_tolerance_mistakes_are_named() {
        let x = DMatrix::from_row_slice(4, 1, &[0.0, 1.0, 2.0, 3.0]);
        let names = vec!["a".to_string(), "b".to_string()];
        let logistic = |pairs: &[(&str, ParamValue)]| {
            fit(
                ModelType::Logistic,
                &params(pairs),
                &x,
                Target::Classes(&[0, 1, 0, 1], &names),
                None,
                0,
            )
            .map(|_| ())
            .map_err(|e| e.to_string())
        };
        let l1 = ("penalty", ParamValue::String("l1".into()));
        let e = logistic(&[l1.clone(), ("tol", ParamValue::Float(1e-6))]).unwrap_err();
        assert!(e.contains("`tol` applies to `penalty: l2`"), "{e}");
        let e = logistic(&[l1, ("max_iter", ParamValue::Int(5))]).unwrap_err();
        assert!(e.contains("`max_iter` applies to `penalty: l2`"), "{e}");
        let e = logistic(&[("tol", ParamValue::Float(0.0))]).unwrap_err();
        assert!(e.contains("`tol` must be above 0"), "{e}");
        let e = logistic(&[("max_iter", ParamValue::Float(2.5))]).unwrap_err();
        assert!(e.contains("max_iter"), "{e}");
        logistic(&[
            ("tol", ParamValue::Float(1e-8)),
            ("max_iter", ParamValue::Int(3)),
        ])
        .unwrap();
    }

    #[test]
    fn class_weight_mistakes_are_named() {
        let unknown = ParamValue::Map([("c".to_string(), ParamValue::Int(3))].into());
        let e = leaf_probabilities(Some(unknown)).unwrap_err().to_string();
        assert!(e.contains("`c`") && e.contains("a, b"), "{e}");
        let negative = ParamValue::Map([("a".to_string(), ParamValue::Int(-1))].into());
        let e = leaf_probabilities(Some(negative)).unwrap_err().to_string();
        assert!(e.contains("at least 0"), "{e}");
        let e = leaf_probabilities(Some(ParamValue::String("balanced_subsample".into())))
            .unwrap_err()
            .to_string();
        assert!(e.contains("random forests"), "{e}");
        // k-NN has no class weights (nor has scikit-learn's).
        let e = fit(
            ModelType::Knn,
            &params(&[("class_weight", ParamValue::String("balanced".into()))]),
            &DMatrix::from_element(2, 1, 1.0),
            Target::Classes(&[0, 1], &["a".into(), "b".into()]),
            None,
            0,
        )
        .err()
        .unwrap()
        .to_string();
        assert!(e.contains("not a parameter of `knn`"), "{e}");
    }
}
