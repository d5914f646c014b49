//! The registry's storage on any `object_store`: a local directory by default, or
//! `s3://`, `gs://`, `az://`.
//!
//! State changes are compare-and-swap on the state's revision number: revision `n + 1`
//! is written with a create-only conditional write (`If-None-Match: *` on S3, a hard
//! link on a local disk), so of two writers that both read revision `n`, exactly one
//! succeeds and the other gets [`Error::Conflict`]. Every store `object_store` supports
//! offers create-only writes (the local one does not offer `If-Match` updates), so one
//! mechanism serves all, and the revisions double as the audit trail.

use std::path::Path;

use mlx_contracts::registry::{ModelVersion, RegistryState};

use crate::error::{Error, IoContext, Result};
use crate::fsutil::atomic_write;
use crate::objects::{Bucket, Created};

/// One registered model in a registry.
pub struct Store {
    bucket: Bucket,
    model: String,
    /// The config whose MLflow mirror follows every committed change.
    mirror: Option<Box<mlx_contracts::config::Config>>,
}

impl Store {
    /// Opens the registry at `uri` for `model`. Credentials and endpoints come from the
    /// usual environment variables (`AWS_*`, `GOOGLE_*`, `AZURE_*`).
    pub fn open(uri: &str, model: &str) -> Result<Self> {
        if let Some(problem) = crate::config::rules::model_name_problem(model) {
            return Err(Error::Usage(format!(
                "{problem}; use letters, digits, `-`, `_` and `.` (registry.model_name, or \
                 project.name)"
            )));
        }
        Ok(Self {
            bucket: Bucket::open(uri, "registry")?,
            model: model.to_owned(),
            mirror: None,
        })
    }

    /// Mirrors every change this store commits to `cfg`'s MLflow server, when it has
    /// one (`tracking.mlflow`).
    pub fn mirrored_by(mut self, cfg: &mlx_contracts::config::Config) -> Self {
        if cfg.tracking.mlflow.is_some() {
            self.mirror = Some(Box::new(cfg.clone()));
        }
        self
    }

    /// The registered model's name.
    pub fn model(&self) -> &str {
        &self.model
    }

    /// Where the registry is.
    pub fn label(&self) -> &str {
        self.bucket.label()
    }

    fn get(&self, rel: &str) -> Result<Option<Vec<u8>>> {
        self.bucket.get(&format!("{}/{rel}", self.model))
    }

    fn create(&self, rel: &str, bytes: Vec<u8>) -> Result<Created> {
        self.bucket.create(&format!("{}/{rel}", self.model), bytes)
    }

    fn revision_key(n: u64) -> String {
        format!("state/{n:012}.json")
    }

    /// One revision of the state.
    pub fn revision(&self, n: u64) -> Result<Option<RegistryState>> {
        let rel = Self::revision_key(n);
        let Some(bytes) = self.get(&rel)? else {
            return Ok(None);
        };
        let state =
            RegistryState::from_json(&String::from_utf8_lossy(&bytes)).map_err(|source| {
                Error::Contract {
                    path: format!("{}/{}/{rel}", self.label(), self.model),
                    source,
                }
            })?;
        if state.revision != n || state.model != self.model {
            return Err(Error::Runtime(format!(
                "registry {}: {rel} claims to be revision {} of `{}`; the registry was edited \
                 by hand",
                self.label(),
                state.revision,
                state.model
            )));
        }
        Ok(Some(state))
    }

    /// The current state (`None`: nothing registered yet). Starts from the `HEAD` hint
    /// (written after each change, possibly behind) and reads forward.
    pub fn state(&self) -> Result<Option<RegistryState>> {
        let hint = self
            .get("state/HEAD")?
            .and_then(|b| String::from_utf8_lossy(&b).trim().parse::<u64>().ok())
            .unwrap_or(0);
        let mut head = if hint > 0 { self.revision(hint)? } else { None };
        let mut n = if head.is_some() { hint } else { 0 };
        loop {
            match self.revision(n + 1)? {
                Some(s) => {
                    head = Some(s);
                    n += 1;
                }
                None => return Ok(head),
            }
        }
    }

    /// Every revision, oldest first.
    pub fn history(&self) -> Result<Vec<RegistryState>> {
        let Some(head) = self.state()? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::with_capacity(head.revision as usize);
        for n in 1..head.revision {
            out.push(self.revision(n)?.ok_or_else(|| {
                Error::Runtime(format!(
                    "registry {}: revision {n} of `{}` is missing; the registry was edited by hand",
                    self.label(),
                    self.model
                ))
            })?);
        }
        out.push(head);
        Ok(out)
    }

    /// Writes `next` as the revision after `base`, failing with [`Error::Conflict`] if
    /// another writer got there first.
    pub fn commit(
        &self,
        base: Option<&RegistryState>,
        mut next: RegistryState,
    ) -> Result<RegistryState> {
        next.revision = base.map_or(1, |b| b.revision + 1);
        let text = crate::json::pretty(&next)?;
        match self.create(&Self::revision_key(next.revision), text.into_bytes())? {
            Created::Yes => {
                // Best effort: a stale hint only costs readers a few extra reads.
                let _ = self.bucket.put(
                    &format!("{}/state/HEAD", self.model),
                    next.revision.to_string().into_bytes(),
                );
                if let Some(cfg) = &self.mirror {
                    crate::tracking::mlflow::mirror_quietly(cfg);
                }
                Ok(next)
            }
            Created::Exists => Err(Error::Conflict(format!(
                "the registry state of `{}` changed while this command ran (revision {} was \
                 written by someone else); nothing was changed: run the command again to \
                 decide on the new state",
                self.model, next.revision
            ))),
        }
    }

