//! Scoring records with a bundle: request bodies checked against the bundle's
//! signature, the fitted preprocessing row by row (the same code as training), and the
//! model. XGBoost and LightGBM models are scored by mlx's own tree walker (the trees of
//! the model file, [`crate::model::ensemble`], laid out as [`crate::model::flat`]), so
//! serving needs neither library.
//! `mlx-serve` and `mlx-monitor` both score through [`Scorer`].

use std::collections::BTreeMap;

use mlx_contracts::features::InputKind;
use mlx_data::polars::prelude::{Column, DataFrame};
use nalgebra::DMatrix;
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::model::bundle::Bundle;
use crate::model::ensemble::{booster_trees, Link};
use crate::model::flat::Flat;
use crate::model::transform;

/// A bundle ready to score.
pub struct Scorer {
    /// The bundle.
    pub bundle: Bundle,
    trees: Option<(Flat, Link)>,
}

/// A request field that is wrong: HTTP 422 naming it.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    /// Which record (0-based; named for a one-record body too).
    pub record: Option<usize>,
    /// The field.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

/// What one batch of records scored to.
pub struct Scored {
    /// Per record: `prediction` and, for classifiers, `proba_<class>`.
    pub outputs: Vec<Map<String, Value>>,
    /// Unseen categories met, by column.
    pub unknown: BTreeMap<String, u64>,
    /// The model's first output per record (the value, or the probability of the second
    /// class), for the prediction distribution.
    pub values: Vec<f64>,
}

impl Scorer {
    /// Prepares a bundle.
    pub fn new(bundle: Bundle) -> Result<Self> {
        let classes = bundle.manifest.classes.as_ref().map_or(0, Vec::len);
        let trees = match booster_trees(&bundle.model, classes)? {
            Some((ensemble, link)) => Some((Flat::new(&ensemble)?, link)),
            None => None,
        };
        Ok(Self { bundle, trees })
    }

    /// Checks records against the signature: every input present (null is a missing
    /// value), numbers where numbers belong, text or numbers for categories.
    /// A forecaster's records also need their time, after the training data.
    pub fn check(&self, records: &[Map<String, Value>]) -> std::result::Result<(), FieldError> {
        for (i, r) in records.iter().enumerate() {
            if let Some(c) = self.clock() {
                let time = match r.get(&c.column) {
                    Some(Value::String(t)) => crate::model::forecast::parse_time_ms(t),
                    _ => None,
                };
                let problem = match time {
                    None => Some(format!(
                        "must be the date (YYYY-MM-DD) or RFC 3339 time to forecast, got {}",
                        r.get(&c.column).map_or("nothing".into(), Value::to_string)
                    )),
                    Some(t) => c.steps(&[Some(t)]).err().map(|e| e.to_string()),
                };
                if let Some(message) = problem {
                    return Err(FieldError {
                        record: Some(i),
                        field: c.column.clone(),
                        message: message.replace(&format!("row 0: `{}` ", c.column), ""),
                    });
                }
            }
            for input in &self.bundle.manifest.signature.inputs {
                let fail = |message: String| FieldError {
                    record: Some(i),
                    field: input.name.clone(),
                    message,
                };
                match (r.get(&input.name), input.kind) {
                    (None, _) => return Err(fail("is missing".into())),
                    (Some(Value::Null), _) => {}
                    (Some(Value::Number(_) | Value::Bool(_)), _) => {}
                    (Some(Value::String(s)), InputKind::Numeric) => {
                        if crate::model::transform::parse_finite(s).is_none() {
                            return Err(fail(crate::model::transform::not_a_number(s)));
                        }
                    }
                    (Some(Value::String(_)), InputKind::Categorical) => {}
                    (Some(other), InputKind::Numeric) => {
                        return Err(fail(format!("must be a number, got {other}")))
                    }
                    (Some(other), InputKind::Categorical) => {
                        return Err(fail(format!("must be text, got {other}")))
                    }
                }
            }
        }
        Ok(())
    }

