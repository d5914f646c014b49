//! The model bundle: writing it, and the one loader every later stage uses.
//!
//! `<dir>/manifest.json` ([`BundleManifest`]), `<dir>/preprocessor.json` and the model
//! file. The manifest lists each file's SHA-256; loading checks them, so a tampered
//! bundle is refused.
//!
//! The single-file form ([`pack`], for the registry and for copying a model around) is
//! a plain tar of the same files, manifest first, with fixed timestamps, owners and
//! modes, so the same bundle always packs to the same bytes; `tar xf` unpacks it and
//! [`Bundle::load`] reads it as it reads a directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mlx_contracts::features::Preprocessor;
use mlx_contracts::train::{BundleManifest, BUNDLE_VERSION};
use mlx_data::polars::prelude::*;
use nalgebra::DMatrix;
use sha2::{Digest, Sha256};

use super::FittedModel;
use crate::error::{Error, IoContext, Result};
use crate::fsutil::atomic_write;
use crate::model::transform;

/// The manifest's file name.
pub const MANIFEST: &str = "manifest.json";
/// The preprocessor's file name.
pub const PREPROCESSOR: &str = "preprocessor.json";

fn sha256(bytes: &[u8]) -> String {
    crate::config::hex(&Sha256::digest(bytes))
}

/// The hash of what predicts: the preprocessor and the model file (provenance such as
/// the git commit is in the manifest but not in this hash, so equal config, data and
/// seed give equal hashes).
pub fn content_hash(files: &BTreeMap<String, String>) -> String {
    let mut h = Sha256::new();
    for (name, sha) in files {
        h.update(name.as_bytes());
        h.update([0]);
        h.update(sha.as_bytes());
        h.update([0]);
    }
    crate::config::hex(&h.finalize())
}

/// Writes a bundle into `dir` (replacing an older one). `manifest.files` is filled in.
/// Returns the content hash.
pub fn write(
    dir: &Path,
    manifest: &mut BundleManifest,
    preprocessor: &Preprocessor,
    model: &FittedModel,
) -> Result<String> {
    std::fs::create_dir_all(dir).with_path("creating", dir)?;
    let pre = crate::json::pretty(preprocessor)?.into_bytes();
    let model_bytes = model.to_bytes()?;
    manifest.model_file = model.file_name().to_string();
    manifest.files = BTreeMap::from([
        (PREPROCESSOR.to_string(), sha256(&pre)),
        (manifest.model_file.clone(), sha256(&model_bytes)),
    ]);
    for (name, bytes) in [
        (PREPROCESSOR, &pre),
        (manifest.model_file.as_str(), &model_bytes),
    ] {
        let p = dir.join(name);
        atomic_write(&p, bytes).with_path("writing", &p)?;
    }
    // The manifest last: a bundle without one is incomplete, never inconsistent.
    let m = crate::json::pretty(manifest)?.into_bytes();
    let p = dir.join(MANIFEST);
    atomic_write(&p, &m).with_path("writing", &p)?;
    Ok(content_hash(&manifest.files))
}

/// A bundle's files: a directory, or a packed archive read into memory.
enum Files {
    Dir(PathBuf),
    Archive(PathBuf, BTreeMap<String, Vec<u8>>),
}

impl Files {
    fn open(path: &Path) -> Result<Self> {
        if !path.is_file() {
            return Ok(Files::Dir(path.to_path_buf()));
        }
        let file = std::fs::File::open(path).with_path("opening", path)?;
        let mut archive = tar::Archive::new(file);
        let corrupt = |e: std::io::Error| {
            Error::Usage(format!(
                "{} is neither a bundle directory nor a packed bundle (a tar): {e}",
                path.display()
            ))
        };
        let mut files = BTreeMap::new();
        for entry in archive.entries().map_err(corrupt)? {
            let mut entry = entry.map_err(corrupt)?;
            let name = entry
                .path()
                .map_err(corrupt)?
                .to_string_lossy()
                .into_owned();
            if let Some(problem) = member_problem(&name) {
                return Err(Error::Usage(format!(
                    "{}: the archive member `{name}` {problem}; this is not a bundle mlx \
                     packed, refusing it",
                    path.display()
                )));
            }
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut bytes).map_err(corrupt)?;
            files.insert(name, bytes);
        }
        Ok(Files::Archive(path.to_path_buf(), files))
    }

    fn path(&self) -> &Path {
        match self {
            Files::Dir(p) | Files::Archive(p, _) => p,
        }
    }

    /// A file's bytes; `None` when the bundle has no such file.
    fn read(&self, name: &str) -> Result<Option<Vec<u8>>> {
        match self {
            Files::Dir(dir) => {
                let p = dir.join(name);
                match std::fs::read(&p) {
                    Ok(b) => Ok(Some(b)),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(Error::io(format!("reading {}", p.display()), e)),
                }
            }
            Files::Archive(_, files) => Ok(files.get(name).cloned()),
        }
    }
}

