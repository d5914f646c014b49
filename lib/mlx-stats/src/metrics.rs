//! Evaluation metrics, defined as scikit-learn (classification, regression) and sktime
//! (sMAPE, MASE) define them, including their zero and tie handling; checked against
//! fixtures recorded from those libraries (`tests/oracles/metrics.py`).
//!
//! Classes are codes `0..k`; class probabilities are row-major `n × k`. Sums follow
//! numpy's pairwise order ([`np_sum`]) so means agree to the last bits.

use crate::sum::np_sum;

/// `f64` machine epsilon, numpy's `finfo(float64).eps`: the floor of denominators
/// (MAPE, sMAPE, MASE) and the clip of probabilities (log loss).
pub const EPS: f64 = f64::EPSILON;

fn mean(v: &[f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    np_sum(v) / v.len() as f64
}

/// numpy's median (the mean of the middle two for an even count), by selection in
/// linear time, as numpy partitions.
pub fn median(v: &mut [f64]) -> f64 {
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    let (below, mid, _) = v.select_nth_unstable_by(n / 2, f64::total_cmp);
    let upper = *mid;
    if n % 2 == 1 {
        upper
    } else {
        // The largest of the lower half.
        let lower = below.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        (lower + upper) / 2.0
    }
}

/// A confusion matrix: `counts[t * k + p]` rows with true class `t` predicted `p`.
#[derive(Debug, Clone, PartialEq)]
pub struct Confusion {
    /// Number of classes.
    pub k: usize,
    /// Row-major `k × k` counts (rows: true class, columns: predicted).
    pub counts: Vec<u64>,
}

/// How per-class precision, recall and F1 are combined (scikit-learn's `average`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Average {
    /// The scores of one (the positive) class.
    Binary(usize),
    /// Unweighted mean over the classes seen in the truth or the predictions.
    Macro,
    /// From the total true positives, false positives and false negatives.
    Micro,
    /// Mean weighted by each class's true count (support).
    Weighted,
}

/// Precision, recall and F1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prf {
    /// Precision.
    pub precision: f64,
    /// Recall.
    pub recall: f64,
    /// F1.
    pub f1: f64,
}

/// `a / b`, or 0 when `b` is 0 (scikit-learn's `zero_division` default).
fn ratio(a: f64, b: f64) -> f64 {
    if b == 0.0 {
        0.0
    } else {
        a / b
    }
}

impl Confusion {
    /// Counts the pairs (true, predicted) of class codes below `k`.
    pub fn new(y_true: &[usize], y_pred: &[usize], k: usize) -> Self {
        let mut counts = vec![0u64; k * k];
        for (&t, &p) in y_true.iter().zip(y_pred) {
            counts[t * k + p] += 1;
        }
        Self { k, counts }
    }

    fn at(&self, t: usize, p: usize) -> f64 {
        self.counts[t * self.k + p] as f64
    }

    /// Rows with true class `c` (support).
    pub fn true_count(&self, c: usize) -> f64 {
        (0..self.k).map(|p| self.at(c, p)).sum()
    }

    /// Rows predicted as class `c`.
    pub fn predicted_count(&self, c: usize) -> f64 {
        (0..self.k).map(|t| self.at(t, c)).sum()
    }

    /// All rows.
    pub fn total(&self) -> f64 {
        self.counts.iter().map(|&c| c as f64).sum()
    }

    /// The classes seen in the truth or the predictions (scikit-learn's labels).
    fn seen(&self) -> Vec<usize> {
        (0..self.k)
            .filter(|&c| self.true_count(c) + self.predicted_count(c) > 0.0)
            .collect()
    }

    /// The share of rows predicted right.
    pub fn accuracy(&self) -> f64 {
        ratio((0..self.k).map(|c| self.at(c, c)).sum(), self.total())
    }

    /// The mean recall over the classes present in the truth.
    pub fn balanced_accuracy(&self) -> f64 {
        let recalls: Vec<f64> = (0..self.k)
            .filter(|&c| self.true_count(c) > 0.0)
            .map(|c| self.at(c, c) / self.true_count(c))
            .collect();
        mean(&recalls)
    }

