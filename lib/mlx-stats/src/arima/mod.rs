//! Seasonal ARIMA with regressors (SARIMAX), fitted by exact maximum likelihood through
//! a state-space model and the Kalman filter, as statsmodels' `SARIMAX` fits it.
//!
//! The model, for `y_t` with regressors `x_t`:
//!
//! ```text
//! y_t = x_t'β + e_t,   Δ^d Δ_s^D e_t = w_t,   φ(B) Φ(B^s) (w_t − μ) = θ(B) Θ(B^s) ε_t
//! ```
//!
//! with `ε_t ~ N(0, σ²)`, a stationary AR and an invertible MA. `μ` is the mean of the
//! differenced series when `trend` is constant (statsmodels reports it as the ARMA
//! equation's intercept, `μ φ(1) Φ(1)`).
//!
//! How it agrees with statsmodels (whose default puts the differences in the state
//! vector with an exact diffuse initialisation): that likelihood equals the exact
//! likelihood of the differenced series with the stationary initialisation used here,
//! so the estimates, log-likelihood and information criteria are the same, and the
//! forecasts of `y` (mean and variance) come from the same state-space recursions.
//! The regression coefficients, the mean and `σ²` are concentrated out of the
//! likelihood (generalised least squares through the filter), which leaves the
//! optimiser only the ARMA coefficients, in a parametrisation that keeps the AR part
//! stationary and the MA part invertible.
//!
//! Checked against statsmodels and Stata (tests/oracles/arima.py ->
//! tests/fixtures/ts/arima.json).

pub mod auto;
mod ssm;

use std::fmt;

/// The orders of a seasonal ARIMA: `(p, d, q)(P, D, Q, s)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Order {
    /// Autoregressive order.
    pub p: usize,
    /// Differences.
    pub d: usize,
    /// Moving-average order.
    pub q: usize,
    /// Seasonal autoregressive order.
    pub sp: usize,
    /// Seasonal differences.
    pub sd: usize,
    /// Seasonal moving-average order.
    pub sq: usize,
    /// Season length (0 or 1: no seasonal part).
    pub s: usize,
}

impl Order {
    /// A non-seasonal `(p, d, q)`.
    pub fn arima(p: usize, d: usize, q: usize) -> Self {
        Self {
            p,
            d,
            q,
            ..Self::default()
        }
    }

    /// A seasonal `(p, d, q)(P, D, Q, s)`.
    pub fn sarima(p: usize, d: usize, q: usize, sp: usize, sd: usize, sq: usize, s: usize) -> Self {
        Self {
            p,
            d,
            q,
            sp,
            sd,
            sq,
            s,
        }
    }

    fn season(&self) -> usize {
        if self.sp + self.sd + self.sq == 0 {
            0
        } else {
            self.s
        }
    }

    /// How many observations the differences use up.
    pub fn lost(&self) -> usize {
        self.d + self.sd * self.season()
    }

    fn n_arma(&self) -> usize {
        self.p + self.q + self.sp + self.sq
    }
}

impl fmt::Display for Order {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({},{},{})", self.p, self.d, self.q)?;
        if self.season() > 0 {
            write!(f, "({},{},{},{})", self.sp, self.sd, self.sq, self.s)?;
        }
        Ok(())
    }
}

/// Why a model cannot be fitted.
#[derive(Debug, Clone, PartialEq)]
pub enum ArimaError {
    /// Too few observations for the orders.
    TooShort {
        /// Observations given.
        n: usize,
        /// Observations needed.
        needed: usize,
    },
    /// A value is NaN or infinite.
    NotFinite(&'static str),
    /// The regressors do not match the series.
    Shape(String),
    /// `s` is below 2 while seasonal orders are set.
    Season,
    /// The regressors are collinear (after differencing).
    Singular,
}

impl fmt::Display for ArimaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArimaError::TooShort { n, needed } => write!(
                f,
                "{n} observations are too few for this model: it needs at least {needed}"
            ),
            ArimaError::NotFinite(what) => write!(f, "the {what} contain NaN or infinite values"),
            ArimaError::Shape(m) => f.write_str(m),
            ArimaError::Season => f.write_str("seasonal orders need a season length of at least 2"),
            ArimaError::Singular => f.write_str(
                "the regressors are collinear once differenced (a constant column with \
                 differencing, or duplicated columns)",
            ),
        }
    }
}