/// Why `name` cannot be a file of a bundle: a bundle is a flat directory, so its
/// files are plain names (no `/`, no `..`, not absolute, not hidden).
fn member_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() || name.contains(['/', '\\', '\0']) || name.starts_with('.') {
        Some("is not a plain file name inside the bundle")
    } else {
        None
    }
}

/// Packs the bundle in `dir` (verified first) into the single file `archive`, written
/// atomically. Returns the archive's SHA-256.
pub fn pack(dir: &Path, archive: &Path) -> Result<String> {
    let bundle = Bundle::load(dir)?;
    let mut names = vec![MANIFEST.to_string()];
    names.extend(bundle.manifest.files.keys().cloned());
    let mut builder = tar::Builder::new(Vec::new());
    builder.mode(tar::HeaderMode::Deterministic);
    for name in &names {
        let p = dir.join(name);
        let bytes = std::fs::read(&p).with_path("reading", &p)?;
        let mut header = tar::Header::new_ustar();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_entry_type(tar::EntryType::Regular);
        builder
            .append_data(&mut header, name, bytes.as_slice())
            .map_err(|e| Error::io(format!("packing {}", dir.display()), e))?;
    }
    let bytes = builder
        .into_inner()
        .map_err(|e| Error::io(format!("packing {}", dir.display()), e))?;
    if let Some(parent) = archive.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).with_path("creating", parent)?;
    }
    atomic_write(archive, &bytes).with_path("writing", archive)?;
    Ok(sha256(&bytes))
}

/// A loaded bundle: predicts on any frame with the input columns.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// Where it was loaded from (a directory or a packed archive).
    pub dir: PathBuf,
    /// Its manifest.
    pub manifest: BundleManifest,
    /// The fitted preprocessing.
    pub preprocessor: Preprocessor,
    /// The model.
    pub model: FittedModel,
}

fn read_checked(files: &Files, name: &str, manifest: &BundleManifest) -> Result<Vec<u8>> {
    let at = files.path().display();
    let bytes = files.read(name)?.ok_or_else(|| {
        Error::Runtime(format!(
            "{at}: the bundle has no {name}, which its manifest lists; retrain, or restore \
             it from the registry"
        ))
    })?;
    let want = manifest
        .files
        .get(name)
        .ok_or_else(|| Error::Runtime(format!("{at}: the manifest does not list {name}")))?;
    if &sha256(&bytes) != want {
        return Err(Error::Runtime(format!(
            "{name} in {at} does not match the SHA-256 in its bundle's manifest: the bundle was \
             modified after training; retrain, or restore it from the registry"
        )));
    }
    Ok(bytes)
}

impl Bundle {
    /// Loads and verifies a bundle: a directory, or the single file [`pack`] writes.
    pub fn load(path: &Path) -> Result<Self> {
        let files = Files::open(path)?;
        let at = path.display();
        let text = files.read(MANIFEST)?.ok_or_else(|| {
            Error::Usage(format!(
                "{at} is not a model bundle (no {MANIFEST}); run `mlx-train` first"
            ))
        })?;
        let text = String::from_utf8_lossy(&text);
        let manifest: BundleManifest =
            mlx_contracts::parse_versioned(&text, "model bundle", BUNDLE_VERSION).map_err(
                |source| Error::Contract {
                    path: format!("{at}: {MANIFEST}"),
                    source,
                },
            )?;
        for name in manifest.files.keys().chain([&manifest.model_file]) {
            if let Some(problem) = member_problem(name) {
                return Err(Error::Usage(format!(
                    "{at}: {MANIFEST} names the file `{name}`, which {problem}; the bundle is \
                     not one mlx wrote, refusing it"
                )));
            }
        }
        let pre = read_checked(&files, PREPROCESSOR, &manifest)?;
        let preprocessor: Preprocessor = serde_json::from_slice(&pre)
            .map_err(|e| Error::Runtime(format!("{at}: the preprocessor is corrupt: {e}")))?;
        let classes = manifest.classes.as_ref().map_or(0, Vec::len);
        let bytes = read_checked(&files, &manifest.model_file, &manifest)?;
        let model = if manifest.model_file == super::DIRECT_FILE {
            serde_json::from_slice(&bytes)
                .map_err(|e| Error::Runtime(format!("{at}: the model file is corrupt: {e}")))?
        } else {
            FittedModel::from_bytes(manifest.model_type, classes, &bytes)?
        };
        Ok(Self {
            dir: path.to_path_buf(),
            manifest,
            preprocessor,
            model,
        })
    }