    /// Scores checked records.
    pub fn score(&self, records: &[Map<String, Value>]) -> Result<Scored> {
        let p = &self.bundle.preprocessor;
        let mut unknown = BTreeMap::new();
        let mut data = Vec::with_capacity(records.len() * p.outputs.len());
        for r in records {
            let (row, u) = transform::transform_row(p, r)?;
            for (k, n) in u {
                *unknown.entry(k).or_insert(0) += n;
            }
            data.extend(row);
        }
        let x = DMatrix::from_row_slice(records.len(), p.outputs.len(), &data);
        let times = self.clock().map(|c| {
            records
                .iter()
                .map(|r| match r.get(&c.column) {
                    Some(Value::String(t)) => crate::model::forecast::parse_time_ms(t),
                    Some(Value::Number(n)) => n.as_i64(),
                    _ => None,
                })
                .collect::<Vec<_>>()
        });
        Ok(self.outputs(&self.model_output(&x, times.as_deref())?, unknown))
    }

    /// Scores a whole frame through the batch preprocessing: `prediction` and, for
    /// classifiers, `proba_<class>` columns.
    pub fn score_frame(&self, df: &DataFrame) -> Result<DataFrame> {
        let (m, _) = transform::transform(&self.bundle.preprocessor, df)?;
        let mut x = DMatrix::zeros(m.height(), m.width());
        for (j, c) in m.columns().iter().enumerate() {
            let ca = c.f64().map_err(|e| Error::Runtime(e.to_string()))?;
            for (i, v) in ca.iter().enumerate() {
                x[(i, j)] = v.unwrap_or(f64::NAN);
            }
        }
        let times = match self.clock() {
            Some(c) => {
                let col = df.column(&c.column).map_err(|_| {
                    Error::Usage(format!(
                        "the input has no `{}` column; a forecaster places each row by its time",
                        c.column
                    ))
                })?;
                Some(crate::model::forecast::times_ms(col).ok_or_else(|| {
                    Error::Usage(format!(
                        "`{}` must hold dates or times, and it is {}",
                        c.column,
                        col.dtype()
                    ))
                })?)
            }
            None => None,
        };
        let s = self.outputs(&self.model_output(&x, times.as_deref())?, BTreeMap::new());
        let names: Vec<String> = s
            .outputs
            .first()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default();
        let cols: Vec<Column> = names
            .iter()
            .map(|name| {
                let vals = s.outputs.iter().map(|o| o.get(name));
                if name == "prediction" && self.bundle.manifest.classes.is_some() {
                    let v: Vec<Option<&str>> = vals.map(|v| v.and_then(Value::as_str)).collect();
                    Column::new(name.as_str().into(), v)
                } else {
                    let v: Vec<Option<f64>> = vals.map(|v| v.and_then(Value::as_f64)).collect();
                    Column::new(name.as_str().into(), v)
                }
            })
            .collect();
        DataFrame::new_infer_height(cols).map_err(|e| Error::Runtime(e.to_string()))
    }

    /// A forecaster's time axis, when it has one.
    fn clock(&self) -> Option<&crate::model::forecast::Clock> {
        match &self.bundle.model {
            crate::model::FittedModel::Forecast(f) => f.clock.as_ref(),
            _ => None,
        }
    }

    /// The model's outputs for a matrix: values (`n × 1`) or class probabilities. A
    /// forecaster with a clock forecasts each row at its time (`times`, milliseconds).
    fn model_output(
        &self,
        x: &DMatrix<f64>,
        times: Option<&[Option<i64>]>,
    ) -> Result<DMatrix<f64>> {
        if let crate::model::FittedModel::Forecast(f) = &self.bundle.model {
            return f.predict_with_interval(x, times);
        }
        Ok(match &self.trees {
            Some((trees, link)) => {
                let rows: Vec<Vec<f64>> = (0..x.nrows())
                    .map(|i| {
                        let r: Vec<f64> = x.row(i).iter().copied().collect();
                        let z = link.apply(&trees.output(&r));
                        if *link == Link::Logistic {
                            vec![1.0 - z[0], z[0]]
                        } else {
                            z
                        }
                    })
                    .collect();
                let k = rows.first().map_or(1, Vec::len);
                DMatrix::from_fn(rows.len(), k, |i, j| rows[i][j])
            }
            None => self.bundle.model.predict(x)?,
        })
    }

