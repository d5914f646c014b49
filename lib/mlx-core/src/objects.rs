//! Object stores named by URL: the one place mlx turns `s3://`, `gs://`, `az://` or
//! `http(s)://` into a store (the data cache's remotes, the registry, the feature
//! store, ingest's remote sources).

use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};

use crate::error::{Error, IoContext, Result};

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

/// A directory of objects on any store: a local directory (created if missing) or a
/// URL's prefix. The registry and the tracking store keep their objects in one, and
/// change shared state only with create-only writes ([`Bucket::create`]).
pub struct Bucket {
    store: Box<dyn ObjectStore>,
    prefix: ObjectPath,
    label: String,
    name: String,
    rt: tokio::runtime::Runtime,
}

/// What a create-only write found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    /// The object was written.
    Yes,
    /// It was there already; nothing was written.
    Exists,
}

impl Bucket {
    /// Opens `uri`; `name` (`registry`, `tracking`) starts its messages, and
    /// `{name}.uri` is the setting they name.
    pub fn open(uri: &str, name: &str) -> Result<Self> {
        let what = format!("{name}.uri");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::io("starting the I/O runtime", e))?;
        let is_url = uri.contains("://") && !uri.starts_with("file://");
        let (store, prefix): (Box<dyn ObjectStore>, ObjectPath) = if is_url {
            open_url(uri).map_err(|e| Error::Usage(format!("{what} {e}")))?
        } else {
            let path = std::path::PathBuf::from(uri.strip_prefix("file://").unwrap_or(uri));
            std::fs::create_dir_all(&path).with_path("creating", &path)?;
            let s = object_store::local::LocalFileSystem::new_with_prefix(&path)
                .map_err(|e| Error::Runtime(format!("{what} {uri}: {e}")))?;
            (Box::new(s), ObjectPath::default())
        };
        Ok(Self {
            store,
            prefix,
            label: uri.to_owned(),
            name: name.to_owned(),
            rt,
        })
    }

    /// Where it is, as given.
    pub fn label(&self) -> &str {
        &self.label
    }

    fn key(&self, rel: &str) -> ObjectPath {
        let mut parts: Vec<String> = self.prefix.parts().map(|p| p.as_ref().to_owned()).collect();
        parts.extend(rel.split('/').filter(|p| !p.is_empty()).map(str::to_owned));
        ObjectPath::from_iter(parts)
    }

    fn err(&self, what: &str) -> impl Fn(object_store::Error) -> Error + '_ {
        let what = what.to_owned();
        move |e| Error::Runtime(format!("{} {}: {what}: {e}", self.name, self.label))
    }

    /// The object at `rel`, or `None`.
    pub fn get(&self, rel: &str) -> Result<Option<Vec<u8>>> {
        let key = self.key(rel);
        self.rt.block_on(async {
            match self.store.get(&key).await {
                // `bytes` reads a local file in one blocking read; its stream would hand
                // it over in 8 KiB chunks, each a trip between threads (a 58 MB
                // tracking pack took 0.3 s that way).
                Ok(r) => Ok(Some(Vec::from(r.bytes().await.map_err(self.err(rel))?))),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(self.err(rel)(e)),
            }
        })
    }

    /// Writes `rel` only if nothing is there (`If-None-Match: *` on S3, a hard link on
    /// a local disk).
    pub fn create(&self, rel: &str, bytes: Vec<u8>) -> Result<Created> {
        let key = self.key(rel);
        let opts = PutOptions {
            mode: PutMode::Create,
            ..Default::default()
        };
        self.rt.block_on(async {
            match self
                .store
                .put_opts(&key, PutPayload::from(bytes), opts)
                .await
            {
                Ok(_) => Ok(Created::Yes),
                Err(
                    object_store::Error::AlreadyExists { .. }
                    | object_store::Error::Precondition { .. },
                ) => Ok(Created::Exists),
                Err(object_store::Error::NotImplemented { .. }) => Err(Error::Usage(format!(
                    "{} {}: this store cannot write conditionally, so concurrent writers \
                     could lose each other's changes; for S3-compatible stores that support \
                     conditional writes set AWS_CONDITIONAL_PUT=etag",
                    self.name, self.label
                ))),
                Err(e) => Err(self.err(rel)(e)),
            }
        })
    }

    /// Writes `rel`, replacing what is there (hints only: never shared state).
    pub fn put(&self, rel: &str, bytes: Vec<u8>) -> Result<()> {
        let key = self.key(rel);
        self.rt
            .block_on(self.store.put(&key, PutPayload::from(bytes)))
            .map(drop)
            .map_err(self.err(rel))
    }

    /// Deletes `rel`; one already gone is no error.
    pub fn delete(&self, rel: &str) -> Result<()> {
        let key = self.key(rel);
        match self.rt.block_on(self.store.delete(&key)) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.err(rel)(e)),
        }
    }

    /// The objects directly under the folder `rel`, as paths relative to the bucket,
    /// sorted.
    pub fn list(&self, rel: &str) -> Result<Vec<String>> {
        let key = self.key(rel);
        let skip = self.prefix.parts().count();
        let mut out: Vec<String> = self.rt.block_on(async {
            let listed = match self.store.list_with_delimiter(Some(&key)).await {
                Ok(l) => l,
                Err(object_store::Error::NotFound { .. }) => return Ok(Vec::new()),
                Err(e) => return Err(self.err(rel)(e)),
            };
            Ok::<_, Error>(
                listed
                    .objects
                    .into_iter()
                    .map(|o| {
                        o.location
                            .parts()
                            .skip(skip)
                            .map(|p| p.as_ref().to_owned())
                            .collect::<Vec<_>>()
                            .join("/")
                    })
                    .collect(),
            )
        })?;
        out.sort();
        Ok(out)
    }
}
