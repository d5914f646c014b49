//! Exponential smoothing: simple, Holt's linear trend (optionally damped) and
//! Holt-Winters with additive or multiplicative seasonality, with the recursions,
//! parameter bounds and information criteria of statsmodels' `ExponentialSmoothing`.
//!
//! Fitting minimises the sum of squared one-step errors over the smoothing parameters
//! and the initial states, within statsmodels' bounds: `0 ≤ α ≤ 1`, `0 ≤ β ≤ α`,
//! `0 ≤ γ ≤ 1 − α`, `0.8 ≤ φ ≤ 0.995`. Checked against statsmodels
//! (tests/oracles/ets.py -> tests/fixtures/ts/ets.json).

use std::fmt;

/// The seasonal component.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Season {
    /// `ŷ = level + trend + season`.
    Additive,
    /// `ŷ = (level + trend) × season`.
    Multiplicative,
}

/// Which components the model has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Spec {
    /// An additive trend (Holt).
    pub trend: bool,
    /// The trend is damped by `φ`.
    pub damped: bool,
    /// Seasonality and its period.
    pub season: Option<(Season, usize)>,
}

impl Spec {
    fn period(&self) -> usize {
        self.season.map_or(0, |(_, m)| m)
    }

    /// statsmodels' count of estimated parameters (smoothing parameters and initial
    /// states; AIC, AICc, BIC).
    fn k(&self) -> usize {
        self.period() + 2 * usize::from(self.trend) + 2 + usize::from(self.damped)
    }
}

/// Smoothing parameters and initial states.
#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    /// Level smoothing.
    pub alpha: f64,
    /// Trend smoothing.
    pub beta: f64,
    /// Seasonal smoothing.
    pub gamma: f64,
    /// Damping (1 when not damped).
    pub phi: f64,
    /// The level before the first observation.
    pub level: f64,
    /// The trend before the first observation.
    pub trend: f64,
    /// The seasonal states of the period before the first observation, oldest first.
    pub season: Vec<f64>,
}

/// Why a model cannot be fitted.
#[derive(Debug, Clone, PartialEq)]
pub enum EtsError {
    /// Too few observations.
    TooShort {
        /// Observations given.
        n: usize,
        /// Needed.
        needed: usize,
    },
    /// NaN or infinite values.
    NotFinite,
    /// Multiplicative seasonality needs positive data.
    NotPositive,
    /// A season length below 2.
    Season,
}

impl fmt::Display for EtsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EtsError::TooShort { n, needed } => write!(
                f,
                "{n} observations are too few for this model: it needs at least {needed}"
            ),
            EtsError::NotFinite => f.write_str("the series contains NaN or infinite values"),
            EtsError::NotPositive => {
                f.write_str("multiplicative seasonality needs a series of positive values")
            }
            EtsError::Season => f.write_str("a seasonal model needs a season length of at least 2"),
        }
    }
}

impl std::error::Error for EtsError {}

/// The states after the last observation.
#[derive(Debug, Clone, PartialEq)]
struct End {
    level: f64,
    trend: f64,
    /// Seasonal states by position `t mod m`.
    season: Vec<f64>,
    n: usize,
}

/// Runs the recursions; returns the one-step fitted values and the final states.
fn run(y: &[f64], spec: &Spec, p: &Params) -> (Vec<f64>, End) {
    let m = spec.period();
    let phi = if spec.damped { p.phi } else { 1.0 };
    let (mut l, mut b) = (p.level, if spec.trend { p.trend } else { 0.0 });
    let mut s = p.season.clone();
    let mut fitted = Vec::with_capacity(y.len());
    for (t, &obs) in y.iter().enumerate() {
        let trended = l + phi * b;
        let (fit, level) = match spec.season {
            None => (trended, p.alpha * obs + (1.0 - p.alpha) * trended),
            Some((Season::Additive, _)) => {
                let sp = s[t % m];
                (
                    trended + sp,
                    p.alpha * (obs - sp) + (1.0 - p.alpha) * trended,
                )
            }
            Some((Season::Multiplicative, _)) => {
                let sp = s[t % m];
                (trended * sp, p.alpha * obs / sp + (1.0 - p.alpha) * trended)
            }
        };
        fitted.push(fit);
        if spec.trend {
            b = p.beta * (level - l) + (1.0 - p.beta) * phi * b;
        }
        match spec.season {
            Some((Season::Additive, _)) => {
                s[t % m] = p.gamma * (obs - trended) + (1.0 - p.gamma) * s[t % m];
            }
            Some((Season::Multiplicative, _)) => {
                s[t % m] = p.gamma * obs / trended + (1.0 - p.gamma) * s[t % m];
            }
            None => {}
        }
        l = level;
    }
    (
        fitted,
        End {
            level: l,
            trend: b,
            season: s,
            n: y.len(),
        },
    )
}

