//! The split as stages read it: the rows of each set, the split's own folds, and the
//! held-out rows (test, else validation) that eval scores, shap explains, the gate and
//! the registry compare on, and the monitor takes its reference from.

use std::path::Path;

use mlx_contracts::config::{Config, Direction};
use mlx_contracts::eval::{Champion, Leaderboard, Scores};
use mlx_data::polars::prelude::*;

use crate::error::{Error, Result};
use crate::model::bundle::Bundle;
use crate::model::score::{self as scores, Classified};
use crate::model::{self, encode_classes};
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

/// The truth of a classifier's rows as codes into `classes`, extended by any class the
/// model never saw (its probabilities are 0).
pub(crate) fn class_truth(
    col: &Column,
    model_classes: &[String],
) -> Result<(Vec<usize>, Vec<String>)> {
    let (seen, codes) = encode_classes(col)?;
    let mut classes = model_classes.to_vec();
    let map: Vec<usize> = seen
        .iter()
        .map(|c| match classes.iter().position(|m| m == c) {
            Some(i) => i,
            None => {
                classes.push(c.clone());
                classes.len() - 1
            }
        })
        .collect();
    Ok((codes.into_iter().map(|c| map[c]).collect(), classes))
}

/// Predictions of one run on the held-out rows.
pub(crate) enum Predicted {
    Classes {
        truth: Vec<usize>,
        proba: Vec<f64>,
        classes: Vec<String>,
        threshold: Option<f64>,
    },
    Values {
        truth: Vec<f64>,
        pred: Vec<f64>,
    },
}

impl Predicted {
    /// A bundle's predictions of the held-out rows: each row as it is, or for a time
    /// series, forecast from the rows before it.
    pub(crate) fn of(bundle: &Bundle, held: &HeldOut) -> Result<Self> {
        let rows = &held.rows;
        let target = &bundle.manifest.target;
        let col = rows.column(target).map_err(|_| {
            Error::Usage(format!(
                "the target `{target}` is not a column of the held-out rows"
            ))
        })?;
        if let Some(s) = &held.series {
            return Ok(Predicted::Values {
                truth: model::numeric_target(col)?,
                pred: s.forecast(bundle, &s.all, s.start, &s.positions)?,
            });
        }
        let out = bundle.model.predict(&bundle.matrix(rows)?)?;
        Ok(match &bundle.manifest.classes {
            Some(model_classes) => {
                let (truth, classes) = class_truth(col, model_classes)?;
                let k = classes.len();
                let mut proba = vec![0.0; truth.len() * k];
                for i in 0..truth.len() {
                    for c in 0..out.ncols() {
                        proba[i * k + c] = out[(i, c)];
                    }
                }
                Predicted::Classes {
                    truth,
                    proba,
                    classes,
                    threshold: bundle.manifest.decision_threshold,
                }
            }
            None => Predicted::Values {
                truth: model::numeric_target(col)?,
                pred: out.column(0).iter().copied().collect(),
            },
        })
    }

    /// Scores of the rows `keep` (all when `None`).
    pub(crate) fn scores(
        &self,
        keep: Option<&[usize]>,
        history: Option<(&[f64], usize)>,
    ) -> Scores {
        let pick =
            |n: usize| -> Vec<usize> { keep.map_or_else(|| (0..n).collect(), <[usize]>::to_vec) };
        match self {
            Predicted::Classes {
                truth,
                proba,
                classes,
                threshold,
            } => {
                let k = classes.len();
                let rows = pick(truth.len());
                let t: Vec<usize> = rows.iter().map(|&i| truth[i]).collect();
                let p: Vec<f64> = rows
                    .iter()
                    .flat_map(|&i| proba[i * k..(i + 1) * k].iter().copied())
                    .collect();
                scores::classification(&Classified {
                    truth: &t,
                    proba: &p,
                    classes,
                    threshold: *threshold,
                })
            }
            Predicted::Values { truth, pred } => {
                let rows = pick(truth.len());
                let t: Vec<f64> = rows.iter().map(|&i| truth[i]).collect();
                let p: Vec<f64> = rows.iter().map(|&i| pred[i]).collect();
                scores::regression(&t, &p, history)
            }
        }
    }
}

/// The production model's scores on the held-out rows, and whether the best candidate
/// beats it.
pub(crate) fn score_champion(path: &Path, held: &HeldOut, board: &Leaderboard) -> Result<Champion> {
    let bundle = Bundle::load(path)?;
    let s = Predicted::of(&bundle, held)?.scores(None, None);
    let primary = s.metrics.get(board.primary_metric.as_str()).copied();
    let best = board.entries.first().and_then(|e| e.primary);
    let beaten = match (best, primary) {
        (Some(b), Some(c)) => Some(match board.direction {
            Direction::Maximize => b > c,
            Direction::Minimize => b < c,
        }),
        _ => None,
    };
    Ok(Champion {
        bundle: path.display().to_string(),
        name: bundle.manifest.name.clone(),
        model_type: bundle.manifest.model_type,
        primary,
        metrics: s.metrics,
        beaten,
    })
}
