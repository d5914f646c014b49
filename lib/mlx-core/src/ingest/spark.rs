//! Ingest on Spark (`engine.kind: spark`): the sources are read by the cluster (files
//! on its storage, tables of its catalog, Spark SQL), cast and joined there, and
//! written as Parquet to a new directory under `<engine.storage>/datasets/`. The data
//! never comes to this machine: `data/cluster.json` records where it is, its schema,
//! its row count and the content fingerprint Spark computed over what was written.

use std::collections::{BTreeMap, BTreeSet};

use chrono::Utc;
use mlx_contracts::config::{DType, Engine, JoinType, Merge, Source};
use mlx_contracts::ingest::{
    ClusterDataset, ColumnType, IngestReport, SourceReport, CLUSTER_DATASET_VERSION,
    INGEST_REPORT_VERSION,
};
use mlx_spark::{sql, Cluster, Field, Frame, Read};
use sha2::{Digest, Sha256};

use crate::engine;
use crate::error::{Error, Result};
use crate::stage::{Context, Outcome};

/// The stage on the cluster.
pub fn ingest(ctx: &Context, engine_cfg: &Engine, append: bool) -> Result<Outcome> {
    let data = &ctx.config.config.data;
    if append || data.append {
        return Err(Error::Usage(
            "incremental ingest (`--append`, `data.append`) does not run on Spark yet; ingest the whole source (each run writes a new dataset), or use `engine.kind: local`".into(),
        ));
    }
    let cluster = engine::connect(&ctx.config, engine_cfg)?;
    let fail = |what: &str| {
        let what = what.to_owned();
        move |e| engine::spark_error(&ctx.config, Some(&what), e)
    };
    let mut reports = Vec::new();
    let mut frames = Vec::new();
    for s in &data.sources {
        let what = format!("source `{}`", s.name);
        let raw = cluster.read(&engine::read_of(s)?).map_err(fail(&what))?;
        let schema = raw.schema().map_err(fail(&what))?;
        let frame = coerce(&raw, s, &schema)?;
        let schema = frame.schema().map_err(fail(&what))?;
        let rows = if data.sources.len() == 1 {
            None // the dataset's own count, below
        } else {
            Some(frame.count().map_err(fail(&what))?)
        };
        reports.push(SourceReport {
            name: s.name.clone(),
            uri: ctx.config.mask(&source_label(s)),
            files: Vec::new(),
            rows: rows.unwrap_or(0),
            schema: column_types(&schema),
            delta_version: None,
            kinesis: None,
            kafka: None,
        });
        frames.push((s.name.clone(), frame, schema));
    }
    let merged = merge(ctx, &cluster, frames, data.merge.as_ref())?;
    // A new directory per run: a timestamp, and the process id against two runs in
    // the same millisecond (the work directory's lock keeps one run per directory).
    let location = format!(
        "{}/datasets/{}-{}",
        engine::storage(engine_cfg),
        Utc::now().format("%Y%m%dT%H%M%S%.3fZ"),
        std::process::id()
    );
    // Most of the work (and a value that does not cast) happens here, so the error
    // names the sources.
    let names: Vec<String> = data
        .sources
        .iter()
        .map(|s| format!("`{}`", s.name))
        .collect();
    let sources = format!(
        "source{} {}",
        if names.len() == 1 { "" } else { "s" },
        names.join(", ")
    );
    merged
        .write_parquet(&location)
        .map_err(fail(&format!("{sources}: writing {location}")))?;
    // Everything the record says is read back from what was written.
    let written = cluster
        .read(&Read::Path {
            path: location.clone(),
            format: "parquet".into(),
            options: BTreeMap::new(),
        })
        .map_err(fail(&format!("reading back {location}")))?;
    let dataset = describe(&cluster, &written, &location).map_err(fail(&location))?;
    if dataset.rows == 0 {
        return Err(Error::Runtime(format!(
            "the sources produced no rows (written to {location}, which nothing will read); check the sources and the join keys"
        )));
    }
    if let [one] = reports.as_mut_slice() {
        one.rows = dataset.rows;
    }
    engine::write_cluster_dataset(&ctx.workdir, &dataset)?;
    let mut outcome = super::outcome(IngestReport {
        schema_version: INGEST_REPORT_VERSION,
        rows: dataset.rows,
        columns: dataset.schema.len() as u64,
        schema: dataset.schema.clone(),
        sources: reports,
        appended_rows: None,
        previous_max_time: None,
        cluster: Some(dataset.clone()),
    })?;
    outcome
        .outputs_kv
        .insert("location".into(), dataset.location.clone());
    if let Some(ui) = &dataset.spark_ui {
        outcome.outputs_kv.insert("spark_ui".into(), ui.clone());
    }
    outcome
        .summary
        .push_str(&format!(" on Spark, at {location}"));
    Ok(outcome)
}

