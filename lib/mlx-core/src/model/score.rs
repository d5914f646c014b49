//! Every metric of a set of predictions, by mlx's metric names, from the definitions
//! in `mlx_stats::metrics` (which agree with scikit-learn and sktime).

use std::collections::BTreeMap;

use mlx_contracts::config::Metric;
use mlx_contracts::eval::{ConfusionMatrix, Scores};
use mlx_stats::metrics::{self, Average, Confusion, Errors};
use nalgebra::DMatrix;
use rayon::prelude::*;

use crate::error::Result;
use crate::model::{FittedModel, Target};

/// A classifier's predictions: the truth as class codes, the `n × k` probabilities
/// (row-major), and the class names. Codes at or beyond the model's `proba` width are
/// classes the model never saw (they score as errors, as scikit-learn counts them).
pub struct Classified<'a> {
    /// True class codes.
    pub truth: &'a [usize],
    /// Probabilities, `n × classes.len()` row-major (unseen classes get 0).
    pub proba: &'a [f64],
    /// Class names, code order.
    pub classes: &'a [String],
    /// Binary: the probability of class 1 at or above which class 1 is predicted;
    /// `None`: the most probable class (the first on ties).
    pub threshold: Option<f64>,
}

impl Classified<'_> {
    /// The predicted class of each row.
    pub fn predicted(&self) -> Vec<usize> {
        let k = self.classes.len();
        (0..self.truth.len())
            .map(|i| {
                let row = &self.proba[i * k..(i + 1) * k];
                match self.threshold {
                    Some(t) if k == 2 => usize::from(row[1] >= t),
                    _ => (0..k).fold(0, |best, c| if row[c] > row[best] { c } else { best }),
                }
            })
            .collect()
    }
}

/// The value of a threshold-dependent metric from a confusion matrix (`None` for the
/// others).
pub fn from_confusion(metric: Metric, c: &Confusion) -> Option<f64> {
    let binary = c.k == 2;
    let prf = |avg| c.scores(avg);
    let default = if binary {
        Average::Binary(1)
    } else {
        Average::Macro
    };
    Some(match metric {
        Metric::Accuracy => c.accuracy(),
        Metric::BalancedAccuracy => c.balanced_accuracy(),
        Metric::Mcc => c.matthews(),
        Metric::Precision => prf(default).precision,
        Metric::Recall => prf(default).recall,
        Metric::F1Score => prf(default).f1,
        Metric::PrecisionMacro => prf(Average::Macro).precision,
        Metric::PrecisionMicro => prf(Average::Micro).precision,
        Metric::PrecisionWeighted => prf(Average::Weighted).precision,
        Metric::RecallMacro => prf(Average::Macro).recall,
        Metric::RecallMicro => prf(Average::Micro).recall,
        Metric::RecallWeighted => prf(Average::Weighted).recall,
        Metric::F1Macro => prf(Average::Macro).f1,
        Metric::F1Micro => prf(Average::Micro).f1,
        Metric::F1Weighted => prf(Average::Weighted).f1,
        _ => return None,
    })
}

/// Every classification metric. `precision`, `recall` and `f1_score` are the second
/// class's for two classes and macro averages for more; `roc_auc` is one-vs-rest macro
/// for more than two classes, as `roc_auc_ovr`.
pub fn classification(p: &Classified) -> Scores {
    let mut s = from_labels(p.truth, &p.predicted(), p.classes);
    add_probability_metrics(&mut s, p.truth, p.proba, p.classes.len());
    s
}

