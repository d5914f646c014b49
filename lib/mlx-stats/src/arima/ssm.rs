//! The state-space form of an ARMA process (Harvey's representation), its Kalman
//! filter with the stationary initialisation, the likelihood profiled over the
//! regression coefficients and σ², and forecasts of the undifferenced series.

use super::{Coefs, Forecast, Order, Params};

/// `(1 − B)^d (1 − B^s)^D` as coefficients of `B^0..B^m`.
fn differencing(order: &Order) -> Vec<f64> {
    let mut poly = vec![1.0];
    let mut times = |lag: usize| {
        let mut next = vec![0.0; poly.len() + lag];
        for (i, c) in poly.iter().enumerate() {
            next[i] += c;
            next[i + lag] -= c;
        }
        poly = next;
    };
    for _ in 0..order.d {
        times(1);
    }
    for _ in 0..order.sd {
        times(order.s);
    }
    poly
}

fn difference(series: &[f64], delta: &[f64]) -> Vec<f64> {
    let m = delta.len() - 1;
    (m..series.len())
        .map(|t| {
            delta
                .iter()
                .enumerate()
                .map(|(k, d)| d * series[t - k])
                .sum()
        })
        .collect()
}

/// `(1 + Σ a_i B^i)(1 + Σ b_j B^{js})` without its leading 1; `sign` −1 gives the AR
/// form `(1 − Σ a_i B^i)(1 − Σ b_j B^{js})`, returned as the `φ` of `1 − Σ φ_i B^i`.
fn multiply(a: &[f64], b: &[f64], s: usize, sign: f64) -> Vec<f64> {
    let n = a.len() + b.len() * s;
    let mut left = vec![0.0; n + 1];
    left[0] = 1.0;
    for (i, c) in a.iter().enumerate() {
        left[i + 1] = sign * c;
    }
    let mut right = vec![0.0; n + 1];
    right[0] = 1.0;
    for (j, c) in b.iter().enumerate() {
        right[(j + 1) * s] = sign * c;
    }
    let mut out = vec![0.0; n + 1];
    for (i, l) in left.iter().enumerate() {
        for (j, r) in right.iter().enumerate() {
            if i + j <= n {
                out[i + j] += l * r;
            }
        }
    }
    out[1..].iter().map(|c| sign * c).collect()
}

/// The ARMA part as matrices: companion `T` (first column φ), `R = (1, θ)`.
struct Arma {
    phi: Vec<f64>,
    r: Vec<f64>,
}

impl Arma {
    fn new(order: &Order, c: &Coefs) -> Self {
        let s = order.season().max(1);
        let phi = multiply(&c.ar, &c.sar, s, -1.0);
        let theta = multiply(&c.ma, &c.sma, s, 1.0);
        let dim = phi.len().max(theta.len() + 1).max(1);
        let mut phi_full = vec![0.0; dim];
        phi_full[..phi.len()].copy_from_slice(&phi);
        let mut r = vec![0.0; dim];
        r[0] = 1.0;
        r[1..=theta.len()].copy_from_slice(&theta);
        Self { phi: phi_full, r }
    }

    fn dim(&self) -> usize {
        self.r.len()
    }

    /// `T v`.
    fn t_vec(&self, v: &[f64], out: &mut [f64]) {
        let n = self.dim();
        for i in 0..n {
            out[i] = self.phi[i] * v[0] + if i + 1 < n { v[i + 1] } else { 0.0 };
        }
    }

