//! The split as stages read it: the rows of each set, the split's own folds, and the
//! held-out rows (test, else validation) that eval scores, shap explains, the gate and
//! the registry compare on, and the monitor takes its reference from.

use std::path::Path;

use mlx_contracts::config::Config;
use mlx_data::polars::prelude::*;

use crate::error::{Error, Result};
use crate::model::bundle::Bundle;
use crate::workdir::{paths, Workdir};

/// A table features wrote; a missing one is a usage error saying how to make it.
pub(crate) fn read(path: &Path) -> Result<DataFrame> {
    if !path.exists() {
        return Err(Error::Usage(format!(
            "{} does not exist; run `mlx-features` first",
            path.display()
        )));
    }
    Ok(mlx_data::read_table(path)?)
}

/// The split's own folds (`fold_<k>` columns) over the training rows: per fold, the
/// positions among the training rows that train and that validate.
pub(crate) fn split_folds(
    split: &DataFrame,
    set: &StringChunked,
) -> Result<Vec<(Vec<usize>, Vec<usize>)>> {
    let train_rows = positions(set, "train");
    let mut folds = Vec::new();
    for name in split.get_column_names() {
        if !name.starts_with("fold_") {
            continue;
        }
        let col = split
            .column(name.as_str())
            .and_then(|c| c.str().cloned())
            .map_err(|e| Error::Runtime(format!("{}: {e}", paths::SPLIT)))?;
        let (mut tr, mut va) = (Vec::new(), Vec::new());
        for (pos, &row) in train_rows.iter().enumerate() {
            match col.get(row) {
                Some("train") => tr.push(pos),
                Some("validation") => va.push(pos),
                _ => {}
            }
        }
        folds.push((tr, va));
    }
    Ok(folds)
}

/// The positions of the rows of one set (`train`, `validation`, `test`) of the split.
pub(crate) fn positions(set: &StringChunked, which: &str) -> Vec<usize> {
    set.iter()
        .enumerate()
        .filter(|(_, s)| *s == Some(which))
        .map(|(i, _)| i)
        .collect()
}

/// The rows of one set of the split.
pub(crate) fn rows(df: &DataFrame, set: &StringChunked, which: &str) -> Result<DataFrame> {
    let mask: BooleanChunked = set.iter().map(|s| Some(s == Some(which))).collect();
    df.filter(&mask).map_err(|e| Error::Runtime(e.to_string()))
}

/// Held-out rows, the training rows (and the training target for MASE), and the
/// split's own folds over the training rows.
pub(crate) struct HeldOut {
    pub(crate) set: &'static str,
    pub(crate) rows: DataFrame,
    pub(crate) train: DataFrame,
    pub(crate) train_target: Option<Vec<f64>>,
    pub(crate) folds: Vec<(Vec<usize>, Vec<usize>)>,
    /// A time series: every row, in time order, so that held-out rows are forecast
    /// from the rows before them.
    pub(crate) series: Option<HeldSeries>,
}

/// A time series' rows around the held-out ones.
pub(crate) struct HeldSeries {
    pub(crate) cfg: Config,
    /// Every row of the features, in time order.
    pub(crate) all: DataFrame,
    /// The first training row.
    pub(crate) start: usize,
    /// The held-out rows' positions in `all`.
    pub(crate) positions: Vec<usize>,
    /// Rows per season (MASE's naive forecast).
    pub(crate) season: usize,
    pub(crate) horizon: usize,
}

impl HeldSeries {
    /// Rolling-origin forecasts of `rows` of `frame` by a bundle's model, from rows
    /// `start..` before them.
    pub(crate) fn forecast(
        &self,
        bundle: &Bundle,
        frame: &DataFrame,
        start: usize,
        rows: &[usize],
    ) -> Result<Vec<f64>> {
        crate::model::forecast::rolling(
            &self.cfg,
            &bundle.model,
            &bundle.preprocessor,
            frame,
            start,
            rows,
            self.horizon,
        )
    }
}

/// The split's held-out rows (test, else validation), shared by evaluation and SHAP.
pub(crate) fn held_out(cfg: &Config, workdir: &Workdir) -> Result<HeldOut> {
    let df = read(&workdir.join(paths::FEATURES))?;
    let split = read(&workdir.join(paths::SPLIT))?;
    if split.height() != df.height() {
        return Err(Error::Usage(format!(
            "{} and {} disagree on the number of rows; run `mlx-features` again",
            paths::FEATURES,
            paths::SPLIT
        )));
    }
    let set = split
        .column("set")
        .and_then(|c| c.str().cloned())
        .map_err(|e| Error::Runtime(format!("{}: {e}", paths::SPLIT)))?;
    let (name, rows) = match rows(&df, &set, "test")? {
        t if t.height() > 0 => ("test", t),
        _ => ("validation", rows(&df, &set, "validation")?),
    };
    let series = if cfg.pipeline.forecasts() {
        crate::model::forecast::one_series(cfg)?;
        let positions = |which: &str| positions(&set, which);
        let season = crate::model::forecast::season(cfg, &df);
        Some(HeldSeries {
            cfg: cfg.clone(),
            start: positions("train").first().copied().unwrap_or(0),
            positions: positions(name),
            season,
            horizon: crate::model::forecast::horizon(cfg, season),
            all: df.clone(),
        })
    } else {
        None
    };
    if rows.height() == 0 {
        return Err(Error::Usage(
            "the split has no test or validation rows to score or explain; set `split.test` \
             (or `split.validation`) above 0"
                .into(),
        ));
    }
    let train = self::rows(&df, &set, "train")?;
    let train_target = if cfg.pipeline.forecasts() {
        let target = cfg.data.target.clone().unwrap_or_default();
        Some(crate::model::numeric_target(
            train.column(&target).map_err(|_| {
                Error::Usage(format!(
                    "the target `{target}` is not a column of the features"
                ))
            })?,
        )?)
    } else {
        None
    };
    Ok(HeldOut {
        set: name,
        rows,
        train,
        train_target,
        folds: split_folds(&split, &set)?,
        series,
    })
}
