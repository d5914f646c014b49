//! Support vector machines as libsvm (and so scikit-learn's `SVC` / `SVR`) define them:
//! the dual problem `min ½ αᵀQα + pᵀα, 0 ≤ α ≤ C, yᵀα = 0` solved by SMO with
//! second-order working-set selection (Fan, Chen and Lin, 2005) to a KKT gap below
//! `tol`; kernels `linear` and `rbf` (`gamma: scale` = 1 / (features × variance of X), as
//! scikit-learn); classification one-vs-one over every pair of classes; ε-insensitive
//! regression over the 2n-variable dual.
//!
//! Class probabilities: for two classes, a Platt sigmoid (without offset) fitted on the
//! training decision values; for more, the share of pairwise votes. (scikit-learn's `probability=True`
//! fits Platt scaling by internal cross-validation with a random generator, which cannot
//! be reproduced; decision values and predicted classes match it.)

use nalgebra::DMatrix;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// A kernel.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Kernel {
    /// `x · x'`.
    Linear,
    /// `exp(-gamma ||x - x'||²)`.
    Rbf {
        /// The width.
        gamma: f64,
    },
}

impl Kernel {
    fn eval(&self, a: &[f64], b: &[f64]) -> f64 {
        match self {
            Kernel::Linear => a.iter().zip(b).map(|(x, y)| x * y).sum(),
            Kernel::Rbf { gamma } => {
                let d: f64 = a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum();
                (-gamma * d).exp()
            }
        }
    }
}

/// scikit-learn's `gamma="scale"`: 1 / (features × variance of every value of X).
pub fn scale_gamma(x: &DMatrix<f64>) -> f64 {
    let n = (x.nrows() * x.ncols()).max(1) as f64;
    let mean = x.iter().sum::<f64>() / n;
    let var = x.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
    if var > 0.0 {
        1.0 / (x.ncols() as f64 * var)
    } else {
        1.0
    }
}

/// One fitted decision function: `Σ coef_k K(sv_k, x) - rho`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    /// Support vectors, row-major.
    pub support: Vec<f64>,
    /// `y_k α_k` per support vector.
    pub coef: Vec<f64>,
    /// The offset.
    pub rho: f64,
}

impl Decision {
    fn value(&self, kernel: &Kernel, width: usize, x: &[f64]) -> f64 {
        self.coef
            .iter()
            .enumerate()
            .map(|(k, c)| c * kernel.eval(&self.support[k * width..(k + 1) * width], x))
            .sum::<f64>()
            - self.rho
    }
}

/// A fitted SVM.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Svm {
    /// The kernel.
    pub kernel: Kernel,
    /// Features per row.
    pub width: usize,
    /// Number of classes (0 for regression).
    pub classes: usize,
    /// Regression: one function. Classification: one per pair `(a, b)`, `a < b`, in
    /// order (0,1), (0,2), ..., positive for `a`.
    pub functions: Vec<Decision>,
    /// Platt's `A` for two classes: `P(class 1) = 1 / (1 + exp(A f))` where `f` is the
    /// decision for class 1.
    pub platt: Option<f64>,
}

/// Solves the dual by SMO. `k(i, j)` is the kernel between variables `i` and `j`;
/// returns `α` and `ρ`.
fn smo(
    n: usize,
    k: &dyn Fn(usize, usize) -> f64,
    p: &[f64],
    y: &[f64],
    c: &[f64],
    tol: f64,
) -> (Vec<f64>, f64) {
    let mut alpha = vec![0.0; n];
    let mut g = p.to_vec();
    let diag: Vec<f64> = (0..n).map(|i| k(i, i)).collect();
    let up = |a: &[f64], t: usize| (y[t] > 0.0 && a[t] < c[t]) || (y[t] < 0.0 && a[t] > 0.0);
    let low = |a: &[f64], t: usize| (y[t] > 0.0 && a[t] > 0.0) || (y[t] < 0.0 && a[t] < c[t]);
    let max_iter = 10_000_000usize.max(100 * n);
    for _ in 0..max_iter {
        // i: the most violating variable that can move up.
        let (mut gmax, mut i) = (f64::NEG_INFINITY, usize::MAX);
        for t in 0..n {
            if up(&alpha, t) && -y[t] * g[t] >= gmax {
                gmax = -y[t] * g[t];
                i = t;
            }
        }
        if i == usize::MAX {
            break;
        }
        // j: second-order choice among those that can move down.
        let (mut gmin, mut j, mut best) = (f64::INFINITY, usize::MAX, f64::INFINITY);
        for t in 0..n {
            if !low(&alpha, t) {
                continue;
            }
            gmin = gmin.min(-y[t] * g[t]);
            let b = gmax + y[t] * g[t];
            if b > 0.0 {
                let mut a = diag[i] + diag[t] - 2.0 * k(i, t);
                if a <= 0.0 {
                    a = 1e-12;
                }
                let obj = -(b * b) / a;
                if obj <= best {
                    best = obj;
                    j = t;
                }
            }
        }
        if gmax - gmin < tol || j == usize::MAX {
            break;
        }
        // Move along d (d_i = y_i, d_j = -y_j), which keeps yᵀα fixed.
        let mut a = diag[i] + diag[j] - 2.0 * k(i, j);
        if a <= 0.0 {
            a = 1e-12;
        }
        let step = (-(y[i] * g[i] - y[j] * g[j]) / a).max(0.0);
        let bound_i = if y[i] > 0.0 {
            c[i] - alpha[i]
        } else {
            alpha[i]
        };
        let bound_j = if y[j] > 0.0 {
            alpha[j]
        } else {
            c[j] - alpha[j]
        };
        let t = step.min(bound_i).min(bound_j);
        alpha[i] += t * y[i];
        alpha[j] -= t * y[j];
        // Snap to the bounds against rounding.
        for v in [i, j] {
            alpha[v] = alpha[v].clamp(0.0, c[v]);
        }
        for (s, gs) in g.iter_mut().enumerate() {
            *gs += t * y[s] * (k(s, i) - k(s, j));
        }
    }
    // ρ: the mean of y G over free variables, else the middle of the feasible range.
    let (mut sum, mut free) = (0.0, 0usize);
    let (mut ub, mut lb) = (f64::INFINITY, f64::NEG_INFINITY);
    for t in 0..n {
        let yg = y[t] * g[t];
        if alpha[t] > 0.0 && alpha[t] < c[t] {
            sum += yg;
            free += 1;
        } else if (alpha[t] >= c[t] && y[t] < 0.0) || (alpha[t] <= 0.0 && y[t] > 0.0) {
            ub = ub.min(yg);
        } else {
            lb = lb.max(yg);
        }
    }
    let rho = if free > 0 {
        sum / free as f64
    } else {
        (ub + lb) / 2.0
    };
    (alpha, rho)
}