    /// The stationary covariance of the state for σ² = 1: `P = T P T' + R R'`, summed
    /// by doubling (`P ← P + A P A'`, `A ← A²`).
    fn stationary(&self) -> Vec<f64> {
        let n = self.dim();
        let mut p: Vec<f64> = (0..n * n).map(|k| self.r[k / n] * self.r[k % n]).collect();
        let mut a = vec![0.0; n * n];
        for i in 0..n {
            a[i * n] = self.phi[i];
            if i + 1 < n {
                a[i * n + i + 1] = 1.0;
            }
        }
        let mut ap = vec![0.0; n * n];
        let mut apa = vec![0.0; n * n];
        for _ in 0..64 {
            matmul(&a, &p, &mut ap, n, false);
            matmul(&ap, &a, &mut apa, n, true);
            let size = apa.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            let scale = p.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            for (x, y) in p.iter_mut().zip(&apa) {
                *x += y;
            }
            if size <= 1e-16 * scale {
                break;
            }
            let a2 = a.clone();
            matmul(&a2, &a2, &mut a, n, false);
        }
        p
    }
}

/// `out = a b` (`b'` when `transpose_b`), square `n × n`.
fn matmul(a: &[f64], b: &[f64], out: &mut [f64], n: usize, transpose_b: bool) {
    for i in 0..n {
        for j in 0..n {
            let mut s = 0.0;
            for k in 0..n {
                s += a[i * n + k]
                    * if transpose_b {
                        b[j * n + k]
                    } else {
                        b[k * n + j]
                    };
            }
            out[i * n + j] = s;
        }
    }
}

/// What the filter leaves at the end of the sample, for forecasting.
#[derive(Debug, Clone)]
pub(crate) struct EndState {
    /// The predicted ARMA state for the first forecast step, and its covariance (σ² = 1).
    a: Vec<f64>,
    p: Vec<f64>,
    /// The last `m` values of `y − x'β`, newest first.
    e_tail: Vec<f64>,
}

pub(crate) struct Profile {
    pub llf: f64,
    pub sigma2: f64,
    /// The mean (first, with a constant) and the regression coefficients.
    pub beta: Vec<f64>,
}

/// A series made ready for the likelihood: differenced, with its regressors.
pub(crate) struct Problem {
    order: Order,
    delta: Vec<f64>,
    y: Vec<f64>,
    x: Vec<Vec<f64>>,
    /// The differenced series and, after it, the differenced regression columns (the
    /// constant column first).
    columns: Vec<Vec<f64>>,
}

impl Problem {
    pub fn new(order: &Order, y: &[f64], x: &[Vec<f64>], constant: bool) -> Self {
        let delta = differencing(order);
        let k = x.first().map_or(0, Vec::len);
        let mut columns = vec![difference(y, &delta)];
        let n = columns[0].len();
        if constant {
            columns.push(vec![1.0; n]);
        }
        for j in 0..k {
            let col: Vec<f64> = x.iter().map(|r| r[j]).collect();
            columns.push(difference(&col, &delta));
        }
        Self {
            order: *order,
            delta,
            y: y.to_vec(),
            x: x.to_vec(),
            columns,
        }
    }

    pub fn nobs(&self) -> usize {
        self.columns[0].len()
    }