/// Adds the metrics of the probabilities (`n × k`, row-major) to scores of labels:
/// log loss, Brier, ROC-AUC (one-vs-rest for several classes), average precision.
pub fn add_probability_metrics(s: &mut Scores, truth: &[usize], proba: &[f64], k: usize) {
    s.undefined.clear();
    let (m, undefined) = (&mut s.metrics, &mut s.undefined);
    m.insert("log_loss".into(), metrics::log_loss(truth, proba, k));
    m.insert("brier".into(), metrics::brier(truth, proba, k));
    let one_class = "the truth has one class only on these rows".to_string();
    if k == 2 {
        let positive: Vec<bool> = truth.iter().map(|&t| t == 1).collect();
        let score: Vec<f64> = (0..truth.len()).map(|i| proba[i * 2 + 1]).collect();
        // One sort serves both curves.
        let (_, tps, fps) = metrics::binary_curve(&positive, &score);
        match metrics::roc_auc_of_curve(&tps, &fps) {
            Some(v) => {
                m.insert("roc_auc".into(), v);
            }
            None => {
                undefined.insert("roc_auc".into(), one_class);
            }
        }
        let ap = metrics::average_precision_of_curve(&tps, &fps);
        m.insert("average_precision".into(), ap);
        m.insert("pr_auc".into(), ap);
    } else {
        let missing = "some class has no rows in the truth (one-vs-rest needs every class)";
        for (name, weighted) in [("roc_auc_ovr", false), ("roc_auc_ovr_weighted", true)] {
            match metrics::roc_auc_ovr(truth, proba, k, weighted) {
                Some(v) => {
                    m.insert(name.into(), v);
                }
                None => {
                    undefined.insert(name.into(), missing.into());
                }
            }
        }
        if let Some(v) = m.get("roc_auc_ovr").copied() {
            m.insert("roc_auc".into(), v);
        } else {
            undefined.insert("roc_auc".into(), missing.into());
        }
        match metrics::average_precision_ovr(truth, proba, k) {
            Some(v) => {
                m.insert("average_precision".into(), v);
                m.insert("pr_auc".into(), v);
            }
            None => {
                for name in ["average_precision", "pr_auc"] {
                    undefined.insert(name.into(), missing.into());
                }
            }
        }
    }
}

/// The metrics of predicted labels alone (those that need probabilities are listed as
/// undefined). `classes` names every code in `truth` and `pred`.
pub fn from_labels(truth: &[usize], pred: &[usize], classes: &[String]) -> Scores {
    let k = classes.len();
    let c = Confusion::new(truth, pred, k);
    let metrics = Metric::ALL
        .iter()
        .filter_map(|m| from_confusion(*m, &c).map(|v| (m.as_str().to_string(), v)))
        .collect();
    let undefined = [
        "roc_auc",
        "average_precision",
        "pr_auc",
        "log_loss",
        "brier",
    ]
    .iter()
    .map(|m| (m.to_string(), "no probabilities (--y-score)".to_string()))
    .collect();
    Scores {
        rows: truth.len() as u64,
        metrics,
        undefined,
        confusion_matrix: Some(ConfusionMatrix {
            classes: classes.to_vec(),
            counts: c.counts.chunks(k.max(1)).map(<[u64]>::to_vec).collect(),
        }),
    }
}

/// Every metric of a fitted model on the rows `x` with the truth `y`. Class codes
/// `usize::MAX` are classes the model never saw: they count as one more class it gives
/// probability 0.
pub fn of_model(
    model: &FittedModel,
    x: &DMatrix<f64>,
    y: &Target,
    threshold: Option<f64>,
) -> Result<Scores> {
    let out = model.predict(x)?;
    Ok(match y {
        Target::Values(v) => {
            let pred: Vec<f64> = out.column(0).iter().copied().collect();
            regression(v, &pred, None)
        }
        Target::Classes(codes, names) => {
            let mut classes = names.to_vec();
            let unseen = classes.len();
            if codes.contains(&usize::MAX) {
                classes.push("(unseen in training)".into());
            }
            let k = classes.len();
            let truth: Vec<usize> = codes
                .iter()
                .map(|&c| if c == usize::MAX { unseen } else { c })
                .collect();
            let proba: Vec<f64> = (0..truth.len())
                .flat_map(|i| {
                    let out = &out;
                    (0..k).map(move |c| if c < out.ncols() { out[(i, c)] } else { 0.0 })
                })
                .collect();
            classification(&Classified {
                truth: &truth,
                proba: &proba,
                classes: &classes,
                threshold,
            })
        }
    })
}

