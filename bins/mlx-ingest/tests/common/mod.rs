//! What the stream sources' tests share.

use std::path::Path;

/// The ingested rows' `id`s, sorted.
pub fn ids(d: &Path) -> Vec<i64> {
    let df = mlx_data::read_table(&d.join(".mlx/data/raw.parquet")).unwrap();
    let mut ids: Vec<i64> = df
        .column("id")
        .unwrap()
        .i64()
        .unwrap()
        .into_no_null_iter()
        .collect();
    ids.sort_unstable();
    ids
}