    /// Runs the filter over every column at once (the gains do not depend on the data);
    /// returns the standardised innovations of each column and `Σ ln F_t`.
    fn filter(&self, arma: &Arma, columns: &[Vec<f64>]) -> Option<(Vec<Vec<f64>>, f64, EndState)> {
        let n = arma.dim();
        let mut p = arma.stationary();
        let mut a = vec![vec![0.0; n]; columns.len()];
        let mut out = vec![Vec::with_capacity(self.nobs()); columns.len()];
        let mut log_f = 0.0;
        let mut next_p = vec![0.0; n * n];
        let mut k = vec![0.0; n];
        let mut next = vec![0.0; n];
        // Once P stops changing (an invertible model reaches its steady state), F and K
        // are constant and only the state means are updated.
        let mut steady = false;
        for t in 0..self.nobs() {
            let f = p[0];
            if f <= 0.0 || !f.is_finite() {
                return None;
            }
            log_f += f.ln();
            let sf = f.sqrt();
            if !steady {
                // K = T P Z' / F: T applied to P's first column.
                for (i, ki) in k.iter_mut().enumerate() {
                    let below = if i + 1 < n { p[(i + 1) * n] } else { 0.0 };
                    *ki = (arma.phi[i] * p[0] + below) / f;
                }
            }
            for (c, series) in columns.iter().enumerate() {
                let v = series[t] - a[c][0];
                out[c].push(v / sf);
                arma.t_vec(&a[c], &mut next);
                for i in 0..n {
                    a[c][i] = next[i] + k[i] * v;
                }
            }
            if steady {
                continue;
            }
            // P ← T P T' + R R' − K F K', with the companion structure of T:
            // (T P T')_ij = φ_i φ_j P_00 + φ_i P_0,j+1 + φ_j P_i+1,0 + P_i+1,j+1.
            // Written into `next_p` (the update reads the old P), symmetric.
            let mut change = 0.0f64;
            let at =
                |p: &[f64], i: usize, j: usize| if i < n && j < n { p[i * n + j] } else { 0.0 };
            for i in 0..n {
                for j in i..n {
                    let (fi, fj) = (arma.phi[i], arma.phi[j]);
                    let tpt = fi * fj * p[0]
                        + fi * at(&p, 0, j + 1)
                        + fj * at(&p, i + 1, 0)
                        + at(&p, i + 1, j + 1);
                    let v = tpt + arma.r[i] * arma.r[j] - k[i] * f * k[j];
                    change = change.max((v - p[i * n + j]).abs());
                    next_p[i * n + j] = v;
                    next_p[j * n + i] = v;
                }
            }
            std::mem::swap(&mut p, &mut next_p);
            steady = change <= 1e-9 * p[0].abs().max(1.0);
        }
        let end = EndState {
            a: a[0].clone(),
            p,
            e_tail: Vec::new(),
        };
        Some((out, log_f, end))
    }

    /// The likelihood maximised over the mean, the regression coefficients and σ².
    pub fn profile(&self, c: &Coefs) -> Option<Profile> {
        let arma = Arma::new(&self.order, c);
        let (std, log_f, _) = self.filter(&arma, &self.columns)?;
        let beta = least_squares(&std[1..], &std[0])?;
        let nobs = self.nobs() as f64;
        let ss: f64 = (0..self.nobs())
            .map(|t| {
                let fit: f64 = beta.iter().zip(&std[1..]).map(|(b, col)| b * col[t]).sum();
                (std[0][t] - fit).powi(2)
            })
            .sum();
        let sigma2 = ss / nobs;
        let llf =
            -0.5 * nobs * ((2.0 * std::f64::consts::PI).ln() + sigma2.ln() + 1.0) - 0.5 * log_f;
        llf.is_finite().then_some(Profile { llf, sigma2, beta })
    }

    /// The residual series `w − μ − Δx'β` of given parameters.
    fn residual(&self, params: &Params) -> Vec<f64> {
        let mut coef: Vec<f64> = params.mean.into_iter().collect();
        coef.extend(&params.beta);
        (0..self.nobs())
            .map(|t| {
                self.columns[0][t]
                    - coef
                        .iter()
                        .zip(&self.columns[1..])
                        .map(|(b, c)| b * c[t])
                        .sum::<f64>()
            })
            .collect()
    }

    /// The exact log-likelihood at given parameters.
    pub fn loglike(&self, params: &Params) -> f64 {
        let c = Coefs {
            ar: params.ar.clone(),
            ma: params.ma.clone(),
            sar: params.sar.clone(),
            sma: params.sma.clone(),
        };
        let arma = Arma::new(&self.order, &c);
        let Some((std, log_f, _)) = self.filter(&arma, &[self.residual(params)]) else {
            return f64::NEG_INFINITY;
        };
        let ss: f64 = std[0].iter().map(|v| v * v).sum();
        let nobs = self.nobs() as f64;
        -0.5 * nobs * (2.0 * std::f64::consts::PI * params.sigma2).ln()
            - 0.5 * log_f
            - 0.5 * ss / params.sigma2
    }