    fn outputs(&self, out: &DMatrix<f64>, unknown: BTreeMap<String, u64>) -> Scored {
        let m = &self.bundle.manifest;
        let mut outputs = Vec::with_capacity(out.nrows());
        let mut values = Vec::with_capacity(out.nrows());
        for i in 0..out.nrows() {
            let mut o = Map::new();
            match &m.classes {
                None => {
                    o.insert("prediction".into(), json_number(out[(i, 0)]));
                    // A forecaster's prediction interval.
                    if out.ncols() == 3 {
                        o.insert("prediction_lower".into(), json_number(out[(i, 1)]));
                        o.insert("prediction_upper".into(), json_number(out[(i, 2)]));
                    }
                    values.push(out[(i, 0)]);
                }
                Some(classes) => {
                    let k =
                        crate::model::bundle::decide(out, i, m.decision_threshold, classes.len());
                    o.insert("prediction".into(), Value::String(classes[k].clone()));
                    for (c, name) in classes.iter().enumerate() {
                        o.insert(format!("proba_{name}"), json_number(out[(i, c)]));
                    }
                    values.push(out[(i, (classes.len() > 1) as usize)]);
                }
            }
            outputs.push(o);
        }
        Scored {
            outputs,
            unknown,
            values,
        }
    }
}

fn json_number(v: f64) -> Value {
    serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number)
}

/// The records of a request body: `{"records": [...]}`, a bare list of records, or
/// columnar `{"columns": {"a": [...], ...}}`.
pub fn records(body: Value) -> std::result::Result<Vec<Map<String, Value>>, String> {
    let list = match body {
        Value::Array(items) => items,
        Value::Object(mut o) => {
            if let Some(r) = o.remove("records") {
                match r {
                    Value::Array(items) => items,
                    _ => return Err("`records` must be a list of objects".into()),
                }
            } else if let Some(c) = o.remove("columns") {
                return columnar(c);
            } else {
                return Err(
                    "the body must be {\"records\": [{...}]}, a list of records, or {\"columns\": {\"name\": [...]}}"
                        .into(),
                );
            }
        }
        _ => return Err("the body must be a JSON object or list".into()),
    };
    if list.is_empty() {
        return Err("there are no records to score".into());
    }
    list.into_iter()
        .enumerate()
        .map(|(i, v)| match v {
            Value::Object(m) => Ok(m),
            _ => Err(format!("record {i} is not a JSON object")),
        })
        .collect()
}

/// Columnar records, `{"a": [...], "b": [...]}`: equally long lists, one record per
/// position.
pub(crate) fn columnar(c: Value) -> std::result::Result<Vec<Map<String, Value>>, String> {
    let Value::Object(cols) = c else {
        return Err("`columns` must map column names to lists".into());
    };
    let mut n = None;
    for (name, v) in &cols {
        let len = v
            .as_array()
            .ok_or_else(|| format!("column `{name}` must be a list"))?
            .len();
        match n {
            None => n = Some(len),
            Some(m) if m != len => {
                return Err(format!(
                    "column `{name}` has {len} values, the others {m}: columns must be equally long"
                ))
            }
            _ => {}
        }
    }
    let n = n.unwrap_or(0);
    if n == 0 {
        return Err("there are no records to score".into());
    }
    Ok((0..n)
        .map(|i| {
            cols.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_array().map_or(Value::Null, |a| a[i].clone()),
                    )
                })
                .collect()
        })
        .collect())
}

impl From<FieldError> for Error {
    fn from(e: FieldError) -> Self {
        Error::Usage(match e.record {
            Some(i) => format!("record {i}: `{}` {}", e.field, e.message),
            None => format!("`{}` {}", e.field, e.message),
        })
    }
}
