//! Where the data stages run (`engine:`): the session on the Spark cluster that
//! `engine.kind: spark` names, the dataset ingest left there, and Spark's errors in
//! the stages' terms. The stages build their Spark SQL themselves (`mlx_spark::sql`).

use std::collections::BTreeMap;

use mlx_contracts::config::{Engine, Source, SourceFormat};
use mlx_contracts::ingest::ClusterDataset;
use mlx_spark::{Cluster, Read, SparkError};

use crate::config::LoadedConfig;
use crate::error::{Error, IoContext, Result};
use crate::workdir::{paths, Workdir};

/// The `engine:` section when it says `kind: spark`.
pub fn spark(config: &LoadedConfig) -> Option<&Engine> {
    config
        .config
        .engine
        .as_ref()
        .filter(|_| crate::config::rules::on_spark(&config.config))
}

/// A session on the cluster of `engine.remote` (the config's rules have checked that
/// it and `engine.storage` are set).
pub fn connect(config: &LoadedConfig, engine: &Engine) -> Result<Cluster> {
    let remote = engine.remote.as_deref().unwrap_or_default().trim();
    let shown = mlx_spark::redact(&config.mask(remote));
    let cluster = Cluster::connect(remote, &shown).map_err(|e| spark_error(config, None, e))?;
    // The job's tasks on the terminal, as local stages show their work.
    let bar = crate::progress::tasks_bar("Spark");
    cluster.on_progress(move |p| {
        bar.set_length(p.tasks.max(0) as u64);
        bar.set_position(p.done.max(0) as u64);
    });
    Ok(cluster)
}

/// `engine.storage` without a trailing slash.
pub fn storage(engine: &Engine) -> &str {
    engine
        .storage
        .as_deref()
        .unwrap_or_default()
        .trim()
        .trim_end_matches('/')
}

/// A Spark error as the stages report it: `what` (`source `sales``) first, secrets
/// masked. A server that cannot be reached is a runtime failure (exit 3); a query
/// Spark refuses (a table, column or function it does not know, SQL it cannot parse)
/// is the user's to fix (exit 2), as the same mistake is locally.
pub fn spark_error(config: &LoadedConfig, what: Option<&str>, e: SparkError) -> Error {
    let text = config.mask(&e.to_string());
    let text = match what {
        Some(w) => format!("{w}: {text}"),
        None => text,
    };
    match e {
        SparkError::Unreachable { .. } | SparkError::Failed { .. } => Error::Runtime(text),
        SparkError::BadRemote { .. } => Error::Usage(text),
        SparkError::Rejected { condition, .. } => {
            let hint = match condition.as_deref() {
                Some("TABLE_OR_VIEW_NOT_FOUND") => "; check the name, and that the cluster's catalog has it (`SHOW TABLES IN <schema>` in Spark SQL)",
                Some(c) if c.starts_with("UNRESOLVED_COLUMN") => "; the columns the data has are listed above",
                Some("PATH_NOT_FOUND") => "; the path is read by the cluster, so it must exist on the cluster's storage",
                Some(c) if c.starts_with("CAST_INVALID_INPUT") => "; fix the data or `dtypes`",
                Some("PATH_ALREADY_EXISTS") => "; Spark does not overwrite it, so what is there stays as it was: write to a new path, or remove the old one first",
                _ => "",
            };
            Error::Usage(format!("{text}{hint}"))
        }
    }
}

/// The dataset ingest left on the cluster, if it did.
pub fn cluster_dataset(workdir: &Workdir) -> Result<Option<ClusterDataset>> {
    let path = workdir.join(paths::CLUSTER_DATA);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(format!("reading {}", path.display()), e)),
    };
    ClusterDataset::from_json(&text)
        .map(Some)
        .map_err(|source| Error::Contract {
            path: path.display().to_string(),
            source,
        })
}

/// The dataset on the cluster that a Spark stage reads, or why there is none.
pub fn require_cluster_dataset(workdir: &Workdir) -> Result<ClusterDataset> {
    cluster_dataset(workdir)?.ok_or_else(|| {
        let local = workdir.join(paths::RAW_DATA);
        Error::Usage(if local.exists() {
            format!(
                "the dataset was ingested on this machine ({}), not on the cluster; run `mlx ingest` again now that `engine.kind` is spark",
                local.display()
            )
        } else {
            format!(
                "{} does not exist; run `mlx ingest` first (with `engine.kind: spark` it writes the dataset to the cluster)",
                workdir.join(paths::CLUSTER_DATA).display()
            )
        })
    })
}

