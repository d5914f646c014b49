//! Linear models, fitted to the same optimum as scikit-learn (coefficients agree to 1e-6
//! on the oracle datasets; logistic regression at its default tolerance to 1e-10):
//!
//! - `linear` (`LinearRegression`): least squares on centred data, by SVD;
//! - `ridge` (`Ridge`): `||y - Xw - b||² + α||w||²`, by Cholesky on centred data;
//! - `lasso`, `elastic_net` (`Lasso`, `ElasticNet`): `(1/2n)||y - Xw - b||² + αρ||w||₁
//!   + ½α(1-ρ)||w||²`, by cyclic coordinate descent until the duality gap is below
//!   `tol · ||y||²`, as scikit-learn's `cd_fast`;
//! - `logistic` (`LogisticRegression`, L2): `C Σ sᵢ loglossᵢ + ½||w||²` (sample weights
//!   `s` from class weights), intercept not penalised; binary or multinomial (softmax
//!   over every class), by L-BFGS as scikit-learn's default solver, to its `tol` (1e-4)
//!   on the objective over `C Σ sᵢ`, and below 1e-6 by Newton's method with a
//!   backtracking line search from there; with `penalty: l1`, `C Σ sᵢ loglossᵢ + ||w||₁` by proximal
//!   Newton steps, one class's coefficients at a time.

use nalgebra::{DMatrix, DVector};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A fitted linear model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum LinearModel {
    /// `y = x·coef + intercept`.
    Regression {
        /// One coefficient per feature.
        coef: Vec<f64>,
        /// Intercept.
        intercept: f64,
    },
    /// Binary: `P(class 1) = σ(x·coef[0] + intercept[0])`; multinomial: softmax over
    /// `x·coef[k] + intercept[k]`.
    Logistic {
        /// One row of coefficients (binary) or one per class.
        coef: Vec<Vec<f64>>,
        /// One intercept (binary) or one per class.
        intercept: Vec<f64>,
    },
}

fn column_means(x: &DMatrix<f64>) -> DVector<f64> {
    DVector::from_iterator(x.ncols(), x.column_iter().map(|c| c.mean()))
}

fn centred(x: &DMatrix<f64>, y: &[f64]) -> (DMatrix<f64>, DVector<f64>, DVector<f64>, f64) {
    let xm = column_means(x);
    let mut xc = x.clone();
    for (j, mut c) in xc.column_iter_mut().enumerate() {
        c.add_scalar_mut(-xm[j]);
    }
    let ym = y.iter().sum::<f64>() / y.len() as f64;
    let yc = DVector::from_iterator(y.len(), y.iter().map(|v| v - ym));
    (xc, yc, xm, ym)
}

fn regression(w: DVector<f64>, xm: &DVector<f64>, ym: f64) -> LinearModel {
    let intercept = ym - xm.dot(&w);
    LinearModel::Regression {
        coef: w.iter().copied().collect(),
        intercept,
    }
}

/// Ordinary least squares (the minimum-norm solution when columns are collinear).
///
/// A thin QR of the centred matrix first (`X = QR`), then the minimum-norm solution of
/// the small `R w = Qᵀy` by SVD: the same solution as an SVD of `X` (scikit-learn's
/// `lstsq`), without forming `X`'s singular vectors.
pub fn ols(x: &DMatrix<f64>, y: &[f64]) -> Result<LinearModel> {
    let (xc, mut yc, xm, ym) = centred(x, y);
    let p = xc.ncols();
    let w = if xc.nrows() > p {
        let qr = xc.qr();
        qr.q_tr_mul(&mut yc);
        let r = qr.r();
        r.svd(true, true).solve(&yc.rows(0, p).into_owned(), 1e-12)
    } else {
        xc.svd(true, true).solve(&yc, 1e-12)
    }
    .map_err(|e| Error::Runtime(format!("least squares failed: {e}")))?;
    Ok(regression(w, &xm, ym))
}