impl std::error::Error for ArimaError {}

/// The estimated coefficients.
#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    /// φ_1..φ_p.
    pub ar: Vec<f64>,
    /// θ_1..θ_q.
    pub ma: Vec<f64>,
    /// Φ_1..Φ_P.
    pub sar: Vec<f64>,
    /// Θ_1..Θ_Q.
    pub sma: Vec<f64>,
    /// μ, the mean of the differenced series (constant trend only).
    pub mean: Option<f64>,
    /// β, one per regressor.
    pub beta: Vec<f64>,
    /// σ², the innovation variance.
    pub sigma2: f64,
}

impl Params {
    /// The intercept of the ARMA equation, as statsmodels reports `intercept`:
    /// `μ φ(1) Φ(1)`.
    pub fn intercept(&self) -> Option<f64> {
        let one = |c: &[f64]| 1.0 - c.iter().sum::<f64>();
        self.mean.map(|m| m * one(&self.ar) * one(&self.sar))
    }
}

/// A fitted model.
#[derive(Debug, Clone)]
pub struct Fit {
    /// The orders.
    pub order: Order,
    /// The estimates.
    pub params: Params,
    /// The log-likelihood (of the differenced series, as statsmodels and Stata report it).
    pub llf: f64,
    /// Observations in the likelihood (`n − d − D s`).
    pub nobs: usize,
    /// Estimated parameters, `σ²` included.
    pub k: usize,
    /// Likelihood evaluations the optimiser used.
    pub evaluations: usize,
    state: ssm::EndState,
}

impl Fit {
    /// Akaike's information criterion.
    pub fn aic(&self) -> f64 {
        -2.0 * self.llf + 2.0 * self.k as f64
    }

    /// Schwarz's Bayesian information criterion.
    pub fn bic(&self) -> f64 {
        -2.0 * self.llf + self.k as f64 * (self.nobs as f64).ln()
    }

    /// AIC corrected for small samples.
    pub fn aicc(&self) -> f64 {
        let (k, n) = (self.k as f64, self.nobs as f64);
        self.aic() + 2.0 * k * (k + 1.0) / (n - k - 1.0)
    }

    /// Forecasts `future.len()` steps ahead (`h` when there are no regressors: pass
    /// `&vec![vec![]; h]`), with the regressors' future values.
    pub fn forecast(&self, future: &[Vec<f64>]) -> Result<Forecast, ArimaError> {
        if future.iter().any(|r| r.len() != self.params.beta.len()) {
            return Err(ArimaError::Shape(format!(
                "the model has {} regressors; every future row needs that many values",
                self.params.beta.len()
            )));
        }
        if future.iter().flatten().any(|v| !v.is_finite()) {
            return Err(ArimaError::NotFinite("future regressors"));
        }
        Ok(ssm::forecast(
            &self.order,
            &self.params,
            &self.state,
            future,
        ))
    }

    /// Forecasts `h` steps of a model without regressors.
    pub fn forecast_h(&self, h: usize) -> Result<Forecast, ArimaError> {
        self.forecast(&vec![Vec::new(); h])
    }
}

/// Point forecasts and their variances.
#[derive(Debug, Clone, PartialEq)]
pub struct Forecast {
    /// The expected values.
    pub mean: Vec<f64>,
    /// The forecast error variances.
    pub var: Vec<f64>,
}

impl Forecast {
    /// The `level` (e.g. 0.95) prediction interval of each step.
    pub fn interval(&self, level: f64) -> Vec<(f64, f64)> {
        let z = std::f64::consts::SQRT_2 * statrs::function::erf::erf_inv(level);
        self.mean
            .iter()
            .zip(&self.var)
            .map(|(m, v)| (m - z * v.sqrt(), m + z * v.sqrt()))
            .collect()
    }
}

/// The data of a fit: the series and its regressors (one row per observation).
pub struct Data<'a> {
    /// The series.
    pub y: &'a [f64],
    /// Regressors, one row per observation (empty rows: none).
    pub x: &'a [Vec<f64>],
}