/// Writes `data/cluster.json` atomically.
pub fn write_cluster_dataset(workdir: &Workdir, d: &ClusterDataset) -> Result<()> {
    let path = workdir.join(paths::CLUSTER_DATA);
    let text = crate::json::pretty(d)?;
    crate::fsutil::atomic_write(&path, text.as_bytes()).with_path("writing", &path)
}

/// Where a source is read from on the cluster: its table, its query, or its path in
/// the format its extension (or `format:`) names.
pub fn read_of(s: &Source) -> Result<Read> {
    if let Some(t) = &s.table {
        return Ok(Read::Table(t.clone()));
    }
    if s.uri.trim().is_empty() {
        if let Some(q) = &s.query {
            return Ok(Read::Query(q.clone()));
        }
    }
    let path = s.uri.trim().to_owned();
    let lower = path.to_ascii_lowercase();
    let format = match s.format {
        Some(f) => f,
        None if lower.ends_with(".csv") => SourceFormat::Csv,
        None if lower.ends_with(".tsv") => SourceFormat::Tsv,
        None if lower.ends_with(".json") => SourceFormat::Json,
        None if lower.ends_with(".ndjson") || lower.ends_with(".jsonl") => SourceFormat::Ndjson,
        None if lower.ends_with(".avro") => SourceFormat::Avro,
        None if lower.ends_with(".orc") => SourceFormat::Orc,
        // A directory of Parquet files is what a lake holds most.
        None => SourceFormat::Parquet,
    };
    let mut options = BTreeMap::new();
    let name = match format {
        SourceFormat::Csv | SourceFormat::Tsv => {
            let sep = s
                .delimiter
                .as_deref()
                .map(|d| d.replace("\\t", "\t"))
                .unwrap_or_else(|| if format == SourceFormat::Tsv { "\t" } else { "," }.into());
            options.insert("sep".into(), sep);
            options.insert("header".into(), s.header.unwrap_or(true).to_string());
            options.insert("inferSchema".into(), "true".into());
            // Polars reads an ISO date column as a date; so does Spark with these.
            options.insert("dateFormat".into(), s.date_format.clone().unwrap_or_else(|| "yyyy-MM-dd".into()));
            options.insert("mode".into(), "FAILFAST".into());
            if let [one] = s.null_values.as_slice() {
                options.insert("nullValue".into(), one.clone());
            } else if s.null_values.len() > 1 {
                return Err(Error::Usage(format!(
                    "source `{}`: Spark's CSV reader takes one `null_values` string, not {}; keep one",
                    s.name,
                    s.null_values.len()
                )));
            }
            "csv"
        }
        SourceFormat::Json => {
            options.insert("multiLine".into(), "true".into());
            "json"
        }
        SourceFormat::Ndjson => "json",
        SourceFormat::Parquet => "parquet",
        SourceFormat::Avro => "avro",
        SourceFormat::Orc => "orc",
        SourceFormat::Delta => "delta",
        SourceFormat::Sql => {
            return Err(Error::Usage(format!(
                "source `{}`: `format: sql` reads a database from this machine; on Spark, use `table:` or `query:`",
                s.name
            )))
        }
    };
    Ok(Read::Path {
        path,
        format: name.into(),
        options,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_is_read_from_what_it_names() {
        let s = Source {
            name: "t".into(),
            table: Some("lake.sales".into()),
            ..Source::default()
        };
        assert_eq!(read_of(&s).unwrap(), Read::Table("lake.sales".into()));
        let s = Source {
            name: "q".into(),
            query: Some("SELECT 1".into()),
            ..Source::default()
        };
        assert_eq!(read_of(&s).unwrap(), Read::Query("SELECT 1".into()));
        let s = Source {
            name: "f".into(),
            uri: "s3a://lake/sales.tsv".into(),
            ..Source::default()
        };
        let Read::Path {
            format, options, ..
        } = read_of(&s).unwrap()
        else {
            panic!("a path")
        };
        assert_eq!((format.as_str(), options["sep"].as_str()), ("csv", "\t"));
        let s = Source {
            name: "d".into(),
            uri: "s3a://lake/sales/".into(),
            ..Source::default()
        };
        assert!(matches!(read_of(&s).unwrap(), Read::Path { format, .. } if format == "parquet"));
    }
}