/// Ridge regression.
pub fn ridge(x: &DMatrix<f64>, y: &[f64], alpha: f64) -> Result<LinearModel> {
    let (xc, yc, xm, ym) = centred(x, y);
    // Products with a materialised transpose go through the blocked matrix multiply,
    // much faster on tall matrices than `tr_mul`'s column dot products.
    let xt = xc.transpose();
    let mut a = &xt * &xc;
    for j in 0..a.ncols() {
        a[(j, j)] += alpha;
    }
    let b = &xt * yc;
    let w = match a.clone().cholesky() {
        Some(ch) => ch.solve(&b),
        // alpha = 0 and collinear columns: fall back to least squares.
        None => a
            .svd(true, true)
            .solve(&b, 1e-12)
            .map_err(|e| Error::Runtime(format!("ridge failed: {e}")))?,
    };
    Ok(regression(w, &xm, ym))
}

/// Elastic net (`l1_ratio = 1` is the lasso). Returns the model and the number of
/// coordinate-descent sweeps.
pub fn elastic_net(
    x: &DMatrix<f64>,
    y: &[f64],
    alpha: f64,
    l1_ratio: f64,
    tol: f64,
    max_iter: u32,
) -> Result<(LinearModel, u32)> {
    let (xc, yc, xm, ym) = centred(x, y);
    let (n, p) = (xc.nrows(), xc.ncols());
    let l1 = alpha * l1_ratio * n as f64;
    let l2 = alpha * (1.0 - l1_ratio) * n as f64;
    let norms: Vec<f64> = xc.column_iter().map(|c| c.norm_squared()).collect();
    let mut w = DVector::<f64>::zeros(p);
    let mut r = yc.clone();
    let tol = tol * yc.norm_squared();
    let mut sweeps = 0;
    while sweeps < max_iter {
        sweeps += 1;
        let (mut w_max, mut d_w_max) = (0f64, 0f64);
        for j in 0..p {
            if norms[j] == 0.0 {
                continue;
            }
            let col = xc.column(j);
            let old = w[j];
            if old != 0.0 {
                r.axpy(old, &col, 1.0);
            }
            let t = col.dot(&r);
            let new = t.signum() * (t.abs() - l1).max(0.0) / (norms[j] + l2);
            w[j] = new;
            if new != 0.0 {
                r.axpy(-new, &col, 1.0);
            }
            d_w_max = d_w_max.max((new - old).abs());
            w_max = w_max.max(new.abs());
        }
        if w_max == 0.0 || d_w_max / w_max < 1e-4 || sweeps == max_iter {
            // The duality gap, as scikit-learn computes it.
            let xtr = xc.tr_mul(&r) - l2 * &w;
            let dual_norm = xtr.amax();
            let r_norm2 = r.norm_squared();
            let w_norm2 = w.norm_squared();
            let (c, a_norm2) = if dual_norm > l1 {
                let c = l1 / dual_norm;
                (c, r_norm2 * c * c)
            } else {
                (1.0, r_norm2)
            };
            let l1_norm: f64 = w.iter().map(|v| v.abs()).sum();
            let gap = 0.5 * (r_norm2 + a_norm2) + l1 * l1_norm - c * r.dot(&yc)
                + 0.5 * l2 * (1.0 + c * c) * w_norm2;
            if gap < tol {
                break;
            }
        }
    }
    Ok((regression(w, &xm, ym), sweeps))
}

fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

/// `log(1 + e^z)` without overflow.
fn log1pexp(z: f64) -> f64 {
    if z > 0.0 {
        z + (-z).exp().ln_1p()
    } else {
        z.exp().ln_1p()
    }
}

/// `[X | 1]`.
fn with_ones(x: &DMatrix<f64>) -> DMatrix<f64> {
    let mut a = x.clone().insert_column(x.ncols(), 1.0);
    a.set_column(x.ncols(), &DVector::from_element(x.nrows(), 1.0));
    a
}

/// Below this tolerance L-BFGS hands over to Newton's method, whose steps converge
/// quadratically near the optimum where L-BFGS's slow down.
const NEWTON_BELOW: f64 = 1e-6;

