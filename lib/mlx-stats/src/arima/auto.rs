//! Automatic order selection, as `pmdarima.auto_arima` and R's `forecast::auto.arima`
//! do it: the seasonal differences from the seasonal strength, the differences from
//! KPSS tests, then a stepwise search over the ARMA orders on an information
//! criterion (Hyndman & Khandakar, 2008).
//!
//! The seasonal test is the seasonal-strength rule (`F_s > 0.64` over a classical
//! decomposition; Wang, Smith & Hyndman, R's `nsdiffs` default) rather than
//! pmdarima's OCSB regression.

use std::collections::BTreeMap;

use rayon::prelude::*;

use super::{fit_from, ArimaError, Data, Fit, Order, Params};

/// The criterion the search minimises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Criterion {
    /// Akaike (pmdarima's default).
    #[default]
    Aic,
    /// Small-sample corrected Akaike (R's default).
    Aicc,
    /// Schwarz.
    Bic,
}

impl Criterion {
    fn of(self, f: &Fit) -> f64 {
        match self {
            Criterion::Aic => f.aic(),
            Criterion::Aicc => f.aicc(),
            Criterion::Bic => f.bic(),
        }
    }
}

/// Limits of the search (pmdarima's defaults).
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Season length (1: none).
    pub m: usize,
    /// Largest p and q.
    pub max_p: usize,
    /// Largest q.
    pub max_q: usize,
    /// Largest P.
    pub max_sp: usize,
    /// Largest Q.
    pub max_sq: usize,
    /// Largest d.
    pub max_d: usize,
    /// Largest D.
    pub max_sd: usize,
    /// Models fitted at most.
    pub max_fits: usize,
    /// What to minimise.
    pub criterion: Criterion,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            m: 1,
            max_p: 5,
            max_q: 5,
            max_sp: 2,
            max_sq: 2,
            max_d: 2,
            max_sd: 1,
            max_fits: 100,
            criterion: Criterion::Aic,
        }
    }
}

/// The selected model and the search's record.
#[derive(Debug, Clone)]
pub struct Selected {
    /// The best model.
    pub fit: Fit,
    /// Whether it has a constant.
    pub constant: bool,
    /// Every model fitted: orders, constant, criterion (infinite when it failed).
    pub tried: Vec<(Order, bool, f64)>,
}

/// The KPSS statistic for level stationarity with Bartlett weights over
/// `⌊4 (n/100)^¼⌋` lags (pmdarima's short rule; statsmodels' `kpss(regression="c")`
/// with those lags).
pub fn kpss(y: &[f64]) -> f64 {
    let n = y.len();
    let mean = y.iter().sum::<f64>() / n as f64;
    let e: Vec<f64> = y.iter().map(|v| v - mean).collect();
    let mut s = 0.0;
    let eta: f64 = e
        .iter()
        .map(|v| {
            s += v;
            s * s
        })
        .sum::<f64>()
        / (n * n) as f64;
    let lags = (4.0 * (n as f64 / 100.0).powf(0.25)) as usize;
    let mut lrv = e.iter().map(|v| v * v).sum::<f64>() / n as f64;
    for l in 1..=lags {
        let g: f64 = (l..n).map(|t| e[t] * e[t - l]).sum::<f64>() / n as f64;
        lrv += 2.0 * (1.0 - l as f64 / (lags as f64 + 1.0)) * g;
    }
    eta / lrv
}

/// Differences needed for KPSS to accept stationarity at 5% (statistic ≤ 0.463),
/// at most `max_d`.
pub fn ndiffs(y: &[f64], max_d: usize) -> usize {
    let mut x = y.to_vec();
    let mut d = 0;
    while d < max_d && x.len() > 3 && kpss(&x) > 0.463 {
        x = x.windows(2).map(|w| w[1] - w[0]).collect();
        d += 1;
        if x.iter().all(|v| *v == x[0]) {
            break;
        }
    }
    d
}

