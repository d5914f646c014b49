//! Object stores named by URL: the one place mlx turns `s3://`, `gs://`, `az://` or
//! `http(s)://` into a store (the data cache's remotes, the registry, the feature
//! store, ingest's remote sources).

use object_store::path::Path as ObjectPath;
use object_store::ObjectStore;

use crate::error::{Error, Result};

/// Opens the store behind an `s3://`, `gs://`, `az://`, `http(s)://` URL, and the path
/// in it. Credentials and endpoints come from the usual environment variables
/// (`AWS_*`, `GOOGLE_*`, `AZURE_*`).
pub fn open_url(uri: &str) -> Result<(Box<dyn ObjectStore>, ObjectPath)> {
    let url = url::Url::parse(uri)
        .map_err(|e| Error::Usage(format!("`{uri}` is not a valid URL: {e}")))?;
    let env: Vec<(String, String)> = std::env::vars()
        .filter(|(k, _)| {
            k.starts_with("AWS_") || k.starts_with("GOOGLE_") || k.starts_with("AZURE_")
        })
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .collect();
    object_store::parse_url_opts(&url, env).map_err(|e| Error::Usage(format!("`{uri}`: {e}")))
}