/// L2-penalised logistic regression, `C Σ sᵢ loglossᵢ + ½||w||²` with sample weights
/// `s` (class weights expand to them). `y` holds class codes `0..k`; `k = 2` fits one
/// coefficient row (binary), more fits one per class.
///
/// Solved as scikit-learn's default `lbfgs` solver: L-BFGS on the same objective divided
/// by `C Σ sᵢ`, until the largest component of its gradient is at most `tol`
/// (scikit-learn's 1e-4 by default) or after `max_iter` iterations. Below 1e-6, L-BFGS
/// goes to 1e-6 and Newton steps take it to `tol`: `tol: 1e-10` reaches scikit-learn's
/// coefficients at its tightest tolerance. Returns the model and the objective after
/// each iteration.
pub fn logistic(
    x: &DMatrix<f64>,
    y: &[usize],
    k: usize,
    c: f64,
    sw: &[f64],
    tol: f64,
    max_iter: usize,
) -> Result<(LinearModel, Vec<f64>)> {
    two_classes(k)?;
    let rows = if k == 2 { 1 } else { k };
    let loss = MeanLoss {
        x: x.as_slice(),
        n: x.nrows(),
        p: x.ncols(),
        y,
        sw,
        rows,
        total: sw.iter().sum(),
        c,
    };
    let scale = c * loss.total;
    let mut history = Vec::new();
    let fit = super::lbfgs::minimise(
        |theta, grad| loss.eval(theta, grad),
        vec![0.0; rows * (x.ncols() + 1)],
        tol.max(NEWTON_BELOW),
        max_iter,
        |f| history.push(f * scale),
    );
    tracing::debug!(
        "L-BFGS: {} iterations, largest gradient component {:e}",
        fit.iterations,
        fit.gradient
    );
    let mut theta = DVector::from_vec(fit.x);
    if fit.gradient > tol && fit.iterations < max_iter {
        theta = newton(x, &loss, theta, tol, &mut history)?;
    } else if fit.gradient > tol {
        tracing::warn!(
            "logistic regression stopped after `max_iter` = {max_iter} iterations with the \
             largest gradient component at {:.1e}, above `tol` = {tol:e}; raise `max_iter` \
             or `tol`",
            fit.gradient
        );
    }
    let d = x.ncols() + 1;
    let coef = (0..rows)
        .map(|r| (0..d - 1).map(|j| theta[r * d + j]).collect())
        .collect();
    let mut intercept: Vec<f64> = (0..rows).map(|r| theta[r * d + d - 1]).collect();
    if rows > 1 {
        let mean = intercept.iter().sum::<f64>() / rows as f64;
        for b in &mut intercept {
            *b -= mean;
        }
    }
    Ok((LinearModel::Logistic { coef, intercept }, history))
}

/// Rows per block of the loss's pass: a block's columns stay in a core's cache between
/// the scores and the gradient.
const BLOCK: usize = 2048;

/// The objective scikit-learn's `lbfgs` minimises: the weighted mean log loss plus
/// `||w||² / (2 C Σ sᵢ)`, the intercepts not penalised; parameters in rows of `p + 1`
/// (the coefficients, then the intercept), one row per class (one for binary).
struct MeanLoss<'a> {
    /// The features, column-major `n × p`.
    x: &'a [f64],
    n: usize,
    p: usize,
    y: &'a [usize],
    sw: &'a [f64],
    rows: usize,
    total: f64,
    c: f64,
}

