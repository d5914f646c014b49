//! Rolling-origin forecasts: held-out rows are forecast in blocks of `horizon` rows,
//! each block from the actual values before it, as a forecast made at the block's
//! start would have been. Statistical forecasters filter the history with their
//! estimates; direct models use their model for each step ahead; other regression
//! models whose inputs are computed from the target (lags, rolling windows) forecast
//! recursively, each step's prediction becoming the history of the next step's
//! features.

use mlx_contracts::config::{Config, FeatureDef, FeatureKind, IncompleteRows};
use mlx_contracts::features::Preprocessor;
use mlx_data::polars::prelude::*;
use nalgebra::DMatrix;

use super::target_features;
use crate::error::{Error, Result};
use crate::model::derive::{derive, Roles, Window};
use crate::model::FittedModel;

/// The model matrix of a frame, through a fitted preprocessor.
fn matrix(pre: &Preprocessor, df: &DataFrame) -> Result<DMatrix<f64>> {
    crate::model::bundle::matrix(&crate::model::transform::transform(pre, df)?.0)
}

/// Consecutive runs of `positions`, cut into blocks of at most `horizon`: `(start, len)`.
fn blocks(positions: &[usize], horizon: usize) -> Vec<(usize, usize)> {
    let mut out: Vec<(usize, usize)> = Vec::new();
    for &p in positions {
        match out.last_mut() {
            Some((s, len)) if *s + *len == p && *len < horizon => *len += 1,
            _ => out.push((p, 1)),
        }
    }
    out
}

/// Predictions of the target on the rows `eval` of `frame` (rows in time order,
/// ascending positions), each block of `horizon` rows forecast from rows
/// `start..block start`, with the target known there.
pub fn rolling(
    cfg: &Config,
    model: &FittedModel,
    pre: &Preprocessor,
    frame: &DataFrame,
    start: usize,
    eval: &[usize],
    horizon: usize,
) -> Result<Vec<f64>> {
    let target = cfg.data.target.as_deref().unwrap_or_default();
    let y = crate::model::numeric_target(frame.column(target).map_err(|_| {
        Error::Usage(format!(
            "the target `{target}` is not a column of the features"
        ))
    })?)?;
    if let Some(&first) = eval.first() {
        if first <= start {
            return Err(Error::Usage(
                "the forecast rows must follow the training rows in time".into(),
            ));
        }
    }
    let x = matrix(pre, frame)?;
    let mut out = Vec::with_capacity(eval.len());
    if let FittedModel::Forecast(f) = model {
        for (s, k) in blocks(eval, horizon) {
            let history = f.exog_rows(&x, start..s);
            let future = f.exog_rows(&x, s..s + k);
            out.extend(f.forecast_from(&y[start..s], &history, &future)?.mean);
        }
        return Ok(out);
    }
    if let FittedModel::Direct(d) = model {
        for (s, k) in blocks(eval, horizon) {
            out.extend(d.forecast(&x, s, k)?);
        }
        return Ok(out);
    }
    let inputs: Vec<&str> = pre.inputs.iter().map(|i| i.name.as_str()).collect();
    let from_target = target_features(cfg);
    let recomputed: Vec<FeatureDef> = cfg
        .features
        .derived
        .iter()
        .filter(|d| from_target.contains(&d.name) && inputs.contains(&d.name.as_str()))
        .cloned()
        .collect();
    if recomputed.is_empty() {
        // Nothing read from the target's history: every row is predicted as it is.
        let rows = DMatrix::from_fn(eval.len(), x.ncols(), |i, j| x[(eval[i], j)]);
        return Ok(model.predict(&rows)?.column(0).iter().copied().collect());
    }
    let lookback = lookback(&recomputed)?;
    let roles = Roles {
        time: cfg.data.time_column.as_deref(),
        entities: &cfg.data.entity_columns,
        target: Some(target),
    };
    let names: Vec<&str> = recomputed.iter().map(|d| d.name.as_str()).collect();
    for (s, k) in blocks(eval, horizon) {
        let lo = lookback.map_or(start, |l| s.saturating_sub(l).max(start));
        let window = frame
            .slice(lo as i64, s + k - lo)
            .drop_many(names.iter().copied());
        // The target is known before the block; inside it, each step's prediction.
        let mut known: Vec<Option<f64>> = y[lo..s].iter().map(|v| Some(*v)).collect();
        known.resize(s + k - lo, None);
        for j in 0..k {
            let mut w = window.clone();
            w.with_column(Column::new(target.into(), known.clone()))
                .map_err(|e| Error::Runtime(e.to_string()))?;
            let derived = derive(w, &recomputed, &roles, IncompleteRows::Keep)?.df;
            let row = derived.slice((s - lo + j) as i64, 1);
            let xm = matrix(pre, &row).map_err(|e| {
                Error::Usage(format!(
                    "forecasting {k} steps ahead recursively: {e}; a feature computed from \
                     the target must end before the row it describes (`periods: 1` on \
                     rolling windows)"
                ))
            })?;
            let p = model.predict(&xm)?[(0, 0)];
            known[s - lo + j] = Some(p);
            out.push(p);
        }
    }
    Ok(out)
}

/// Rows of history the recomputed features read (`None`: all of it).
fn lookback(defs: &[FeatureDef]) -> Result<Option<usize>> {
    let mut most = 1usize;
    for d in defs {
        let periods = d.periods.unwrap_or(1) as usize;
        let rows = match d.kind {
            FeatureKind::Lag | FeatureKind::Diff => periods,
            FeatureKind::Rolling => {
                let window = d.window.as_deref().unwrap_or_default();
                match Window::parse(window).map_err(Error::Usage)? {
                    Window::Rows(n) => periods + n,
                    Window::Time(_) => return Ok(None),
                }
            }
            _ => return Ok(None),
        };
        most = most.max(rows);
    }
    Ok(Some(most + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_follow_runs_and_the_horizon() {
        assert_eq!(blocks(&[5, 6, 7, 8, 9], 2), [(5, 2), (7, 2), (9, 1)]);
        assert_eq!(blocks(&[1, 2, 5, 6], 7), [(1, 2), (5, 2)]);
        assert!(blocks(&[], 3).is_empty());
    }
}