/// The seasonal strength `max(0, 1 − Var(R)/Var(S + R))` of a classical additive
/// decomposition (centred moving-average trend; statsmodels' `seasonal_decompose`).
pub fn seasonal_strength(y: &[f64], m: usize) -> f64 {
    let n = y.len();
    if m < 2 || n < 2 * m + 1 {
        return 0.0;
    }
    // Centred moving average: m + 1 weights (halves at the ends) for even m, m for odd.
    let weights: Vec<f64> = if m.is_multiple_of(2) {
        (0..=m)
            .map(|i| if i == 0 || i == m { 0.5 } else { 1.0 } / m as f64)
            .collect()
    } else {
        vec![1.0 / m as f64; m]
    };
    let half = weights.len() / 2;
    let mut detrended = vec![f64::NAN; n];
    for t in half..n - half {
        let trend: f64 = weights
            .iter()
            .enumerate()
            .map(|(i, w)| w * y[t + i - half])
            .sum();
        detrended[t] = y[t] - trend;
    }
    let mut means: Vec<f64> = (0..m)
        .map(|i| {
            let v: Vec<f64> = detrended
                .iter()
                .skip(i)
                .step_by(m)
                .copied()
                .filter(|v| !v.is_nan())
                .collect();
            v.iter().sum::<f64>() / v.len() as f64
        })
        .collect();
    let grand = means.iter().sum::<f64>() / m as f64;
    for v in &mut means {
        *v -= grand;
    }
    let (mut r, mut sr) = (Vec::new(), Vec::new());
    for (t, d) in detrended.iter().enumerate() {
        if !d.is_nan() {
            r.push(d - means[t % m]);
            sr.push(*d);
        }
    }
    let var = |v: &[f64]| {
        let mu = v.iter().sum::<f64>() / v.len() as f64;
        v.iter().map(|x| (x - mu).powi(2)).sum::<f64>() / v.len() as f64
    };
    (1.0 - var(&r) / var(&sr)).max(0.0)
}

/// Seasonal differences: one when the seasonal strength is above 0.64.
pub fn nsdiffs(y: &[f64], m: usize, max_sd: usize) -> usize {
    usize::from(max_sd > 0 && seasonal_strength(y, m) > 0.64)
}