impl MeanLoss<'_> {
    /// The value at `theta`; writes the gradient. One pass over the rows, in blocks on
    /// every core, summed in block order (the same result on any number of cores).
    fn eval(&self, theta: &[f64], grad: &mut [f64]) -> f64 {
        use rayon::prelude::*;
        let d = self.p + 1;
        let blocks: Vec<(f64, Vec<f64>)> = (0..self.n.div_ceil(BLOCK))
            .into_par_iter()
            .map(|b| self.block(b * BLOCK, ((b + 1) * BLOCK).min(self.n), theta))
            .collect();
        grad.fill(0.0);
        let mut loss = 0.0;
        for (l, g) in &blocks {
            loss += l;
            for (a, b) in grad.iter_mut().zip(g) {
                *a += b;
            }
        }
        let mut penalty = 0.0;
        for r in 0..self.rows {
            for j in 0..d {
                let i = r * d + j;
                grad[i] /= self.total;
                if j < self.p {
                    penalty += theta[i] * theta[i];
                    grad[i] += theta[i] / (self.c * self.total);
                }
            }
        }
        loss / self.total + penalty / (2.0 * self.c * self.total)
    }

    /// The weighted log loss of rows `lo..hi` and its gradient.
    fn block(&self, lo: usize, hi: usize, theta: &[f64]) -> (f64, Vec<f64>) {
        let (m, p, d, rows) = (hi - lo, self.p, self.p + 1, self.rows);
        let column = |j: usize| &self.x[j * self.n + lo..j * self.n + hi];
        // Scores, one run of `m` per row of parameters.
        let mut z = vec![0.0; rows * m];
        for r in 0..rows {
            let zr = &mut z[r * m..(r + 1) * m];
            zr.fill(theta[r * d + p]);
            for j in 0..p {
                let t = theta[r * d + j];
                if t != 0.0 {
                    for (zi, xi) in zr.iter_mut().zip(column(j)) {
                        *zi += t * xi;
                    }
                }
            }
        }
        // The loss; the scores become the weighted residuals `sᵢ (pᵢ - yᵢ)`.
        let mut loss = 0.0;
        for i in 0..m {
            let (s, yi) = (self.sw[lo + i], self.y[lo + i]);
            if rows == 1 {
                let zi = z[i];
                let positive = yi == 1;
                // One exponential serves the loss and the probability.
                let (l, prob) = if zi > 0.0 {
                    let e = (-zi).exp();
                    (zi + e.ln_1p(), 1.0 / (1.0 + e))
                } else {
                    let e = zi.exp();
                    (e.ln_1p(), e / (1.0 + e))
                };
                loss += s * (l - if positive { zi } else { 0.0 });
                z[i] = s * (prob - f64::from(u8::from(positive)));
            } else {
                let most = (0..rows).map(|r| z[r * m + i]).fold(f64::MIN, f64::max);
                let sum: f64 = (0..rows).map(|r| (z[r * m + i] - most).exp()).sum();
                let lse = most + sum.ln();
                loss += s * (lse - z[yi * m + i]);
                for r in 0..rows {
                    let prob = (z[r * m + i] - lse).exp();
                    z[r * m + i] = s * (prob - f64::from(u8::from(yi == r)));
                }
            }
        }
        let mut grad = vec![0.0; rows * d];
        for r in 0..rows {
            let residual = &z[r * m..(r + 1) * m];
            for j in 0..p {
                grad[r * d + j] = dot(column(j), residual);
            }
            grad[r * d + p] = residual.iter().sum();
        }
        (loss, grad)
    }
}

/// `a · b` in eight lanes, so that the compiler vectorises it.
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let mut lanes = [0.0; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f64 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for l in 0..8 {
            lanes[l] += x[l] * y[l];
        }
    }
    lanes.iter().sum::<f64>() + tail
}