fn source_label(s: &Source) -> String {
    match (&s.table, s.uri.trim().is_empty(), &s.query) {
        (Some(t), _, _) => format!("table:{t}"),
        (None, true, Some(q)) => format!("query:{q}"),
        _ => s.uri.clone(),
    }
}

/// Spark's type for a configured one, as a cast target.
fn spark_type(t: DType) -> &'static str {
    match t {
        DType::Int => "BIGINT",
        DType::Float => "DOUBLE",
        DType::String | DType::Category => "STRING",
        DType::Bool => "BOOLEAN",
        DType::Date => "DATE",
        DType::Datetime => "TIMESTAMP",
    }
}

/// The configured casts (`dtypes`), on the cluster. Spark's ANSI casts fail on a value
/// that does not convert, as the local engine does.
fn coerce<'c>(frame: &Frame<'c>, s: &Source, schema: &[Field]) -> Result<Frame<'c>> {
    let names: BTreeSet<&str> = schema.iter().map(|f| f.name.as_str()).collect();
    let mut casts = Vec::new();
    for (column, t) in &s.dtypes {
        if !names.contains(column.as_str()) {
            let have: Vec<&str> = schema.iter().map(|f| f.name.as_str()).collect();
            return Err(Error::Usage(format!(
                "source `{}`: `dtypes` names column `{column}`, which the source does not have (it has: {})",
                s.name,
                have.join(", ")
            )));
        }
        let expr = match (t, &s.date_format) {
            (DType::Date, Some(f)) => format!(
                "to_date({}, {})",
                sql::ident(column),
                sql::string(&java_date_format(f))
            ),
            (DType::Datetime, Some(f)) => format!(
                "to_timestamp({}, {})",
                sql::ident(column),
                sql::string(&java_date_format(f))
            ),
            _ => format!("CAST({} AS {})", sql::ident(column), spark_type(*t)),
        };
        casts.push((column.clone(), expr));
    }
    Ok(frame.with_columns(&casts))
}

/// A strftime format (`%Y-%m-%d`, as `data.sources[].date_format` takes) as Spark's
/// datetime pattern (`yyyy-MM-dd`).
fn java_date_format(f: &str) -> String {
    let mut out = String::new();
    let mut chars = f.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            if c.is_ascii_alphabetic() {
                out.push('\'');
                out.push(c);
                out.push('\'');
            } else {
                out.push(c);
            }
            continue;
        }
        out.push_str(match chars.next() {
            Some('Y') => "yyyy",
            Some('y') => "yy",
            Some('m') => "MM",
            Some('d') => "dd",
            Some('H') => "HH",
            Some('M') => "mm",
            Some('S') => "ss",
            Some('f') => "SSSSSS",
            Some('b') => "MMM",
            Some('B') => "MMMM",
            Some('z') => "Z",
            Some('%') => "%",
            _ => "",
        });
    }
    out
}

fn column_types(schema: &[Field]) -> Vec<ColumnType> {
    schema
        .iter()
        .map(|f| ColumnType {
            name: f.name.clone(),
            dtype: f.spark_type.clone(),
        })
        .collect()
}