fn rows(x: &DMatrix<f64>) -> Vec<Vec<f64>> {
    (0..x.nrows())
        .map(|i| x.row(i).iter().copied().collect())
        .collect()
}

/// The kernel matrix when it fits in memory (up to 4,000 rows), else computed on demand.
fn kernel_fn<'a>(kernel: Kernel, r: &'a [Vec<f64>]) -> Box<dyn Fn(usize, usize) -> f64 + 'a> {
    let n = r.len();
    if n <= 4000 {
        let m: Vec<f64> = (0..n * n)
            .into_par_iter()
            .map(|ij| kernel.eval(&r[ij / n], &r[ij % n]))
            .collect();
        Box::new(move |i, j| m[i * n + j])
    } else {
        Box::new(move |i, j| kernel.eval(&r[i], &r[j]))
    }
}

fn decision(r: &[Vec<f64>], alpha: &[f64], y: &[f64], rho: f64) -> Decision {
    let mut support = Vec::new();
    let mut coef = Vec::new();
    for (i, a) in alpha.iter().enumerate() {
        if *a > 0.0 {
            support.extend_from_slice(&r[i]);
            coef.push(a * y[i]);
        }
    }
    Decision { support, coef, rho }
}

/// Platt's sigmoid `P(class 1) = 1 / (1 + exp(A f))` fitted by Newton's method on
/// decision values `f` and labels (`true` = class 1), with Platt's smoothed targets.
/// Without the usual offset `B`, the probability is one half exactly where the decision
/// changes sign, so the most probable class is always the predicted one (as
/// scikit-learn's `predict`).
fn platt(f: &[f64], positive: &[bool]) -> f64 {
    let n1 = positive.iter().filter(|p| **p).count() as f64;
    let n0 = positive.len() as f64 - n1;
    let (hi, lo) = ((n1 + 1.0) / (n1 + 2.0), 1.0 / (n0 + 2.0));
    let t: Vec<f64> = positive.iter().map(|p| if *p { hi } else { lo }).collect();
    let loss = |a: f64| -> f64 {
        f.iter()
            .zip(&t)
            .map(|(fi, ti)| {
                let z = fi * a;
                if z >= 0.0 {
                    ti * z + (-z).exp().ln_1p()
                } else {
                    (ti - 1.0) * z + z.exp().ln_1p()
                }
            })
            .sum()
    };
    let mut a = 0.0;
    let mut current = loss(a);
    for _ in 0..100 {
        let (mut g, mut h) = (0.0, 1e-12);
        for (fi, ti) in f.iter().zip(&t) {
            let p = 1.0 / (1.0 + (fi * a).exp());
            g += fi * (ti - p);
            h += fi * fi * p * (1.0 - p);
        }
        if g.abs() < 1e-9 {
            break;
        }
        let mut step = 1.0;
        loop {
            let next = a - step * g / h;
            let l = loss(next);
            if l < current {
                a = next;
                current = l;
                break;
            }
            step /= 2.0;
            if step < 1e-10 {
                return a;
            }
        }
    }
    a
}