/// Newton's method with a backtracking line search on `loss` from `theta`, until the
/// largest gradient component is at most `tol`; appends the objective after each step,
/// times `C Σ sᵢ` (the units of `history`), to `history`.
fn newton(
    x: &DMatrix<f64>,
    loss: &MeanLoss,
    mut theta: DVector<f64>,
    tol: f64,
    history: &mut Vec<f64>,
) -> Result<DVector<f64>> {
    let a = with_ones(x);
    // Aᵀ once: products with it use the blocked matrix multiply.
    let at = a.transpose();
    let (n, d, rows, sw) = (a.nrows(), a.ncols(), loss.rows, loss.sw);
    let scale = loss.c * loss.total;
    // Adding a constant to every multinomial intercept changes nothing, so the Hessian
    // is singular along that direction: a tiny damping of the intercepts' diagonal keeps
    // it invertible (the gradient there is zero, so the steps are unchanged), and the
    // intercepts are centred at the end, as scikit-learn's solution is.
    let damping = if rows > 1 { 1e-10 } else { 0.0 };
    // The objective and its gradient in `history`'s units.
    let objective = |theta: &DVector<f64>, grad: &mut DVector<f64>| -> f64 {
        let f = loss.eval(theta.as_slice(), grad.as_mut_slice());
        *grad *= scale;
        f * scale
    };
    let mut grad = DVector::<f64>::zeros(rows * d);
    let mut current = objective(&theta, &mut grad);
    for _ in 0..100 {
        if grad.amax() / scale <= tol {
            break;
        }
        let z = scores(&a, &theta, rows, d);
        // Probabilities.
        let mut prob = DMatrix::<f64>::zeros(n, rows);
        for i in 0..n {
            if rows == 1 {
                prob[(i, 0)] = sigmoid(z[(i, 0)]);
            } else {
                let m = (0..rows).map(|r| z[(i, r)]).fold(f64::MIN, f64::max);
                let s: f64 = (0..rows).map(|r| (z[(i, r)] - m).exp()).sum();
                for r in 0..rows {
                    prob[(i, r)] = (z[(i, r)] - m).exp() / s;
                }
            }
        }
        let mut hess = DMatrix::<f64>::zeros(rows * d, rows * d);
        for r in 0..rows {
            for s in r..rows {
                // H_rs = C Aᵀ diag(p_r (δ_rs - p_s)) A
                let wts = DVector::from_iterator(
                    n,
                    (0..n).map(|i| {
                        let (pr, ps) = (prob[(i, r)], prob[(i, s)]);
                        sw[i] * if r == s { pr * (1.0 - pr) } else { -pr * ps }
                    }),
                );
                // Aᵀ diag(w) A, scaling A's columns (contiguous) rather than its rows.
                let scaled = wts * loss.c;
                let mut wa = a.clone();
                for mut col in wa.column_iter_mut() {
                    col.component_mul_assign(&scaled);
                }
                let block = &at * wa;
                hess.view_mut((r * d, s * d), (d, d)).copy_from(&block);
                if s != r {
                    hess.view_mut((s * d, r * d), (d, d))
                        .copy_from(&block.transpose());
                }
            }
        }
        for r in 0..rows {
            for j in 0..d {
                let idx = r * d + j;
                hess[(idx, idx)] += if j + 1 == d { damping } else { 1.0 };
            }
        }
        let step = match hess.clone().cholesky() {
            Some(ch) => -ch.solve(&grad),
            None => -hess
                .svd(true, true)
                .solve(&grad, 1e-14)
                .map_err(|e| Error::Runtime(format!("logistic regression: {e}")))?,
        };
        // Backtracking: halve the step until the objective decreases.
        let mut next_grad = DVector::<f64>::zeros(rows * d);
        let mut t = 1.0;
        let mut next = &theta + &step * t;
        let mut value = objective(&next, &mut next_grad);
        while value > current && t > 1e-10 {
            t *= 0.5;
            next = &theta + &step * t;
            value = objective(&next, &mut next_grad);
        }
        if value > current {
            // No step lowers the objective in floating point: this is the optimum.
            break;
        }
        let moved = (&next - &theta).amax();
        (theta, grad, current) = (next, next_grad, value);
        history.push(value);
        if moved < 1e-13 {
            break;
        }
    }
    Ok(theta)
}

/// Refuses a target with fewer than two classes.
fn two_classes(k: usize) -> Result<()> {
    if k < 2 {
        return Err(Error::Usage(
            "the target has one class only; a classifier needs at least two".into(),
        ));
    }
    Ok(())
}

/// Softmax (or, for one row, sigmoid) scores of every row: `z[i][r] = x_i · w_r + b_r`.
fn l1_scores(x: &DMatrix<f64>, w: &[Vec<f64>], b: &[f64]) -> Vec<Vec<f64>> {
    (0..x.nrows())
        .map(|i| {
            w.iter()
                .zip(b)
                .map(|(wr, br)| {
                    wr.iter()
                        .enumerate()
                        .map(|(j, v)| x[(i, j)] * v)
                        .sum::<f64>()
                        + br
                })
                .collect()
        })
        .collect()
}

/// Per row, the probability of each coefficient row's class.
fn l1_probabilities(z: &[Vec<f64>]) -> Vec<Vec<f64>> {
    z.iter()
        .map(|zi| {
            if zi.len() == 1 {
                vec![sigmoid(zi[0])]
            } else {
                let m = zi.iter().copied().fold(f64::MIN, f64::max);
                let e: Vec<f64> = zi.iter().map(|v| (v - m).exp()).collect();
                let s: f64 = e.iter().sum();
                e.iter().map(|v| v / s).collect()
            }
        })
        .collect()
}