fn check(order: &Order, y: &[f64], x: &[Vec<f64>], constant: bool) -> Result<usize, ArimaError> {
    if order.sp + order.sd + order.sq > 0 && order.s < 2 {
        return Err(ArimaError::Season);
    }
    if y.iter().any(|v| !v.is_finite()) {
        return Err(ArimaError::NotFinite("series"));
    }
    let k = x.first().map_or(0, Vec::len);
    if !x.is_empty() && (x.len() != y.len() || x.iter().any(|r| r.len() != k)) {
        return Err(ArimaError::Shape(format!(
            "the regressors have {} rows for {} observations, or rows of different lengths",
            x.len(),
            y.len()
        )));
    }
    if x.iter().flatten().any(|v| !v.is_finite()) {
        return Err(ArimaError::NotFinite("regressors"));
    }
    let s = order.season();
    let needed = order.lost()
        + (order.p + order.sp * s).max(order.q + order.sq * s)
        + k
        + usize::from(constant)
        + 2;
    if y.len() < needed {
        return Err(ArimaError::TooShort { n: y.len(), needed });
    }
    Ok(k)
}

/// Fits `order` to the data by exact maximum likelihood; `constant` adds the mean of
/// the differenced series (statsmodels' `trend="c"`).
pub fn fit(data: &Data<'_>, order: Order, constant: bool) -> Result<Fit, ArimaError> {
    fit_from(data, order, constant, None)
}

/// [`fit`], starting the search from the coefficients of a related model (the
/// stepwise search's current best: a lag it lacks starts at zero, a lag this model lacks
/// is dropped).
pub fn fit_from(
    data: &Data<'_>,
    order: Order,
    constant: bool,
    start: Option<&Params>,
) -> Result<Fit, ArimaError> {
    check(&order, data.y, data.x, constant)?;
    let problem = ssm::Problem::new(&order, data.y, data.x, constant);
    let n_arma = order.n_arma();
    let mut evaluations = 0usize;
    let objective = |z: &[f64]| {
        evaluations += 1;
        let c = constrain(&order, z);
        problem
            .profile(&c)
            .map_or(f64::INFINITY, |p| -p.llf / problem.nobs() as f64)
    };
    let z = if n_arma == 0 {
        Vec::new()
    } else {
        let z0 = start.map_or_else(|| vec![0.0; n_arma], |p| unconstrain(&order, p));
        crate::optim::bfgs(objective, z0)
    };
    let coefs = constrain(&order, &z);
    let profile = problem.profile(&coefs).ok_or(ArimaError::Singular)?;
    let params = Params {
        ar: coefs.ar.clone(),
        ma: coefs.ma.clone(),
        sar: coefs.sar.clone(),
        sma: coefs.sma.clone(),
        mean: constant.then(|| profile.beta[0]),
        beta: profile.beta[usize::from(constant)..].to_vec(),
        sigma2: profile.sigma2,
    };
    let state = problem.end_state(&coefs, &params);
    Ok(Fit {
        order,
        k: n_arma + usize::from(constant) + params.beta.len() + 1,
        llf: profile.llf,
        nobs: problem.nobs(),
        params,
        evaluations,
        state,
    })
}

/// The exact log-likelihood at given parameters (statsmodels' `model.filter(params).llf`).
pub fn loglike(data: &Data<'_>, order: Order, params: &Params) -> Result<f64, ArimaError> {
    check(&order, data.y, data.x, params.mean.is_some())?;
    let problem = ssm::Problem::new(&order, data.y, data.x, params.mean.is_some());
    Ok(problem.loglike(params))
}

/// The ARMA coefficients, as the optimiser hands them over.
#[derive(Debug, Clone, Default)]
pub(crate) struct Coefs {
    pub ar: Vec<f64>,
    pub ma: Vec<f64>,
    pub sar: Vec<f64>,
    pub sma: Vec<f64>,
}

/// A model with given parameters (no estimation), ready to forecast.
pub fn with_params(data: &Data<'_>, order: Order, params: Params) -> Result<Fit, ArimaError> {
    check(&order, data.y, data.x, params.mean.is_some())?;
    let problem = ssm::Problem::new(&order, data.y, data.x, params.mean.is_some());
    let coefs = Coefs {
        ar: params.ar.clone(),
        ma: params.ma.clone(),
        sar: params.sar.clone(),
        sma: params.sma.clone(),
    };
    let state = problem.end_state(&coefs, &params);
    Ok(Fit {
        order,
        k: order.n_arma() + usize::from(params.mean.is_some()) + params.beta.len() + 1,
        llf: problem.loglike(&params),
        nobs: problem.nobs(),
        params,
        evaluations: 0,
        state,
    })
}