/// A fitted (or fixed) model.
#[derive(Debug, Clone)]
pub struct Fit {
    /// The components.
    pub spec: Spec,
    /// The parameters.
    pub params: Params,
    /// One-step fitted values.
    pub fitted: Vec<f64>,
    /// Sum of squared one-step errors.
    pub sse: f64,
    end: End,
}

impl Fit {
    fn n(&self) -> f64 {
        self.fitted.len() as f64
    }

    /// statsmodels' AIC: `n ln(SSE/n) + 2k`.
    pub fn aic(&self) -> f64 {
        self.n() * (self.sse / self.n()).ln() + 2.0 * self.spec.k() as f64
    }

    /// statsmodels' AICc.
    pub fn aicc(&self) -> f64 {
        let k = self.spec.k() as f64;
        let dof = self.n() - k - 3.0;
        if dof > 0.0 {
            self.aic() + 2.0 * (k + 2.0) * (k + 3.0) / dof
        } else {
            f64::INFINITY
        }
    }

    /// statsmodels' BIC.
    pub fn bic(&self) -> f64 {
        self.n() * (self.sse / self.n()).ln() + self.spec.k() as f64 * self.n().ln()
    }

    /// Point forecasts `h` steps ahead.
    pub fn forecast(&self, h: usize) -> Vec<f64> {
        let e = &self.end;
        let phi = if self.spec.damped {
            self.params.phi
        } else {
            1.0
        };
        let mut damp = 0.0;
        let mut power = 1.0;
        (1..=h)
            .map(|k| {
                power *= phi;
                damp += power;
                let trended = e.level + if self.spec.trend { damp * e.trend } else { 0.0 };
                match self.spec.season {
                    None => trended,
                    Some((kind, m)) => {
                        let s = e.season[(e.n + k - 1) % m];
                        match kind {
                            Season::Additive => trended + s,
                            Season::Multiplicative => trended * s,
                        }
                    }
                }
            })
            .collect()
    }
}

fn check(y: &[f64], spec: &Spec) -> Result<(), EtsError> {
    if y.iter().any(|v| !v.is_finite()) {
        return Err(EtsError::NotFinite);
    }
    if let Some((kind, m)) = spec.season {
        if m < 2 {
            return Err(EtsError::Season);
        }
        if kind == Season::Multiplicative && y.iter().any(|v| *v <= 0.0) {
            return Err(EtsError::NotPositive);
        }
    }
    let needed = (2 * spec.period()).max(spec.k() + 4);
    if y.len() < needed {
        return Err(EtsError::TooShort { n: y.len(), needed });
    }
    Ok(())
}

/// The model at given parameters (statsmodels' `fit(optimized=False)` with known
/// initial states).
pub fn with_params(y: &[f64], spec: Spec, params: Params) -> Result<Fit, EtsError> {
    check(y, &spec)?;
    let (fitted, end) = run(y, &spec, &params);
    let sse = y.iter().zip(&fitted).map(|(a, b)| (a - b).powi(2)).sum();
    Ok(Fit {
        spec,
        params,
        fitted,
        sse,
        end,
    })
}