/// L1-penalised logistic regression, `C Σ sᵢ loglossᵢ + Σ|w|` (intercepts not
/// penalised), binary (one coefficient row) or multinomial (one row per class, as
/// scikit-learn's `saga`). Solved by proximal Newton steps one coefficient row at a time
/// (each a coordinate-descent solve of the penalised quadratic model of that row, then
/// a backtracking line search), until no step moves a coefficient by 1e-10. `y` holds
/// class codes `0..k`; `sw` the sample weights. Returns the model and the objective
/// after each sweep over the rows.
pub fn logistic_l1(
    x: &DMatrix<f64>,
    y: &[usize],
    k: usize,
    c: f64,
    sw: &[f64],
) -> Result<(LinearModel, Vec<f64>)> {
    two_classes(k)?;
    let (n, p) = (x.nrows(), x.ncols());
    let rows = if k == 2 { 1 } else { k };
    let target = |i: usize, r: usize| f64::from(u8::from(y[i] == if rows == 1 { 1 } else { r }));
    let mut w = vec![vec![0.0; p]; rows];
    let mut b = vec![0.0; rows];
    let objective = |w: &[Vec<f64>], b: &[f64]| -> f64 {
        let z = l1_scores(x, w, b);
        let loss: f64 = (0..n)
            .map(|i| {
                let zi = &z[i];
                sw[i]
                    * if rows == 1 {
                        log1pexp(zi[0]) - zi[0] * target(i, 0)
                    } else {
                        let m = zi.iter().copied().fold(f64::MIN, f64::max);
                        m + zi.iter().map(|v| (v - m).exp()).sum::<f64>().ln() - zi[y[i]]
                    }
            })
            .sum();
        c * loss + w.iter().flatten().map(|v| v.abs()).sum::<f64>()
    };
    let soft = |v: f64, t: f64| v.signum() * (v.abs() - t).max(0.0);
    let mut history = vec![objective(&w, &b)];
    for _ in 0..500 {
        let mut moved = 0f64;
        for r in 0..rows {
            let prob = l1_probabilities(&l1_scores(x, &w, &b));
            let g: Vec<f64> = (0..n)
                .map(|i| c * sw[i] * (prob[i][r] - target(i, r)))
                .collect();
            let h: Vec<f64> = (0..n)
                .map(|i| (c * sw[i] * prob[i][r] * (1.0 - prob[i][r])).max(1e-12))
                .collect();
            // The quadratic model's minimiser by coordinate descent over (Δw_r, Δb_r).
            let (mut dw, mut db) = (vec![0.0; p], 0.0);
            let mut u = vec![0.0; n];
            let col_h: Vec<f64> = (0..p)
                .map(|j| (0..n).map(|i| h[i] * x[(i, j)] * x[(i, j)]).sum::<f64>())
                .collect();
            let h_b: f64 = h.iter().sum();
            for _ in 0..1000 {
                let g_b: f64 = (0..n).map(|i| g[i] + h[i] * u[i]).sum();
                let d = -g_b / h_b;
                db += d;
                for ui in &mut u {
                    *ui += d;
                }
                let mut biggest = d.abs();
                for j in 0..p {
                    if col_h[j] <= 0.0 {
                        continue;
                    }
                    let gj: f64 = (0..n).map(|i| (g[i] + h[i] * u[i]) * x[(i, j)]).sum();
                    let a = w[r][j] + dw[j];
                    let d = soft(a - gj / col_h[j], 1.0 / col_h[j]) - a;
                    if d != 0.0 {
                        dw[j] += d;
                        for (i, ui) in u.iter_mut().enumerate() {
                            *ui += d * x[(i, j)];
                        }
                        biggest = biggest.max(d.abs());
                    }
                }
                if biggest < 1e-13 {
                    break;
                }
            }
            // Backtracking along the step.
            let current = objective(&w, &b);
            let mut t = 1.0;
            while t > 1e-10 {
                let mut nw = w.clone();
                let mut nb = b.clone();
                for j in 0..p {
                    nw[r][j] += t * dw[j];
                }
                nb[r] += t * db;
                if objective(&nw, &nb) <= current {
                    moved = dw
                        .iter()
                        .fold(moved.max((t * db).abs()), |m, d| m.max((t * d).abs()));
                    w = nw;
                    b = nb;
                    break;
                }
                t *= 0.5;
            }
        }
        history.push(objective(&w, &b));
        if moved < 1e-10 {
            break;
        }
    }
    if rows > 1 {
        // The intercepts are free up to a common shift; centred, as scikit-learn's.
        let mean = b.iter().sum::<f64>() / rows as f64;
        for v in &mut b {
            *v -= mean;
        }
    }
    Ok((
        LinearModel::Logistic {
            coef: w,
            intercept: b,
        },
        history,
    ))
}