/// Every regression metric; with the training series and a season length, MASE too.
pub fn regression(truth: &[f64], pred: &[f64], history: Option<(&[f64], usize)>) -> Scores {
    let e = Errors {
        y_true: truth,
        y_pred: pred,
    };
    type Of<'a> = fn(&Errors<'a>) -> f64;
    let each: [(&str, Of); 11] = [
        ("mse", Errors::mse),
        ("rmse", Errors::rmse),
        ("mae", Errors::mae),
        ("median_ae", Errors::median_ae),
        ("mape", Errors::mape),
        ("smape", Errors::smape),
        ("wape", Errors::wape),
        ("bias", Errors::bias),
        ("r2", Errors::r2),
        ("huber", |e| e.huber(1.0)),
        ("log_cosh", Errors::log_cosh),
    ];
    // The metrics are independent passes over the rows: on every core.
    let mut m: BTreeMap<String, f64> = each
        .par_iter()
        .map(|(k, f)| (k.to_string(), f(&e)))
        .collect();
    let mut undefined = BTreeMap::new();
    if let Some((train, sp)) = history {
        match e.mase(train, sp) {
            Some(v) => {
                m.insert("mase".into(), v);
            }
            None => {
                undefined.insert(
                    "mase".into(),
                    format!("the training series is not longer than the season ({sp})"),
                );
            }
        }
    }
    // Infinite or undefined values (WAPE with all-zero actuals) are reported as undefined.
    let bad: Vec<String> = m
        .iter()
        .filter(|(_, v)| !v.is_finite())
        .map(|(k, _)| k.clone())
        .collect();
    for k in bad {
        m.remove(&k);
        undefined.insert(k, "not finite on these rows (every actual is 0?)".into());
    }
    Scores {
        rows: truth.len() as u64,
        metrics: m,
        undefined,
        confusion_matrix: None,
    }
}

/// The best decision threshold of a binary classifier for `metric` on validation rows:
/// every distinct probability of class 1 is tried (highest first, the first best
/// kept). `None` when the metric does not depend on the threshold or there are no rows.
pub fn tune_threshold(metric: Metric, truth: &[usize], p1: &[f64]) -> Option<f64> {
    if !metric.uses_threshold() || truth.is_empty() {
        return None;
    }
    let positive: Vec<bool> = truth.iter().map(|&t| t == 1).collect();
    let (thresholds, tps, fps) = metrics::binary_curve(&positive, p1);
    let (p, n) = (
        positive.iter().filter(|&&b| b).count() as u64,
        positive.iter().filter(|&&b| !b).count() as u64,
    );
    let sign = match metric.direction() {
        mlx_contracts::config::Direction::Maximize => 1.0,
        mlx_contracts::config::Direction::Minimize => -1.0,
    };
    let mut best: Option<(f64, f64)> = None;
    for ((&t, &tp), &fp) in thresholds.iter().zip(&tps).zip(&fps) {
        let (tp, fp) = (tp as u64, fp as u64);
        // Rows at or above t are predicted positive.
        let c = Confusion {
            k: 2,
            counts: vec![n - fp, fp, p - tp, tp],
        };
        let v = sign * from_confusion(metric, &c)?;
        if best.is_none_or(|(_, b)| v > b) {
            best = Some((t, v));
        }
    }
    best.map(|(t, _)| t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(k: usize) -> Vec<String> {
        (0..k).map(|c| c.to_string()).collect()
    }

    #[test]
    fn a_threshold_decides_binary_predictions() {
        let classes = names(2);
        let proba = [0.9, 0.1, 0.6, 0.4, 0.2, 0.8];
        let p = Classified {
            truth: &[0, 1, 1],
            proba: &proba,
            classes: &classes,
            threshold: None,
        };
        assert_eq!(p.predicted(), [0, 0, 1]);
        let p = Classified {
            threshold: Some(0.3),
            ..p
        };
        assert_eq!(p.predicted(), [0, 1, 1]);
        assert_eq!(classification(&p).metrics["accuracy"], 1.0);
    }

    #[test]
    fn the_tuned_threshold_maximises_the_metric() {
        // Positives score 0.3 and 0.35, negatives 0.1 and 0.2: any threshold in
        // (0.2, 0.3] separates them; the highest such distinct score is 0.3.
        let t = tune_threshold(Metric::F1Score, &[1, 0, 1, 0], &[0.3, 0.2, 0.35, 0.1]);
        assert_eq!(t, Some(0.3));
        assert_eq!(tune_threshold(Metric::LogLoss, &[1, 0], &[0.3, 0.2]), None);
    }

    #[test]
    fn an_undefined_auc_says_why() {
        let classes = names(2);
        let s = classification(&Classified {
            truth: &[1, 1],
            proba: &[0.2, 0.8, 0.6, 0.4],
            classes: &classes,
            threshold: None,
        });
        assert!(s.undefined["roc_auc"].contains("one class"));
        assert_eq!(s.metrics["accuracy"], 0.5);
        assert_eq!(
            s.confusion_matrix.unwrap().counts,
            vec![vec![0, 0], vec![1, 1]]
        );
    }
}