/// Selects and fits a model.
pub fn auto_arima(data: &Data<'_>, opts: &Options) -> Result<Selected, ArimaError> {
    let m = if opts.m >= 2 { opts.m } else { 0 };
    let sd = if m > 0 {
        nsdiffs(data.y, m, opts.max_sd)
    } else {
        0
    };
    let mut z = data.y.to_vec();
    for _ in 0..sd {
        z = (m..z.len()).map(|t| z[t] - z[t - m]).collect();
    }
    let d = ndiffs(&z, opts.max_d);
    let constant_ok = d + sd < 2;
    let (max_sp, max_sq) = if m > 0 {
        (opts.max_sp, opts.max_sq)
    } else {
        (0, 0)
    };
    let order = |p, q, sp, sq| Order::sarima(p, d, q, sp, sd, sq, m.max(1));

    type Key = (usize, usize, usize, usize, bool);
    let mut cache: BTreeMap<Key, (f64, Option<Fit>)> = BTreeMap::new();
    let mut tried = Vec::new();
    let allowed = |&(p, q, sp, sq, c): &Key| {
        p <= opts.max_p && q <= opts.max_q && sp <= max_sp && sq <= max_sq && (!c || constant_ok)
    };
    // Fits the models not fitted yet (in parallel: the stepwise rounds are independent
    // fits) and returns each key's criterion.
    let mut evaluate = |keys: &[Key], start: Option<Params>| -> Vec<(f64, Option<Params>)> {
        let mut fresh: Vec<Key> = Vec::new();
        for k in keys.iter().filter(|k| allowed(k)) {
            if !cache.contains_key(k)
                && !fresh.contains(k)
                && cache.len() + fresh.len() < opts.max_fits
            {
                fresh.push(*k);
            }
        }
        // Each new model starts from the current best's coefficients.
        let fits: Vec<(Key, Option<Fit>)> = fresh
            .par_iter()
            .map(|&(p, q, sp, sq, c)| {
                let f = fit_from(data, order(p, q, sp, sq), c, start.as_ref()).ok();
                ((p, q, sp, sq, c), f)
            })
            .collect();
        for (k, f) in fits {
            let v = f.as_ref().map_or(f64::INFINITY, |f| opts.criterion.of(f));
            tried.push((order(k.0, k.1, k.2, k.3), k.4, v));
            cache.insert(k, (v, f));
        }
        keys.iter()
            .map(|k| {
                cache.get(k).map_or((f64::INFINITY, None), |(v, f)| {
                    (*v, f.as_ref().map(|f| f.params.clone()))
                })
            })
            .collect()
    };

    let (s1, s0) = if m > 0 { (1, 0) } else { (0, 0) };
    let mut starts: Vec<Key> = [
        (2, 2, s1, s1),
        (0, 0, s0, s0),
        (1, 0, s1, s0),
        (0, 1, s0, s1),
    ]
    .into_iter()
    .map(|(p, q, sp, sq)| (p, q, sp, sq, constant_ok))
    .collect();
    if constant_ok {
        starts.push((0, 0, 0, 0, false));
    }
    let mut best = (f64::INFINITY, (0, 0, 0, 0, constant_ok));
    let mut best_params = None;
    for (k, (v, params)) in starts.iter().zip(evaluate(&starts, None)) {
        if v < best.0 {
            best = (v, *k);
            best_params = params;
        }
    }
    loop {
        let (p, q, sp, sq, c) = best.1;
        let dec = |v: usize| v.checked_sub(1);
        let mut candidates: Vec<Key> = Vec::new();
        let mut push =
            |p: Option<usize>, q: Option<usize>, sp: Option<usize>, sq: Option<usize>, c: bool| {
                if let (Some(p), Some(q), Some(sp), Some(sq)) = (p, q, sp, sq) {
                    candidates.push((p, q, sp, sq, c));
                }
            };
        let (sp_, sq_) = (Some(sp), Some(sq));
        if m > 0 {
            push(Some(p), Some(q), dec(sp), sq_, c);
            push(Some(p), Some(q), Some(sp + 1), sq_, c);
            push(Some(p), Some(q), sp_, dec(sq), c);
            push(Some(p), Some(q), sp_, Some(sq + 1), c);
            push(Some(p), Some(q), dec(sp), dec(sq), c);
            push(Some(p), Some(q), Some(sp + 1), Some(sq + 1), c);
        }
        push(dec(p), Some(q), sp_, sq_, c);
        push(Some(p + 1), Some(q), sp_, sq_, c);
        push(Some(p), dec(q), sp_, sq_, c);
        push(Some(p), Some(q + 1), sp_, sq_, c);
        push(dec(p), dec(q), sp_, sq_, c);
        push(Some(p + 1), Some(q + 1), sp_, sq_, c);
        push(dec(p), Some(q + 1), sp_, sq_, c);
        push(Some(p + 1), dec(q), sp_, sq_, c);
        if constant_ok {
            push(Some(p), Some(q), sp_, sq_, !c);
        }
        let mut improved = false;
        for (k, (v, params)) in candidates
            .iter()
            .zip(evaluate(&candidates, best_params.clone()))
        {
            if v < best.0 - 1e-9 {
                best = (v, *k);
                best_params = params;
                improved = true;
            }
        }
        if !improved {
            break;
        }
    }
    let key = best.1;
    let (_, fitted) = cache.remove(&key).ok_or(ArimaError::TooShort {
        n: data.y.len(),
        needed: order(0, 0, 0, 0).lost() + 3,
    })?;
    let fit = fitted.ok_or(ArimaError::TooShort {
        n: data.y.len(),
        needed: order(0, 0, 0, 0).lost() + 3,
    })?;
    Ok(Selected {
        fit,
        constant: key.4,
        tried,
    })
}