/// `n × rows` scores `A θ_r`.
fn scores(a: &DMatrix<f64>, theta: &DVector<f64>, rows: usize, d: usize) -> DMatrix<f64> {
    let w = DMatrix::from_column_slice(d, rows, theta.as_slice());
    a * w
}

impl LinearModel {
    /// Predictions: the value (regression) or, for classifiers, the class
    /// probabilities (`n × classes`).
    pub fn predict(&self, x: &DMatrix<f64>) -> DMatrix<f64> {
        match self {
            LinearModel::Regression { coef, intercept } => {
                let w = DVector::from_column_slice(coef);
                let v = x * w;
                DMatrix::from_iterator(x.nrows(), 1, v.iter().map(|z| z + intercept))
            }
            LinearModel::Logistic { coef, intercept } => {
                let rows = coef.len();
                let mut z = DMatrix::<f64>::zeros(x.nrows(), rows);
                for (r, c) in coef.iter().enumerate() {
                    let w = DVector::from_column_slice(c);
                    let s = x * w;
                    for i in 0..x.nrows() {
                        z[(i, r)] = s[i] + intercept[r];
                    }
                }
                if rows == 1 {
                    DMatrix::from_fn(x.nrows(), 2, |i, k| {
                        let p = sigmoid(z[(i, 0)]);
                        if k == 1 {
                            p
                        } else {
                            1.0 - p
                        }
                    })
                } else {
                    let mut p = z.clone();
                    for i in 0..x.nrows() {
                        let m = (0..rows).map(|r| z[(i, r)]).fold(f64::MIN, f64::max);
                        let s: f64 = (0..rows).map(|r| (z[(i, r)] - m).exp()).sum();
                        for r in 0..rows {
                            p[(i, r)] = (z[(i, r)] - m).exp() / s;
                        }
                    }
                    p
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ols_recovers_an_exact_line() {
        let x = DMatrix::from_row_slice(4, 2, &[1.0, 0.0, 2.0, 1.0, 3.0, 0.0, 4.0, 1.0]);
        let y: Vec<f64> = (0..4)
            .map(|i| 0.5 + 2.0 * x[(i, 0)] - 3.0 * x[(i, 1)])
            .collect();
        let LinearModel::Regression { coef, intercept } = ols(&x, &y).unwrap() else {
            panic!()
        };
        assert!((coef[0] - 2.0).abs() < 1e-12 && (coef[1] + 3.0).abs() < 1e-12);
        assert!((intercept - 0.5).abs() < 1e-12);
    }

    #[test]
    fn lasso_with_a_huge_penalty_is_all_zero() {
        let x = DMatrix::from_row_slice(3, 1, &[1.0, 2.0, 3.0]);
        let (m, _) = elastic_net(&x, &[1.0, 2.0, 3.0], 100.0, 1.0, 1e-10, 1000).unwrap();
        assert_eq!(
            m,
            LinearModel::Regression {
                coef: vec![0.0],
                intercept: 2.0
            }
        );
    }

    #[test]
    fn logistic_probabilities_sum_to_one() {
        let x = DMatrix::from_row_slice(6, 1, &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
        let (m, history) = logistic(&x, &[0, 0, 1, 0, 2, 2], 3, 1.0, &[1.0; 6], 1e-4, 100).unwrap();
        assert!(history.windows(2).all(|w| w[1] <= w[0]), "{history:?}");
        let p = m.predict(&x);
        for i in 0..6 {
            assert!((p.row(i).sum() - 1.0).abs() < 1e-12);
        }
        let LinearModel::Logistic { intercept, .. } = m else {
            panic!()
        };
        assert!(intercept.iter().sum::<f64>().abs() < 1e-8);
    }
}