    /// One class's precision, recall and F1 (each 0 where its denominator is 0).
    pub fn class_scores(&self, c: usize) -> Prf {
        let tp = self.at(c, c);
        let (pred, truth) = (self.predicted_count(c), self.true_count(c));
        Prf {
            precision: ratio(tp, pred),
            recall: ratio(tp, truth),
            f1: ratio(2.0 * tp, pred + truth),
        }
    }

    /// Precision, recall and F1 combined as `average` says.
    pub fn scores(&self, average: Average) -> Prf {
        match average {
            Average::Binary(c) => self.class_scores(c),
            Average::Micro => {
                let labels = self.seen();
                let tp: f64 = labels.iter().map(|&c| self.at(c, c)).sum();
                let pred: f64 = labels.iter().map(|&c| self.predicted_count(c)).sum();
                let truth: f64 = labels.iter().map(|&c| self.true_count(c)).sum();
                Prf {
                    precision: ratio(tp, pred),
                    recall: ratio(tp, truth),
                    f1: ratio(2.0 * tp, pred + truth),
                }
            }
            Average::Macro | Average::Weighted => {
                let labels = self.seen();
                let weights: Vec<f64> = labels
                    .iter()
                    .map(|&c| {
                        if average == Average::Macro {
                            1.0
                        } else {
                            self.true_count(c)
                        }
                    })
                    .collect();
                let total: f64 = weights.iter().sum();
                let per: Vec<Prf> = labels.iter().map(|&c| self.class_scores(c)).collect();
                let avg = |f: fn(&Prf) -> f64| {
                    ratio(per.iter().zip(&weights).map(|(s, w)| f(s) * w).sum(), total)
                };
                Prf {
                    precision: avg(|s| s.precision),
                    recall: avg(|s| s.recall),
                    f1: avg(|s| s.f1),
                }
            }
        }
    }

    /// Matthews correlation coefficient (multiclass by Gorodkin's R_K, as
    /// scikit-learn): 0 when either marginal is constant.
    pub fn matthews(&self) -> f64 {
        let n = self.total();
        let t: Vec<f64> = (0..self.k).map(|c| self.true_count(c)).collect();
        let p: Vec<f64> = (0..self.k).map(|c| self.predicted_count(c)).collect();
        let correct: f64 = (0..self.k).map(|c| self.at(c, c)).sum();
        let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
        let cov_tp = correct * n - dot(&t, &p);
        let cov_pp = n * n - dot(&p, &p);
        let cov_tt = n * n - dot(&t, &t);
        if cov_pp * cov_tt == 0.0 {
            0.0
        } else {
            cov_tp / (cov_tt * cov_pp).sqrt()
        }
    }
}

/// Rows sorted by score, highest first, grouped by equal score: per distinct
/// threshold, the cumulative true and false positives (scikit-learn's
/// `_binary_clf_curve`). Returns `(thresholds, tps, fps)`.
pub fn binary_curve(y: &[bool], score: &[f64]) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    use rayon::slice::ParallelSliceMut;
    let mut order: Vec<usize> = (0..y.len()).collect();
    order.par_sort_unstable_by(|&a, &b| score[b].total_cmp(&score[a]));
    let (mut thresholds, mut tps, mut fps) = (Vec::new(), Vec::new(), Vec::new());
    let (mut tp, mut fp) = (0.0, 0.0);
    for (i, &r) in order.iter().enumerate() {
        if y[r] {
            tp += 1.0;
        } else {
            fp += 1.0;
        }
        let last = i + 1 == order.len() || score[order[i + 1]] != score[r];
        if last {
            thresholds.push(score[r]);
            tps.push(tp);
            fps.push(fp);
        }
    }
    (thresholds, tps, fps)
}

/// The ROC curve: false and true positive rates per distinct threshold, starting at
/// (0, 0); `None` when the truth has one class only.
pub fn roc_curve(y: &[bool], score: &[f64]) -> Option<(Vec<f64>, Vec<f64>, Vec<f64>)> {
    let (thresholds, tps, fps) = binary_curve(y, score);
    let (p, n) = (*tps.last()?, *fps.last()?);
    if p == 0.0 || n == 0.0 {
        return None;
    }
    let mut fpr = vec![0.0];
    let mut tpr = vec![0.0];
    let mut th = vec![f64::INFINITY];
    fpr.extend(fps.iter().map(|f| f / n));
    tpr.extend(tps.iter().map(|t| t / p));
    th.extend(thresholds);
    Some((fpr, tpr, th))
}