    /// Claims the first free version number from `from` by creating its bundle object.
    pub fn claim_version(&self, from: u64, archive: Vec<u8>) -> Result<u64> {
        let mut n = from.max(1);
        loop {
            match self.create(&format!("versions/{n}/bundle.tar"), archive.clone())? {
                Created::Yes => return Ok(n),
                Created::Exists => n += 1,
            }
        }
    }

    /// Writes a version's metadata (once).
    pub fn write_version(&self, v: &ModelVersion) -> Result<()> {
        let text = crate::json::pretty(v)?;
        match self.create(
            &format!("versions/{}/version.json", v.version),
            text.into_bytes(),
        )? {
            Created::Yes => Ok(()),
            Created::Exists => Err(Error::Runtime(format!(
                "registry {}: versions/{}/version.json already exists; the registry was edited \
                 by hand",
                self.label(),
                v.version
            ))),
        }
    }

    /// A version's metadata.
    pub fn version(&self, n: u64) -> Result<ModelVersion> {
        let rel = format!("versions/{n}/version.json");
        let bytes = self.get(&rel)?.ok_or_else(|| {
            Error::Runtime(format!(
                "registry {}: version {n} of `{}` has no version.json",
                self.label(),
                self.model
            ))
        })?;
        ModelVersion::from_json(&String::from_utf8_lossy(&bytes)).map_err(|source| {
            Error::Contract {
                path: format!("{}/{}/{rel}", self.label(), self.model),
                source,
            }
        })
    }

    /// Downloads version `n`'s bundle to `dest` after checking its SHA-256 against the
    /// version's metadata; a tampered or truncated bundle is refused.
    pub fn fetch_bundle(&self, v: &ModelVersion, dest: &Path) -> Result<()> {
        let got = self.bundle_bytes(v)?;
        if let Some(parent) = dest.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).with_path("creating", parent)?;
        }
        atomic_write(dest, &got).with_path("writing", dest)
    }

    /// Checks that version `n`'s stored bundle is the one registered (its SHA-256
    /// against the version's metadata), without keeping it.
    pub fn verify_bundle(&self, n: u64) -> Result<()> {
        self.bundle_bytes(&self.version(n)?).map(drop)
    }

    /// Version `v`'s bundle, verified against its metadata.
    fn bundle_bytes(&self, v: &ModelVersion) -> Result<Vec<u8>> {
        self.verified(v, "bundle.tar", "bundle", &v.archive_sha256)
    }

    /// Stores version `n`'s reference rows (once, before its metadata is written).
    pub fn write_reference(&self, n: u64, parquet: Vec<u8>) -> Result<()> {
        match self.create(&format!("versions/{n}/{REFERENCE}"), parquet)? {
            Created::Yes => Ok(()),
            Created::Exists => Err(Error::Runtime(format!(
                "registry {}: versions/{n}/{REFERENCE} already exists before version {n} was \
                 registered; the registry was edited by hand",
                self.label()
            ))),
        }
    }

    /// Version `v`'s reference rows (Parquet bytes), verified against its metadata, or
    /// `None` for a version registered without them.
    pub fn reference_bytes(&self, v: &ModelVersion) -> Result<Option<Vec<u8>>> {
        v.reference
            .as_ref()
            .map(|r| self.verified(v, REFERENCE, "reference rows", &r.sha256))
            .transpose()
    }

    /// The object `versions/<n>/<name>`, refused unless it hashes to `sha256`.
    fn verified(&self, v: &ModelVersion, name: &str, what: &str, sha256: &str) -> Result<Vec<u8>> {
        let rel = format!("versions/{}/{name}", v.version);
        let got = self.get(&rel)?.ok_or_else(|| {
            Error::Runtime(format!(
                "registry {}: the {what} of version {} of `{}` is missing",
                self.label(),
                v.version,
                self.model
            ))
        })?;
        let hash = crate::config::hex(&<sha2::Sha256 as sha2::Digest>::digest(&got));
        if hash != sha256 {
            return Err(Error::Runtime(format!(
                "registry {}: the {what} of version {} of `{}` hashes to {hash}, not the \
                 {sha256} recorded at registration: it was modified or damaged; refusing to use it",
                self.label(),
                v.version,
                self.model
            )));
        }
        Ok(got)
    }
}

/// The name of a version's reference rows in the registry.
const REFERENCE: &str = "reference.parquet";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::state;

    #[test]
    fn a_second_writer_from_the_same_base_conflicts_and_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().to_str().unwrap(), "m").unwrap();
        assert!(store.state().unwrap().is_none());
        let first = store.commit(None, state::empty("m")).unwrap();
        assert_eq!(first.revision, 1);
        let mut a = first.clone();
        a.aliases.insert("a".into(), 1);
        let mut b = first.clone();
        b.aliases.insert("b".into(), 1);
        store.commit(Some(&first), a).unwrap();
        let e = store.commit(Some(&first), b).unwrap_err();
        assert!(matches!(e, Error::Conflict(_)), "{e}");
        let now = store.state().unwrap().unwrap();
        assert_eq!(now.revision, 2);
        assert!(now.aliases.contains_key("a") && !now.aliases.contains_key("b"));
        // A stale HEAD hint only means reading forward.
        std::fs::write(dir.path().join("m/state/HEAD"), "1").unwrap();
        assert_eq!(store.state().unwrap().unwrap().revision, 2);
        assert_eq!(store.history().unwrap().len(), 2);
        assert!(Store::open(dir.path().to_str().unwrap(), "../x").is_err());
    }
}