    /// The filter's state after the last observation, for forecasting.
    pub fn end_state(&self, c: &Coefs, params: &Params) -> EndState {
        let arma = Arma::new(&self.order, c);
        let (_, _, mut end) = self
            .filter(&arma, &[self.residual(params)])
            .expect("the fitted parameters filter");
        let m = self.delta.len() - 1;
        end.e_tail = (0..m)
            .map(|i| {
                let t = self.y.len() - 1 - i;
                let xb: f64 = self.x.get(t).map_or(0.0, |r| {
                    r.iter().zip(&params.beta).map(|(x, b)| x * b).sum()
                });
                self.y[t] - xb
            })
            .collect();
        end
    }
}

/// Ordinary least squares of `y` on the columns (normal equations by Cholesky);
/// `None` when they are collinear.
fn least_squares(cols: &[Vec<f64>], y: &[f64]) -> Option<Vec<f64>> {
    let k = cols.len();
    if k == 0 {
        return Some(Vec::new());
    }
    let mut a = vec![0.0; k * k];
    let mut b = vec![0.0; k];
    for i in 0..k {
        for j in 0..=i {
            let s: f64 = cols[i].iter().zip(&cols[j]).map(|(u, v)| u * v).sum();
            a[i * k + j] = s;
            a[j * k + i] = s;
        }
        b[i] = cols[i].iter().zip(y).map(|(u, v)| u * v).sum();
    }
    // Cholesky a = L L'.
    let mut l = vec![0.0; k * k];
    for i in 0..k {
        for j in 0..=i {
            let s: f64 = a[i * k + j] - (0..j).map(|m| l[i * k + m] * l[j * k + m]).sum::<f64>();
            if i == j {
                if s <= 1e-12 * a[i * k + i].abs().max(1e-300) {
                    return None;
                }
                l[i * k + i] = s.sqrt();
            } else {
                l[i * k + j] = s / l[j * k + j];
            }
        }
    }
    let mut z = vec![0.0; k];
    for i in 0..k {
        z[i] = (b[i] - (0..i).map(|m| l[i * k + m] * z[m]).sum::<f64>()) / l[i * k + i];
    }
    let mut x = vec![0.0; k];
    for i in (0..k).rev() {
        x[i] = (z[i] - (i + 1..k).map(|m| l[m * k + i] * x[m]).sum::<f64>()) / l[i * k + i];
    }
    Some(x)
}