/// Area under the ROC curve (ties count half, as the trapezoid over distinct
/// thresholds gives); `None` when the truth has one class only.
pub fn roc_auc(y: &[bool], score: &[f64]) -> Option<f64> {
    let (_, tps, fps) = binary_curve(y, score);
    roc_auc_of_curve(&tps, &fps)
}

/// [`roc_auc`] of a curve [`binary_curve`] already computed.
pub fn roc_auc_of_curve(tps: &[f64], fps: &[f64]) -> Option<f64> {
    let (p, n) = (*tps.last()?, *fps.last()?);
    if p == 0.0 || n == 0.0 {
        return None;
    }
    let (mut area, mut tp0, mut fp0) = (0.0, 0.0, 0.0);
    for (&tp, &fp) in tps.iter().zip(fps) {
        area += (fp - fp0) * (tp + tp0) / 2.0;
        tp0 = tp;
        fp0 = fp;
    }
    Some(area / (p * n))
}

/// Average precision: `Σ (Rₙ - Rₙ₋₁) Pₙ` over distinct thresholds, without
/// interpolation (scikit-learn's `average_precision_score`); 0 without positives.
pub fn average_precision(y: &[bool], score: &[f64]) -> f64 {
    let (_, tps, fps) = binary_curve(y, score);
    average_precision_of_curve(&tps, &fps)
}

/// [`average_precision`] of a curve [`binary_curve`] already computed.
pub fn average_precision_of_curve(tps: &[f64], fps: &[f64]) -> f64 {
    let Some(&p) = tps.last() else { return 0.0 };
    if p == 0.0 {
        return 0.0;
    }
    let mut ap = 0.0;
    let mut r0 = 0.0;
    for (&tp, &fp) in tps.iter().zip(fps) {
        let r = tp / p;
        ap += (r - r0) * (tp / (tp + fp));
        r0 = r;
    }
    ap
}

/// The precision-recall curve per distinct threshold, highest threshold first:
/// `(precision, recall, thresholds)`.
pub fn pr_curve(y: &[bool], score: &[f64]) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let (th, tps, fps) = binary_curve(y, score);
    let p = tps.last().copied().unwrap_or(0.0);
    let precision = tps
        .iter()
        .zip(&fps)
        .map(|(t, f)| ratio(*t, t + f))
        .collect();
    let recall = tps.iter().map(|t| ratio(*t, p)).collect();
    (precision, recall, th)
}

/// One-vs-rest scores of a binary score function over every class of an `n × k`
/// probability matrix, averaged unweighted (`weighted = false`) or by prevalence;
/// `None` when some class is missing from the truth (as scikit-learn refuses).
fn one_vs_rest(
    y: &[usize],
    proba: &[f64],
    k: usize,
    weighted: bool,
    f: impl Fn(&[bool], &[f64]) -> Option<f64>,
) -> Option<f64> {
    let (mut sum, mut weights) = (0.0, 0.0);
    for c in 0..k {
        let yc: Vec<bool> = y.iter().map(|&t| t == c).collect();
        let support = yc.iter().filter(|&&b| b).count() as f64;
        if support == 0.0 {
            return None;
        }
        let sc: Vec<f64> = (0..y.len()).map(|i| proba[i * k + c]).collect();
        let w = if weighted { support } else { 1.0 };
        sum += f(&yc, &sc)? * w;
        weights += w;
    }
    Some(sum / weights)
}

/// ROC-AUC one-vs-rest over `k` classes, macro or prevalence-weighted.
pub fn roc_auc_ovr(y: &[usize], proba: &[f64], k: usize, weighted: bool) -> Option<f64> {
    one_vs_rest(y, proba, k, weighted, roc_auc)
}

