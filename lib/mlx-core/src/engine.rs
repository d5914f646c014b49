//! Where the data stages run (`engine:`): the session on the Spark cluster that
//! `engine.kind: spark` names, the dataset ingest left there, and Spark's errors in
//! the stages' terms. The stages build their Spark SQL themselves (`mlx_spark::sql`).

use mlx_contracts::config::Engine;
use mlx_contracts::ingest::ClusterDataset;
use mlx_spark::{Cluster, SparkError};

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
        SparkError::Unreachable { .. } => Error::Runtime(text),
        SparkError::BadRemote { .. } => Error::Usage(text),
        SparkError::Rejected { condition, .. } => {
            let hint = match condition.as_deref() {
                Some("TABLE_OR_VIEW_NOT_FOUND") => "; check the name, and that the cluster's catalog has it (`SHOW TABLES IN <schema>` in Spark SQL)",
                Some(c) if c.starts_with("UNRESOLVED_COLUMN") => "; the columns the data has are listed above",
                Some("PATH_NOT_FOUND") => "; the path is read by the cluster, so it must exist on the cluster's storage",
                Some(c) if c.starts_with("CAST_INVALID_INPUT") => "; fix the data or `dtypes`",
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