fn logistic(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

fn logit(p: f64) -> f64 {
    let p = p.clamp(1e-6, 1.0 - 1e-6);
    (p / (1.0 - p)).ln()
}

/// Maps the optimiser's unconstrained vector into parameters within the bounds.
struct Layout {
    spec: Spec,
    scale: f64,
}

impl Layout {
    fn params(&self, z: &[f64]) -> Params {
        let mut i = 0;
        let mut next = || {
            i += 1;
            z[i - 1]
        };
        let alpha = logistic(next());
        let beta = if self.spec.trend {
            alpha * logistic(next())
        } else {
            0.0
        };
        let gamma = if self.spec.season.is_some() {
            (1.0 - alpha) * logistic(next())
        } else {
            0.0
        };
        let phi = if self.spec.damped {
            0.8 + 0.195 * logistic(next())
        } else {
            1.0
        };
        let level = next() * self.scale;
        let trend = if self.spec.trend {
            next() * self.scale
        } else {
            0.0
        };
        let season = match self.spec.season {
            Some((Season::Additive, m)) => (0..m).map(|_| next() * self.scale).collect(),
            Some((Season::Multiplicative, m)) => (0..m).map(|_| next().exp()).collect(),
            None => Vec::new(),
        };
        Params {
            alpha,
            beta,
            gamma,
            phi,
            level,
            trend,
            season,
        }
    }

    fn point(&self, p: &Params) -> Vec<f64> {
        let mut z = vec![logit(p.alpha)];
        if self.spec.trend {
            z.push(logit(p.beta / p.alpha.max(1e-12)));
        }
        if self.spec.season.is_some() {
            z.push(logit(p.gamma / (1.0 - p.alpha).max(1e-12)));
        }
        if self.spec.damped {
            z.push(logit((p.phi - 0.8) / 0.195));
        }
        z.push(p.level / self.scale);
        if self.spec.trend {
            z.push(p.trend / self.scale);
        }
        match self.spec.season {
            Some((Season::Additive, _)) => z.extend(p.season.iter().map(|s| s / self.scale)),
            Some((Season::Multiplicative, _)) => z.extend(p.season.iter().map(|s| s.ln())),
            None => {}
        }
        z
    }
}

/// statsmodels' simple initial states: the first period's mean, the change of the
/// mean between the first two periods, and the first period's deviations (ratios).
fn initial_states(y: &[f64], spec: &Spec) -> (f64, f64, Vec<f64>) {
    let m = spec.period().max(1);
    let mean = |s: &[f64]| s.iter().sum::<f64>() / s.len() as f64;
    let level = mean(&y[..m]);
    let trend = if spec.trend {
        if spec.season.is_some() {
            (mean(&y[m..2 * m]) - level) / m as f64
        } else {
            y[1] - y[0]
        }
    } else {
        0.0
    };
    let season = match spec.season {
        Some((Season::Additive, _)) => y[..m].iter().map(|v| v - level).collect(),
        Some((Season::Multiplicative, _)) => y[..m].iter().map(|v| v / level).collect(),
        None => Vec::new(),
    };
    (level, trend, season)
}

/// Fits the smoothing parameters and initial states by least squares.
pub fn fit(y: &[f64], spec: Spec) -> Result<Fit, EtsError> {
    check(y, &spec)?;
    let scale = (y.iter().map(|v| v.abs()).sum::<f64>() / y.len() as f64).max(1e-12);
    let layout = Layout { spec, scale };
    let (level, trend, season) = initial_states(y, &spec);
    let sse = |p: &Params| -> f64 {
        let (fitted, _) = run(y, &spec, p);
        let s: f64 = y.iter().zip(&fitted).map(|(a, b)| (a - b).powi(2)).sum();
        if s.is_finite() {
            s / (scale * scale)
        } else {
            f64::INFINITY
        }
    };
    // A coarse grid over the smoothing parameters from the simple initial states
    // (statsmodels' brute start), then BFGS over everything from the best few.
    let grid = [0.05, 0.2, 0.5, 0.8, 0.95];
    let mut starts: Vec<(f64, Params)> = Vec::new();
    for &a in &grid {
        for &b in if spec.trend { &grid[..] } else { &grid[..1] } {
            for &g in if spec.season.is_some() {
                &grid[..]
            } else {
                &grid[..1]
            } {
                let p = Params {
                    alpha: a,
                    beta: b * a,
                    gamma: g * (1.0 - a),
                    phi: 0.98,
                    level,
                    trend,
                    season: season.clone(),
                };
                starts.push((sse(&p), p));
            }
        }
    }
    starts.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut best: Option<(f64, Params)> = None;
    for (_, start) in starts.into_iter().take(3) {
        let z = crate::optim::bfgs(|z| sse(&layout.params(z)), layout.point(&start));
        let p = layout.params(&z);
        let v = sse(&p);
        if best.as_ref().is_none_or(|(b, _)| v < *b) {
            best = Some((v, p));
        }
    }
    let (_, params) = best.expect("at least one start");
    with_params(y, spec, params)
}