/// Average precision one-vs-rest over `k` classes, macro.
pub fn average_precision_ovr(y: &[usize], proba: &[f64], k: usize) -> Option<f64> {
    one_vs_rest(y, proba, k, false, |a, b| Some(average_precision(a, b)))
}

/// Cross-entropy with probabilities clipped to `[eps, 1 - eps]`.
pub fn log_loss(y: &[usize], proba: &[f64], k: usize) -> f64 {
    let terms: Vec<f64> = y
        .iter()
        .enumerate()
        .map(|(i, &t)| -proba[i * k + t].clamp(EPS, 1.0 - EPS).ln())
        .collect();
    mean(&terms)
}

/// Brier score: the mean squared difference between the probabilities and the
/// one-hot truth, summed over classes, halved for two classes (scikit-learn's
/// `scale_by_half="auto"`: the binary score is the mean of `(p - y)²`).
pub fn brier(y: &[usize], proba: &[f64], k: usize) -> f64 {
    let terms: Vec<f64> = y
        .iter()
        .enumerate()
        .map(|(i, &t)| {
            (0..k)
                .map(|c| {
                    let d = proba[i * k + c] - f64::from(u8::from(c == t));
                    d * d
                })
                .sum::<f64>()
        })
        .collect();
    let m = mean(&terms);
    if k <= 2 {
        m / 2.0
    } else {
        m
    }
}

thread_local! {
    static TERMS: std::cell::RefCell<Vec<f64>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Regression errors of predictions against the truth.
pub struct Errors<'a> {
    /// Actual values.
    pub y_true: &'a [f64],
    /// Predicted values.
    pub y_pred: &'a [f64],
}