/// Forecasts of `y`: the ARMA state propagated, the differences integrated, the
/// regression added; the variances from the joint covariance of the ARMA state and the
/// integrated errors.
pub(crate) fn forecast(
    order: &Order,
    params: &Params,
    end: &EndState,
    future: &[Vec<f64>],
) -> Forecast {
    let c = Coefs {
        ar: params.ar.clone(),
        ma: params.ma.clone(),
        sar: params.sar.clone(),
        sma: params.sma.clone(),
    };
    let arma = Arma::new(order, &c);
    let delta = differencing(order);
    let m = delta.len() - 1;
    let r = arma.dim();
    let dim = r + m;
    let mu = params.mean.unwrap_or(0.0);
    // Means.
    let mut a = end.a.clone();
    let mut next = vec![0.0; r];
    let mut tail = end.e_tail.clone();
    // Joint error covariance of [ARMA state; e_{t-1}, ..., e_{t-m}].
    let mut cov = vec![0.0; dim * dim];
    for i in 0..r {
        for j in 0..r {
            cov[i * dim + j] = params.sigma2 * end.p[i * r + j];
        }
    }
    // g: e-error at this step = Z α-error − Σ δ_k e-error(t−k).
    let mut g = vec![0.0; dim];
    g[0] = 1.0;
    for k in 1..=m {
        g[r + k - 1] = -delta[k];
    }
    let (mut mean, mut var) = (Vec::new(), Vec::new());
    for row in future {
        let u = a[0];
        let e = mu + u - (1..=m).map(|k| delta[k] * tail[k - 1]).sum::<f64>();
        let xb: f64 = row.iter().zip(&params.beta).map(|(x, b)| x * b).sum();
        mean.push(e + xb);
        let gv: Vec<f64> = (0..dim)
            .map(|i| (0..dim).map(|j| cov[i * dim + j] * g[j]).sum())
            .collect();
        var.push(g.iter().zip(&gv).map(|(x, y)| x * y).sum());
        // Step: α ← T α; e-lags shift in the new e.
        arma.t_vec(&a, &mut next);
        a.copy_from_slice(&next);
        if m > 0 {
            tail.insert(0, e);
            tail.truncate(m);
        }
        // cov ← A cov A' + blockdiag(σ² R R', 0), A = [[T, 0], [g'; shift]].
        let apply = |v: &[f64]| -> Vec<f64> {
            let mut out = vec![0.0; dim];
            let mut t = vec![0.0; r];
            arma.t_vec(&v[..r], &mut t);
            out[..r].copy_from_slice(&t);
            if m > 0 {
                out[r] = g.iter().zip(v).map(|(x, y)| x * y).sum();
                for k in 1..m {
                    out[r + k] = v[r + k - 1];
                }
            }
            out
        };
        // A cov: columns of cov transformed; then (A cov) A' by rows.
        let mut ac = vec![0.0; dim * dim];
        for j in 0..dim {
            let col: Vec<f64> = (0..dim).map(|i| cov[i * dim + j]).collect();
            let t = apply(&col);
            for i in 0..dim {
                ac[i * dim + j] = t[i];
            }
        }
        for i in 0..dim {
            let t = apply(&ac[i * dim..(i + 1) * dim]);
            cov[i * dim..(i + 1) * dim].copy_from_slice(&t);
        }
        for i in 0..r {
            for j in 0..r {
                cov[i * dim + j] += params.sigma2 * arma.r[i] * arma.r[j];
            }
        }
    }
    Forecast { mean, var }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polynomials() {
        assert_eq!(
            differencing(&Order::sarima(0, 1, 0, 0, 1, 0, 4)),
            vec![1.0, -1.0, 0.0, 0.0, -1.0, 1.0]
        );
        // (1 + 0.5B)(1 + 0.2B^2) = 1 + 0.5B + 0.2B^2 + 0.1B^3
        let t = multiply(&[0.5], &[0.2], 2, 1.0);
        assert!(
            (t[0] - 0.5).abs() < 1e-15 && (t[1] - 0.2).abs() < 1e-15 && (t[2] - 0.1).abs() < 1e-15
        );
        // (1 − 0.5B)(1 − 0.2B^2) = 1 − 0.5B − 0.2B^2 + 0.1B^3, so φ = (0.5, 0.2, −0.1)
        let p = multiply(&[0.5], &[0.2], 2, -1.0);
        assert!(
            (p[0] - 0.5).abs() < 1e-15 && (p[1] - 0.2).abs() < 1e-15 && (p[2] + 0.1).abs() < 1e-15
        );
    }

    #[test]
    fn the_stationary_variance_of_an_ar1() {
        // Var = 1 / (1 − φ²).
        let arma = Arma {
            phi: vec![0.9],
            r: vec![1.0],
        };
        assert!((arma.stationary()[0] - 1.0 / (1.0 - 0.81)).abs() < 1e-12);
        // ARMA(1,1): Var = (1 + 2φθ + θ²) / (1 − φ²).
        let arma = Arma {
            phi: vec![0.5, 0.0],
            r: vec![1.0, 0.4],
        };
        let want = (1.0 + 2.0 * 0.5 * 0.4 + 0.16) / 0.75;
        assert!((arma.stationary()[0] - want).abs() < 1e-12);
    }
}
