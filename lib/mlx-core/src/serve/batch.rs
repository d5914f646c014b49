//! `mlx-serve batch`'s input checks: the same rules as `/v1/predict` applies to a
//! record ([`crate::model::scorer`]), applied to every row of a file, so a batch never scores
//! what the server would refuse (text in a numeric column, infinities) into empty
//! predictions.

use mlx_contracts::features::{InputColumn, InputKind};
use mlx_data::polars::prelude::*;

use crate::error::{Error, Result};
use crate::model::transform::{not_a_number, parse_finite};

/// A row the checks refused, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Reject {
    /// 0-based row of the input.
    pub row: usize,
    /// The input column.
    pub field: String,
    /// What is wrong with its value.
    pub reason: String,
}

/// Checks every row's signature inputs. A missing input column is an error for the
/// whole file; a bad value rejects its row (the first bad field of a row is named).
pub fn check(df: &DataFrame, inputs: &[InputColumn]) -> Result<Vec<Reject>> {
    let mut rejects: Vec<Reject> = Vec::new();
    let mut seen = vec![false; df.height()];
    for input in inputs.iter().filter(|i| i.kind == InputKind::Numeric) {
        let col = df.column(&input.name).map_err(|_| {
            Error::Usage(format!(
                "the input has no column `{}`, which the model needs",
                input.name
            ))
        })?;
        let mut reject = |row: usize, reason: String| {
            if !seen[row] {
                seen[row] = true;
                rejects.push(Reject {
                    row,
                    field: input.name.clone(),
                    reason,
                });
            }
        };
        match col.dtype() {
            DataType::String => {
                for (row, v) in col.str().map_err(polars_error)?.iter().enumerate() {
                    if let Some(s) = v.filter(|s| parse_finite(s).is_none()) {
                        reject(row, not_a_number(s));
                    }
                }
            }
            DataType::Boolean => {}
            t if t.is_primitive_numeric() => {
                // NaN is how a float column says missing (as null in a request);
                // infinities are values no model was trained on.
                let f = col.cast(&DataType::Float64).map_err(polars_error)?;
                for (row, v) in f.f64().map_err(polars_error)?.iter().enumerate() {
                    if let Some(x) = v.filter(|x| x.is_infinite()) {
                        reject(row, format!("must be a finite number, got {x}"));
                    }
                }
            }
            other => {
                return Err(Error::Usage(format!(
                    "`{}` must hold numbers, and its column is {other}",
                    input.name
                )))
            }
        }
    }
    rejects.sort_by_key(|r| r.row);
    Ok(rejects)
}

/// The rows not rejected, with numeric inputs given as text read as numbers.
pub fn accepted(df: &DataFrame, inputs: &[InputColumn], rejects: &[Reject]) -> Result<DataFrame> {
    let mut keep = vec![true; df.height()];
    for r in rejects {
        keep[r.row] = false;
    }
    let mask = BooleanChunked::from_slice("keep".into(), &keep);
    let mut out = df.filter(&mask).map_err(polars_error)?;
    for input in inputs.iter().filter(|i| i.kind == InputKind::Numeric) {
        let col = out.column(&input.name).map_err(polars_error)?;
        if col.dtype() == &DataType::String {
            let parsed: Float64Chunked = col
                .str()
                .map_err(polars_error)?
                .iter()
                .map(|v| v.and_then(parse_finite))
                .collect();
            out.with_column(parsed.with_name(input.name.as_str().into()).into_column())
                .map_err(polars_error)?;
        }
    }
    Ok(out)
}

/// The rejects as a table: `row`, `field`, `reason`.
pub fn rejects_frame(rejects: &[Reject]) -> Result<DataFrame> {
    DataFrame::new(
        rejects.len(),
        vec![
            Column::new(
                "row".into(),
                rejects.iter().map(|r| r.row as u64).collect::<Vec<_>>(),
            ),
            Column::new(
                "field".into(),
                rejects.iter().map(|r| r.field.as_str()).collect::<Vec<_>>(),
            ),
            Column::new(
                "reason".into(),
                rejects
                    .iter()
                    .map(|r| r.reason.as_str())
                    .collect::<Vec<_>>(),
            ),
        ],
    )
    .map_err(polars_error)
}

fn polars_error(e: PolarsError) -> Error {
    Error::Runtime(e.to_string())
}