/// The sources joined as `data.merge` says, on the cluster: `JOIN ... USING` (the
/// keys appear once), and a non-key column both sides have gets `_right` on the
/// right, as the local engine names it.
fn merge<'c>(
    ctx: &Context,
    cluster: &'c Cluster,
    mut frames: Vec<(String, Frame<'c>, Vec<Field>)>,
    merge: Option<&Merge>,
) -> Result<Frame<'c>> {
    let (first, acc, mut acc_schema) = frames.remove(0);
    let Some(m) = merge.filter(|_| !frames.is_empty()) else {
        return Ok(acc);
    };
    let mut left_name = first;
    let mut acc = acc;
    for (i, (name, frame, schema)) in frames.into_iter().enumerate() {
        for key in &m.on {
            for (side, fields) in [(left_name.as_str(), &acc_schema), (name.as_str(), &schema)] {
                if !fields.iter().any(|f| &f.name == key) {
                    return Err(Error::Usage(format!(
                        "join key `{key}` is missing from source `{side}`; rename the column there or change `data.merge.on`"
                    )));
                }
            }
            let lt = acc_schema
                .iter()
                .find(|f| &f.name == key)
                .map(|f| f.spark_type.clone());
            let rt = schema
                .iter()
                .find(|f| &f.name == key)
                .map(|f| f.spark_type.clone());
            if lt != rt {
                return Err(Error::Usage(format!(
                    "join key `{key}` is {} in `{left_name}` but {} in `{name}`; give it one type with `dtypes` in both sources",
                    lt.unwrap_or_default(),
                    rt.unwrap_or_default()
                )));
            }
        }
        let (lv, rv) = (
            format!("mlx_ingest_left_{i}"),
            format!("mlx_ingest_right_{i}"),
        );
        let what = format!("joining `{left_name}` with `{name}`");
        let fail = |e| engine::spark_error(&ctx.config, Some(&what), e);
        acc.view(&lv).map_err(fail)?;
        frame.view(&rv).map_err(fail)?;
        let keys: Vec<String> = m.on.iter().map(|k| sql::ident(k)).collect();
        let left_cols: BTreeSet<&str> = acc_schema.iter().map(|f| f.name.as_str()).collect();
        let mut select: Vec<String> = Vec::new();
        for k in &m.on {
            select.push(sql::ident(k));
        }
        for f in acc_schema.iter().filter(|f| !m.on.contains(&f.name)) {
            select.push(format!("l.{}", sql::ident(&f.name)));
        }
        for f in schema.iter().filter(|f| !m.on.contains(&f.name)) {
            if left_cols.contains(f.name.as_str()) {
                select.push(format!(
                    "r.{} AS {}",
                    sql::ident(&f.name),
                    sql::ident(&format!("{}_right", f.name))
                ));
            } else {
                select.push(format!("r.{}", sql::ident(&f.name)));
            }
        }
        let how = match m.how {
            JoinType::Inner => "INNER",
            JoinType::Left => "LEFT",
            JoinType::Outer => "FULL OUTER",
        };
        let query = format!(
            "SELECT {} FROM {} l {how} JOIN {} r USING ({})",
            select.join(", "),
            sql::ident(&lv),
            sql::ident(&rv),
            keys.join(", ")
        );
        acc = cluster.sql(&query).map_err(fail)?;
        acc_schema = acc.schema().map_err(fail)?;
        left_name = format!("{left_name}+{name}");
    }
    Ok(acc)
}

/// The record of a dataset written at `location`, computed by Spark from the files.
fn describe(
    cluster: &Cluster,
    written: &Frame<'_>,
    location: &str,
) -> mlx_spark::Result<ClusterDataset> {
    let schema = written.schema()?;
    let view = "mlx_ingest_written";
    written.view(view)?;
    let names: Vec<String> = schema.iter().map(|f| f.name.clone()).collect();
    let row = cluster
        .rows(&sql::fingerprint(view, &names))?
        .into_iter()
        .next()
        .unwrap_or_default();
    let rows = row.first().and_then(|v| v.as_i64()).unwrap_or(0).max(0) as u64;
    let sum = row
        .get(1)
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    let xor = row.get(2).and_then(|v| v.as_i64()).unwrap_or(0);
    let types = column_types(&schema);
    let mut h = Sha256::new();
    h.update(format!(
        "mlx cluster dataset v1\nrows {rows}\nsum {sum}\nxor {xor}\n"
    ));
    for t in &types {
        h.update(format!("column {} {}\n", t.name, t.dtype));
    }
    Ok(ClusterDataset {
        schema_version: CLUSTER_DATASET_VERSION,
        location: location.to_owned(),
        format: "parquet".into(),
        rows,
        schema: types,
        fingerprint: crate::config::hex(&h.finalize()),
        spark_version: cluster.version()?,
        spark_ui: cluster.ui_url(),
        written_at: Utc::now(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strftime_formats_become_spark_patterns() {
        assert_eq!(java_date_format("%Y-%m-%d"), "yyyy-MM-dd");
        assert_eq!(java_date_format("%d/%m/%Y %H:%M"), "dd/MM/yyyy HH:mm");
        assert_eq!(java_date_format("%Y%m%dT%H"), "yyyyMMdd'T'HH");
    }
}