impl Svm {
    /// One-vs-one classification of class codes `y` (`classes` classes); a row of
    /// class `k` has the bound `c · class_weight[k]` (libsvm's per-class `C`).
    pub fn classifier(
        x: &DMatrix<f64>,
        y: &[usize],
        classes: usize,
        kernel: Kernel,
        c: f64,
        class_weight: &[f64],
        tol: f64,
    ) -> Self {
        let r = rows(x);
        let pairs: Vec<(usize, usize)> = (0..classes)
            .flat_map(|a| ((a + 1)..classes).map(move |b| (a, b)))
            .collect();
        let functions: Vec<Decision> = pairs
            .par_iter()
            .map(|&(a, b)| {
                let idx: Vec<usize> = (0..y.len()).filter(|&i| y[i] == a || y[i] == b).collect();
                let sub: Vec<Vec<f64>> = idx.iter().map(|&i| r[i].clone()).collect();
                let ys: Vec<f64> = idx
                    .iter()
                    .map(|&i| if y[i] == a { 1.0 } else { -1.0 })
                    .collect();
                let bounds: Vec<f64> = idx.iter().map(|&i| c * class_weight[y[i]]).collect();
                let k = kernel_fn(kernel, &sub);
                let (alpha, rho) = smo(sub.len(), &*k, &vec![-1.0; sub.len()], &ys, &bounds, tol);
                decision(&sub, &alpha, &ys, rho)
            })
            .collect();
        let mut svm = Self {
            kernel,
            width: x.ncols(),
            classes,
            functions,
            platt: None,
        };
        if classes == 2 {
            let f: Vec<f64> = r
                .iter()
                .map(|row| svm.functions[0].value(&kernel, svm.width, row))
                .collect();
            // The pair's positive side is class 0; the sigmoid gives P(class 1).
            svm.platt = Some(platt(
                &f.iter().map(|v| -v).collect::<Vec<_>>(),
                &y.iter().map(|c| *c == 1).collect::<Vec<_>>(),
            ));
        }
        svm
    }

    /// ε-insensitive regression.
    pub fn regressor(
        x: &DMatrix<f64>,
        z: &[f64],
        kernel: Kernel,
        c: f64,
        epsilon: f64,
        tol: f64,
    ) -> Self {
        let r = rows(x);
        let n = r.len();
        let base = kernel_fn(kernel, &r);
        let k = move |i: usize, j: usize| base(i % n, j % n);
        let mut p = Vec::with_capacity(2 * n);
        p.extend(z.iter().map(|v| epsilon - v));
        p.extend(z.iter().map(|v| epsilon + v));
        let y: Vec<f64> = (0..2 * n).map(|i| if i < n { 1.0 } else { -1.0 }).collect();
        let (alpha, rho) = smo(2 * n, &k, &p, &y, &vec![c; 2 * n], tol);
        // Fold the 2n variables back onto the n rows: coef_i = α_i - α*_i.
        let folded: Vec<f64> = (0..n).map(|i| alpha[i] - alpha[i + n]).collect();
        let mut support = Vec::new();
        let mut coef = Vec::new();
        for (i, a) in folded.iter().enumerate() {
            if *a != 0.0 {
                support.extend_from_slice(&r[i]);
                coef.push(*a);
            }
        }
        Self {
            kernel,
            width: x.ncols(),
            classes: 0,
            functions: vec![Decision { support, coef, rho }],
            platt: None,
        }
    }

    /// Decision values per row: one per function.
    pub fn decision_function(&self, x: &DMatrix<f64>) -> DMatrix<f64> {
        let r = rows(x);
        let vals: Vec<Vec<f64>> = r
            .par_iter()
            .map(|row| {
                self.functions
                    .iter()
                    .map(|f| f.value(&self.kernel, self.width, row))
                    .collect()
            })
            .collect();
        DMatrix::from_fn(x.nrows(), self.functions.len(), |i, k| vals[i][k])
    }

    /// Values (`n × 1`) or class probabilities (`n × classes`).
    pub fn predict(&self, x: &DMatrix<f64>) -> DMatrix<f64> {
        let d = self.decision_function(x);
        if self.classes == 0 {
            return d;
        }
        if let (2, Some(a)) = (self.classes, self.platt) {
            return DMatrix::from_fn(x.nrows(), 2, |i, k| {
                // The pair's decision is positive for class 0: class 1's is its negative.
                let p1 = 1.0 / (1.0 + (a * -d[(i, 0)]).exp());
                let p1 = if p1.is_finite() { p1 } else { 0.0 };
                if k == 1 {
                    p1
                } else {
                    1.0 - p1
                }
            });
        }
        let k = self.classes;
        DMatrix::from_fn(x.nrows(), k, |i, class| {
            let mut votes = vec![0.0; k];
            let mut f = 0;
            for a in 0..k {
                for b in (a + 1)..k {
                    if d[(i, f)] > 0.0 {
                        votes[a] += 1.0;
                    } else {
                        votes[b] += 1.0;
                    }
                    f += 1;
                }
            }
            votes[class] / (k * (k - 1) / 2) as f64
        })
    }
}
