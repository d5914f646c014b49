//! Records (JSON objects, as requests and the prediction log hold them) as model
//! input. Derived features: the row-local ones (`expr`, `calendar`, `cyclical`,
//! `holiday`) are computed for records that lack them by the same code that computed
//! them for training. Features that need history (lags, windows, group statistics)
//! come from the online feature store, where `mlx-features materialize` put them.

use mlx_contracts::config::{Config, FeatureDef, FeatureKind, IncompleteRows};
use mlx_data::polars::prelude::*;
use serde_json::{Map, Value};

use crate::model::derive::{derive, Roles};

const ROW: &str = "__mlx_row";

/// The row-local feature definitions of a config.
pub struct Derivation {
    defs: Vec<FeatureDef>,
    time: Option<String>,
}

impl Derivation {
    /// `None` when the config derives nothing row-local.
    pub fn new(cfg: &Config) -> Option<Self> {
        let defs: Vec<FeatureDef> = cfg
            .features
            .derived
            .iter()
            .filter(|d| {
                matches!(
                    d.kind,
                    FeatureKind::Expr
                        | FeatureKind::Calendar
                        | FeatureKind::Cyclical
                        | FeatureKind::Holiday
                )
            })
            .cloned()
            .collect();
        (!defs.is_empty()).then(|| Self {
            defs,
            time: cfg.data.time_column.clone(),
        })
    }

    /// Adds the missing derived features to every record.
    pub fn apply(&self, records: &mut [Map<String, Value>]) -> Result<(), String> {
        if self
            .defs
            .iter()
            .all(|d| records.iter().all(|r| r.contains_key(&d.name)))
        {
            return Ok(());
        }
        let mut names: Vec<String> = Vec::new();
        for r in records.iter() {
            for k in r.keys() {
                if !names.contains(k) {
                    names.push(k.clone());
                }
            }
        }
        let cols: Vec<Column> = names
            .iter()
            .map(|n| column(n, records, self.time.as_deref() == Some(n.as_str())))
            .collect::<Result<_, String>>()?;
        let df = DataFrame::new_infer_height(cols).map_err(|e| e.to_string())?;
        let (out, added) = self.apply_frame(df)?;
        for name in added {
            let c = out.column(&name).map_err(|e| e.to_string())?;
            for (i, r) in records.iter_mut().enumerate() {
                let v = c.get(i).map_err(|e| e.to_string())?;
                r.insert(name.clone(), mlx_data::any_to_json(&v));
            }
        }
        Ok(())
    }

    /// Adds the derived columns a frame lacks, keeping its row order; returns the frame
    /// and the names added.
    pub fn apply_frame(&self, df: DataFrame) -> Result<(DataFrame, Vec<String>), String> {
        let defs: Vec<FeatureDef> = self
            .defs
            .iter()
            .filter(|d| df.column(&d.name).is_err())
            .cloned()
            .collect();
        if defs.is_empty() {
            return Ok((df, Vec::new()));
        }
        let mut df = df;
        let n = df.height() as u64;
        df.with_column(Column::new(ROW.into(), (0..n).collect::<Vec<u64>>()))
            .map_err(|e| e.to_string())?;
        let roles = Roles {
            time: self.time.as_deref(),
            entities: &[],
            target: None,
        };
        let out = derive(df, &defs, &roles, IncompleteRows::Keep)
            .map_err(|e| format!("deriving features: {e}"))?
            .df
            .sort([ROW], SortMultipleOptions::default())
            .map_err(|e| e.to_string())?
            .drop(ROW)
            .map_err(|e| e.to_string())?;
        Ok((out, defs.into_iter().map(|d| d.name).collect()))
    }
}

/// One JSON field of every record as a column: numbers (and booleans) as Float64,
/// otherwise text; the time column's text parsed as a timestamp.
pub(crate) fn column(
    name: &str,
    records: &[Map<String, Value>],
    time: bool,
) -> Result<Column, String> {
    let values: Vec<Option<&Value>> = records
        .iter()
        .map(|r| r.get(name).filter(|v| !v.is_null()))
        .collect();
    let numeric = values
        .iter()
        .flatten()
        .all(|v| v.is_number() || v.is_boolean());
    if numeric {
        let v: Vec<Option<f64>> = values
            .iter()
            .map(|v| v.and_then(|v| v.as_f64().or_else(|| v.as_bool().map(f64::from))))
            .collect();
        return Ok(Column::new(name.into(), v));
    }
    let text: Vec<Option<String>> = values
        .iter()
        .map(|v| v.map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned)))
        .collect();
    if time {
        let ms: Vec<Option<i64>> = text
            .iter()
            .map(|t| {
                t.as_deref()
                    .map(|t| {
                        chrono::DateTime::parse_from_rfc3339(t)
                            .map(|d| d.timestamp_millis())
                            .or_else(|_| {
                                chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d").map(|d| {
                                    d.and_hms_opt(0, 0, 0)
                                        .expect("midnight")
                                        .and_utc()
                                        .timestamp_millis()
                                })
                            })
                            .map_err(|_| {
                                format!("`{name}` must be a date or RFC 3339 time, got \"{t}\"")
                            })
                    })
                    .transpose()
            })
            .collect::<Result<_, String>>()?;
        return Column::new(name.into(), ms)
            .cast(&DataType::Datetime(TimeUnit::Milliseconds, None))
            .map_err(|e| e.to_string());
    }
    Ok(Column::new(name.into(), text))
}