    /// The model matrix of a frame, through the fitted preprocessing.
    pub fn matrix(&self, df: &DataFrame) -> Result<DMatrix<f64>> {
        Ok(self.matrix_named(df)?.0)
    }

    /// The model matrix and its column names (the model's features).
    pub fn matrix_named(&self, df: &DataFrame) -> Result<(DMatrix<f64>, Vec<String>)> {
        let (m, _) = transform::transform(&self.preprocessor, df)?;
        let names = m.get_column_names().iter().map(|c| c.to_string()).collect();
        Ok((matrix(&m)?, names))
    }

    /// Predictions: a `prediction` column (the value; the most probable class, or for a
    /// binary classifier with a tuned threshold the second class when its probability
    /// reaches it) and, for classifiers, `proba_<class>` columns.
    pub fn predict(&self, df: &DataFrame) -> Result<DataFrame> {
        let out = self.model.predict(&self.matrix(df)?)?;
        let mut cols = Vec::new();
        match &self.manifest.classes {
            None => cols.push(Column::new(
                "prediction".into(),
                out.column(0).iter().copied().collect::<Vec<f64>>(),
            )),
            Some(classes) => {
                let best: Vec<&str> = (0..out.nrows())
                    .map(|i| {
                        classes[decide(&out, i, self.manifest.decision_threshold, classes.len())]
                            .as_str()
                    })
                    .collect();
                cols.push(Column::new("prediction".into(), best));
                for (k, c) in classes.iter().enumerate() {
                    cols.push(Column::new(
                        format!("proba_{c}").into(),
                        out.column(k).iter().copied().collect::<Vec<f64>>(),
                    ));
                }
            }
        }
        DataFrame::new_infer_height(cols).map_err(|e| Error::Runtime(e.to_string()))
    }
}

/// The predicted class of row `i` of class probabilities: the second class when a
/// binary classifier's tuned threshold is reached, else the most probable (the first
/// on ties, as scikit-learn's argmax).
pub fn decide(proba: &DMatrix<f64>, i: usize, threshold: Option<f64>, classes: usize) -> usize {
    match threshold.filter(|_| classes == 2) {
        Some(t) => usize::from(proba[(i, 1)] >= t),
        None => (0..proba.ncols())
            .max_by(|&a, &b| proba[(i, a)].total_cmp(&proba[(i, b)]).then(b.cmp(&a)))
            .unwrap_or(0),
    }
}

/// A frame of Float64 columns as a dense matrix; missing values are an error naming
/// the column (the linear solvers cannot use them).
pub fn matrix(df: &DataFrame) -> Result<DMatrix<f64>> {
    let (n, p) = (df.height(), df.width());
    let mut data = Vec::with_capacity(n * p);
    for c in df.columns() {
        let ca = c.f64().map_err(|e| Error::Runtime(e.to_string()))?;
        let before = data.len();
        data.extend(ca.iter().map(|v| v.unwrap_or(f64::NAN)));
        if data[before..].iter().any(|v| v.is_nan()) {
            return Err(Error::Usage(format!(
                "model input `{}` has missing values; add an `impute` transform for it \
                 (features.transforms) or drop those rows",
                c.name()
            )));
        }
    }
    Ok(DMatrix::from_vec(n, p, data))
}

#[cfg(test)]
mod member_tests {
    use super::*;

    #[test]
    fn names_that_leave_the_bundle_are_refused() {
        for bad in ["../x", "/etc/passwd", "a/b", ".hidden", "", "..", "x\\y"] {
            assert!(member_problem(bad).is_some(), "{bad:?}");
        }
        for ok in ["manifest.json", "model.json", "preprocessor.json"] {
            assert!(member_problem(ok).is_none(), "{ok:?}");
        }
        // A packed bundle with a member outside it is refused before anything is read.
        let dir = tempfile::tempdir().unwrap();
        let tar_path = dir.path().join("b.tar");
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(1);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, "../evil", &b"x"[..])
            .unwrap_or_else(|_| {
                // tar refuses `..` in append_data: write the name into the header directly.
                let mut h = tar::Header::new_old();
                h.as_old_mut().name[..7].copy_from_slice(b"../evil");
                h.set_size(1);
                h.set_cksum();
                b.append(&h, &b"x"[..]).unwrap();
            });
        std::fs::write(&tar_path, b.into_inner().unwrap()).unwrap();
        let e = Bundle::load(&tar_path).err().unwrap().to_string();
        assert!(e.contains("`../evil`") && e.contains("refusing"), "{e}");
    }
}