/// Unconstrained values to the coefficients of a stationary polynomial
/// `1 − Σ φ_j B^j` (Durbin–Levinson over partial autocorrelations in (−1, 1)).
fn stationary(z: &[f64]) -> Vec<f64> {
    let mut phi: Vec<f64> = Vec::with_capacity(z.len());
    for (k, v) in z.iter().enumerate() {
        let r = v / (1.0 + v * v).sqrt();
        let prev = phi.clone();
        for j in 0..k {
            phi[j] = prev[j] - r * prev[k - 1 - j];
        }
        phi.push(r);
    }
    phi
}

/// The partial autocorrelations of a stationary polynomial `1 − Σ φ_j B^j` (the
/// Durbin–Levinson recursion run backwards), as the optimiser's unconstrained values,
/// truncated or padded with zeros to `len`.
fn unstationary(phi: &[f64], len: usize) -> Vec<f64> {
    let mut a = phi.to_vec();
    let mut r = vec![0.0; a.len()];
    for k in (0..a.len()).rev() {
        let rk = a[k].clamp(-0.999_999, 0.999_999);
        r[k] = rk;
        let prev: Vec<f64> = (0..k)
            .map(|j| (a[j] + rk * a[k - 1 - j]) / (1.0 - rk * rk))
            .collect();
        a.truncate(k);
        a.copy_from_slice(&prev);
    }
    let mut z: Vec<f64> = r.iter().map(|v| v / (1.0 - v * v).sqrt()).collect();
    z.resize(len, 0.0);
    z
}

/// The optimiser's point for a model's coefficients (a start for a related order).
fn unconstrain(order: &Order, p: &Params) -> Vec<f64> {
    let neg = |v: &[f64]| v.iter().map(|c| -c).collect::<Vec<f64>>();
    let mut z = unstationary(&p.ar, order.p);
    z.extend(unstationary(&neg(&p.ma), order.q));
    z.extend(unstationary(&p.sar, order.sp));
    z.extend(unstationary(&neg(&p.sma), order.sq));
    if z.iter().all(|v| v.is_finite()) {
        z
    } else {
        vec![0.0; order.n_arma()]
    }
}

/// The ARMA coefficients for a point of the optimiser's space: a stationary AR and an
/// invertible MA (the MA polynomial `1 + Σ θ_j B^j` is a stationary one's mirror).
fn constrain(order: &Order, z: &[f64]) -> Coefs {
    let (p, q, sp) = (order.p, order.q, order.sp);
    let neg = |v: Vec<f64>| v.into_iter().map(|c| -c).collect();
    Coefs {
        ar: stationary(&z[..p]),
        ma: neg(stationary(&z[p..p + q])),
        sar: stationary(&z[p + q..p + q + sp]),
        sma: neg(stationary(&z[p + q + sp..])),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backward_recursion_inverts_the_forward_one() {
        let z = [0.4, -1.2, 0.7];
        let back = unstationary(&stationary(&z), 3);
        for (a, b) in z.iter().zip(&back) {
            assert!((a - b).abs() < 1e-9, "{z:?} vs {back:?}");
        }
        // Padding keeps the polynomial.
        let padded = stationary(&unstationary(&stationary(&z), 5));
        assert!(padded[3].abs() < 1e-12 && (padded[0] - stationary(&z)[0]).abs() < 1e-12);
    }

    #[test]
    fn partial_autocorrelations_give_stationary_polynomials() {
        // One coefficient: φ = r.
        let phi = stationary(&[1.0]);
        assert!((phi[0] - 1.0 / 2f64.sqrt()).abs() < 1e-15);
        // Two: φ1 = r1 (1 − r2), φ2 = r2.
        let z = [0.5f64, -0.3];
        let r: Vec<f64> = z.iter().map(|v| v / (1.0 + v * v).sqrt()).collect();
        let phi = stationary(&z);
        assert!((phi[0] - r[0] * (1.0 - r[1])).abs() < 1e-15);
        assert!((phi[1] - r[1]).abs() < 1e-15);
    }
}
