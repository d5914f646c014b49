//! A target column as a model reads it: class codes in scikit-learn's order, or
//! numbers checked for missing values.

use std::collections::HashMap;

use mlx_data::polars::prelude::*;

use crate::error::{Error, Result};

/// The classes of a target column, sorted as scikit-learn sorts them (numbers by value,
/// text by code point), and each row's class code.
pub fn encode_classes(c: &Column) -> Result<(Vec<String>, Vec<usize>)> {
    let name = c.name().to_string();
    if c.null_count() > 0 {
        return Err(Error::Usage(format!(
            "the target `{name}` is missing on {} training rows; drop or fill them",
            c.null_count()
        )));
    }
    let e = |x: PolarsError| Error::Runtime(format!("reading the target `{name}`: {x}"));
    // The distinct values (hashed by Polars), named as text and sorted; then one hash
    // lookup per row.
    let unique = c.unique().map_err(e)?;
    let names = unique.cast(&DataType::String).map_err(e)?;
    let names: Vec<String> = names
        .str()
        .map_err(e)?
        .iter()
        .map(|v| v.unwrap_or_default().to_string())
        .collect();
    if c.dtype().is_primitive_numeric() {
        let keys: Vec<f64> = unique
            .cast(&DataType::Float64)
            .map_err(e)?
            .f64()
            .map_err(e)?
            .iter()
            .map(|v| v.unwrap_or(f64::NAN))
            .collect();
        let mut order: Vec<usize> = (0..keys.len()).collect();
        order.sort_by(|&a, &b| keys[a].total_cmp(&keys[b]));
        let index: HashMap<u64, usize> = order
            .iter()
            .enumerate()
            .map(|(code, &u)| (keys[u].to_bits(), code))
            .collect();
        let values = c.cast(&DataType::Float64).map_err(e)?;
        let codes = values
            .f64()
            .map_err(e)?
            .iter()
            .map(|v| index[&v.unwrap_or(f64::NAN).to_bits()])
            .collect();
        return Ok((order.into_iter().map(|u| names[u].clone()).collect(), codes));
    }
    let mut classes = names;
    classes.sort();
    let index: HashMap<&str, usize> = classes
        .iter()
        .enumerate()
        .map(|(i, c)| (c.as_str(), i))
        .collect();
    let text = c.cast(&DataType::String).map_err(e)?;
    let codes = text
        .str()
        .map_err(e)?
        .iter()
        .map(|v| index[v.unwrap_or_default()])
        .collect();
    Ok((classes, codes))
}

pub fn numeric_target(c: &Column) -> Result<Vec<f64>> {
    let name = c.name().to_string();
    if !c.dtype().is_primitive_numeric() {
        return Err(Error::Usage(format!(
            "the target `{name}` is {}, but a regression target must be numeric; is \
             `pipeline.problem_type` right?",
            c.dtype()
        )));
    }
    let v: Vec<Option<f64>> = c
        .cast(&DataType::Float64)
        .and_then(|s| s.f64().map(|ca| ca.iter().collect()))
        .map_err(|e| Error::Runtime(e.to_string()))?;
    let missing = v.iter().filter(|x| x.is_none_or(f64::is_nan)).count();
    if missing > 0 {
        return Err(Error::Usage(format!(
            "the target `{name}` is missing (or NaN) on {missing} training rows; drop or fill them"
        )));
    }
    Ok(v.into_iter().map(|x| x.unwrap_or(f64::NAN)).collect())
}