impl Errors<'_> {
    /// numpy's sum of `f(actual, predicted)` over the rows, through one buffer reused by
    /// every metric (a fresh 80 MB vector per metric costs more in page faults than the
    /// arithmetic).
    fn sum_of(&self, f: impl Fn(f64, f64) -> f64) -> f64 {
        TERMS.with(|b| {
            let mut b = b.borrow_mut();
            b.clear();
            b.extend(self.y_true.iter().zip(self.y_pred).map(|(&t, &p)| f(t, p)));
            np_sum(&b)
        })
    }

    /// The mean of `f(actual, predicted)` (NaN without rows).
    fn mean_of(&self, f: impl Fn(f64, f64) -> f64) -> f64 {
        if self.y_true.is_empty() {
            return f64::NAN;
        }
        self.sum_of(f) / self.y_true.len() as f64
    }

    fn each(&self, f: impl Fn(f64, f64) -> f64) -> Vec<f64> {
        self.y_true
            .iter()
            .zip(self.y_pred)
            .map(|(&t, &p)| f(t, p))
            .collect()
    }

    /// Mean squared error.
    pub fn mse(&self) -> f64 {
        self.mean_of(|t, p| (t - p) * (t - p))
    }

    /// Root mean squared error.
    pub fn rmse(&self) -> f64 {
        self.mse().sqrt()
    }

    /// Mean absolute error.
    pub fn mae(&self) -> f64 {
        self.mean_of(|t, p| (t - p).abs())
    }

    /// Median absolute error.
    pub fn median_ae(&self) -> f64 {
        median(&mut self.each(|t, p| (t - p).abs()))
    }

    /// Mean absolute percentage error, as a fraction: `|y - ŷ| / max(|y|, eps)`, so a
    /// zero actual gives a huge term (scikit-learn's definition).
    pub fn mape(&self) -> f64 {
        self.mean_of(|t, p| (t - p).abs() / t.abs().max(EPS))
    }

    /// Symmetric MAPE, as a fraction: `|y - ŷ| / (max(|y| + |ŷ|, eps) / 2)` (sktime's).
    pub fn smape(&self) -> f64 {
        self.mean_of(|t, p| (t - p).abs() / ((t.abs() + p.abs()).max(EPS) / 2.0))
    }

    /// Weighted absolute percentage error: `Σ|y - ŷ| / Σ|y|` (infinite or NaN when
    /// every actual is 0).
    pub fn wape(&self) -> f64 {
        self.sum_of(|t, p| (t - p).abs()) / self.sum_of(|t, _| t.abs())
    }

    /// Bias: the mean error `ŷ - y` (positive: the model over-predicts).
    pub fn bias(&self) -> f64 {
        self.mean_of(|t, p| p - t)
    }

    /// R² (scikit-learn's `force_finite`: a constant truth scores 1 when predicted
    /// exactly, else 0).
    pub fn r2(&self) -> f64 {
        let m = mean(self.y_true);
        let ss_res = self.sum_of(|t, p| (t - p) * (t - p));
        let ss_tot = self.sum_of(|t, _| (t - m) * (t - m));
        if ss_tot == 0.0 {
            if ss_res == 0.0 {
                1.0
            } else {
                0.0
            }
        } else {
            1.0 - ss_res / ss_tot
        }
    }

    /// Huber loss with threshold `delta`: `½r²` within it, `δ(|r| - ½δ)` beyond.
    pub fn huber(&self, delta: f64) -> f64 {
        self.mean_of(|t, p| {
            let r = (t - p).abs();
            if r <= delta {
                0.5 * r * r
            } else {
                delta * (r - 0.5 * delta)
            }
        })
    }

    /// Log-cosh loss, `log(cosh(r))`, computed as `|r| + log1p(e^{-2|r|}) - ln 2` so
    /// large errors do not overflow.
    pub fn log_cosh(&self) -> f64 {
        self.mean_of(|t, p| {
            let r = (t - p).abs();
            r + (-2.0 * r).exp().ln_1p() - std::f64::consts::LN_2
        })
    }

    /// Mean absolute scaled error (sktime's): the MAE over the in-sample MAE of the
    /// seasonal naive forecast of period `sp` on `y_train`, floored at eps; `None`
    /// when the training series is not longer than `sp`.
    pub fn mase(&self, y_train: &[f64], sp: usize) -> Option<f64> {
        if sp == 0 || y_train.len() <= sp {
            return None;
        }
        let naive: Vec<f64> = (sp..y_train.len())
            .map(|i| (y_train[i] - y_train[i - sp]).abs())
            .collect();
        Some(self.mae() / mean(&naive).max(EPS))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_scores_by_hand() {
        // truth 1 1 0 0 1, predicted 1 0 0 1 1: tp 2, fp 1, fn 1, tn 1.
        let c = Confusion::new(&[1, 1, 0, 0, 1], &[1, 0, 0, 1, 1], 2);
        assert_eq!(c.counts, [1, 1, 1, 2]);
        let s = c.scores(Average::Binary(1));
        assert_eq!((s.precision, s.recall), (2.0 / 3.0, 2.0 / 3.0));
        assert_eq!(c.accuracy(), 0.6);
        // MCC = (tp tn - fp fn) / sqrt((tp+fp)(tp+fn)(tn+fp)(tn+fn)) = 1 / 6.
        assert!((c.matthews() - 1.0 / 6.0).abs() < 1e-15);
    }

    #[test]
    fn auc_counts_ties_half() {
        // Positives 0.8, 0.5; negatives 0.5, 0.1: pairs (0.8>0.5, 0.8>0.1, 0.5=0.5,
        // 0.5>0.1) = 3.5 / 4.
        let y = [true, true, false, false];
        assert_eq!(roc_auc(&y, &[0.8, 0.5, 0.5, 0.1]), Some(0.875));
        assert_eq!(roc_auc(&[true, true], &[0.1, 0.2]), None);
        // All tied: 0.5.
        assert_eq!(roc_auc(&y, &[0.3; 4]), Some(0.5));
    }

    #[test]
    fn regression_errors_by_hand() {
        let e = Errors {
            y_true: &[3.0, -0.5, 2.0, 7.0],
            y_pred: &[2.5, 0.0, 2.0, 8.0],
        };
        assert_eq!(e.mse(), 0.375);
        assert_eq!(e.mae(), 0.5);
        assert_eq!(e.median_ae(), 0.5);
        assert_eq!(e.bias(), 0.25);
        assert_eq!(e.wape(), 2.0 / 12.5);
        // Seasonal naive of period 1 on 1, 3, 6: errors 2 and 3, MAE 2.5.
        assert_eq!(e.mase(&[1.0, 3.0, 6.0], 1), Some(0.2));
    }
}
