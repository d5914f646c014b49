//! The tracking store on any `object_store` (layout: `mlx_contracts::tracking`).
//!
//! Writers only create: an entry is `entries/<id>.json`, created once; a pack is
//! `packs/<sha256>.jsonl`, created once and named by its content. Packing writes a pack
//! of the loose entries and only then deletes them, so a reader sees every entry at
//! least once and drops the identical copies by id; two writers never lose each
//! other's entries.

use std::collections::BTreeSet;

use mlx_contracts::tracking::TrackedRun;
use rayon::prelude::*;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::objects::{Bucket, Created};

/// Loose entries at which an append packs them.
const PACK_AT: usize = 256;
/// Packs beyond which packing merges them into one.
const MERGE_AT: usize = 8;

/// One experiment of a tracking store.
pub struct Store {
    bucket: Bucket,
    experiment: String,
}

/// What [`Store::pack`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Packed {
    /// Loose entries moved into a pack.
    pub loose: usize,
    /// Packs merged into one.
    pub merged: usize,
}

impl Store {
    /// Opens experiment `experiment` of the store at `uri` (a directory, or `s3://`,
    /// `gs://`, `az://`).
    pub fn open(uri: &str, experiment: &str) -> Result<Self> {
        if let Some(problem) = crate::config::rules::model_name_problem(experiment) {
            return Err(Error::Usage(format!(
                "{} as an experiment name; use letters, digits, `-`, `_` and `.` \
                 (tracking.experiment, or project.name)",
                problem.replacen("model name", "name", 1)
            )));
        }
        Ok(Self {
            bucket: Bucket::open(uri, "tracking")?,
            experiment: experiment.to_owned(),
        })
    }

    /// Where the store is.
    pub fn label(&self) -> &str {
        self.bucket.label()
    }

    /// The experiment.
    pub fn experiment(&self) -> &str {
        &self.experiment
    }

    fn rel(&self, rel: &str) -> String {
        format!("{}/{rel}", self.experiment)
    }

    /// Appends entries (each created once: appending a loose entry again writes
    /// nothing, and one already packed is read once), then packs when enough loose
    /// entries have gathered. Returns how many were written.
    pub fn append(&self, entries: &[TrackedRun]) -> Result<usize> {
        let mut new = 0;
        for e in entries {
            if !is_id(&e.id) {
                return Err(Error::Runtime(format!(
                    "tracking entry id `{}` is not 16 hex digits",
                    e.id
                )));
            }
            let text = crate::json::line(e)?;
            if self.bucket.create(
                &self.rel(&format!("entries/{}.json", e.id)),
                text.into_bytes(),
            )? == Created::Yes
            {
                new += 1;
            }
        }
        if self.loose()?.len() >= PACK_AT {
            self.pack()?;
        }
        Ok(new)
    }

    /// The objects of the folder `rel` of the experiment (an MLflow mirror's records),
    /// as paths relative to the experiment.
    pub fn mirror_list(&self, rel: &str) -> Result<Vec<String>> {
        let prefix = format!("{}/", self.experiment);
        Ok(self
            .bucket
            .list(&self.rel(rel))?
            .into_iter()
            .map(|k| k.strip_prefix(&prefix).map(str::to_owned).unwrap_or(k))
            .collect())
    }

    /// One object of the experiment outside its entries (a mirror's record).
    pub fn mirror_get(&self, rel: &str) -> Result<Option<Vec<u8>>> {
        self.bucket.get(&self.rel(rel))
    }

    /// Writes a mirror's record: never an entry, so never shared state.
    pub fn mirror_put(&self, rel: &str, bytes: Vec<u8>) -> Result<()> {
        self.bucket.put(&self.rel(rel), bytes)
    }

    /// Deletes a mirror's record; one already gone is no error.
    pub fn mirror_forget(&self, rel: &str) -> Result<()> {
        self.bucket.delete(&self.rel(rel))
    }

    /// Stores an artifact by content; returns its SHA-256.
    pub fn put_object(&self, bytes: Vec<u8>) -> Result<String> {
        let sha = crate::config::hex(&Sha256::digest(&bytes));
        self.bucket
            .create(&self.rel(&format!("objects/{sha}")), bytes)?;
        Ok(sha)
    }

    /// An artifact, refused unless it hashes to its name.
    pub fn object(&self, sha256: &str) -> Result<Vec<u8>> {
        let rel = self.rel(&format!("objects/{sha256}"));
        let bytes = self.bucket.get(&rel)?.ok_or_else(|| {
            Error::Usage(format!(
                "tracking {}: no artifact {sha256} in experiment `{}`",
                self.label(),
                self.experiment
            ))
        })?;
        let got = crate::config::hex(&Sha256::digest(&bytes));
        if got != sha256 {
            return Err(Error::Runtime(format!(
                "tracking {}: artifact {sha256} hashes to {got}: it was modified or damaged",
                self.label()
            )));
        }
        Ok(bytes)
    }

    fn loose(&self) -> Result<Vec<String>> {
        Ok(self
            .bucket
            .list(&self.rel("entries"))?
            .into_iter()
            .filter(|k| k.ends_with(".json"))
            .collect())
    }

    fn packs(&self) -> Result<Vec<String>> {
        Ok(self
            .bucket
            .list(&self.rel("packs"))?
            .into_iter()
            .filter(|k| k.ends_with(".jsonl"))
            .collect())
    }

    fn read_all(&self, keys: &[String]) -> Result<Vec<(String, Vec<u8>)>> {
        keys.iter()
            .map(|k| {
                // Gone between the listing and the read: a packer moved it (into a
                // pack this read may have missed; the caller reads again).
                Ok(self.bucket.get(k)?.map(|b| (k.clone(), b)))
            })
            .filter_map(Result::transpose)
            .collect()
    }

    /// Every entry, each once, oldest first (then by id).
    pub fn entries(&self) -> Result<Vec<TrackedRun>> {
        // The loose ones first, then the packs: an entry packed meanwhile was in a
        // pack before its loose copy went, and a pack merged meanwhile was in the
        // merged one before it went, so listing the packs (again, until every listed
        // one could be read) finds them.
        let loose_keys = self.loose()?;
        let loose = self.read_all(&loose_keys)?;
        let mut packs: Vec<(String, Vec<u8>)> = Vec::new();
        for _ in 0..16 {
            let listed = self.packs()?;
            let unread: Vec<String> = listed
                .iter()
                .filter(|k| !packs.iter().any(|(r, _)| r == *k))
                .cloned()
                .collect();
            let read = self.read_all(&unread)?;
            let complete = read.len() == unread.len();
            packs.extend(read);
            if complete {
                break;
            }
        }
        // Each pack's lines are split and parsed on every core at once.
        let mut parsed: Vec<TrackedRun> = packs
            .par_iter()
            .flat_map(|(k, b)| {
                b.par_split(|c| *c == b'\n')
                    .filter(|l| !l.is_empty())
                    .map(move |l| (k.as_str(), l))
            })
            .chain(loose.par_iter().map(|(k, b)| (k.as_str(), b.as_slice())))
            .map(|(k, l)| parse_entry(k, l, self.label()))
            .collect::<Result<_>>()?;
        // An entry's id is made from its kind, start and name, so copies of one entry (in
        // a pack and, for a moment, loose) sort next to each other; the first is kept.
        parsed.par_sort_by(|a, b| {
            a.started_at
                .cmp(&b.started_at)
                .then_with(|| a.id.cmp(&b.id))
        });
        parsed.dedup_by(|a, b| a.id == b.id);
        Ok(parsed)
    }

    /// Moves the loose entries into a pack, and merges the packs into one when there
    /// are many.
    pub fn pack(&self) -> Result<Packed> {
        let mut done = Packed::default();
        let loose_keys = self.loose()?;
        if !loose_keys.is_empty() {
            let loose = self.read_all(&loose_keys)?;
            let entries: Vec<TrackedRun> = loose
                .iter()
                .map(|(k, b)| parse_entry(k, b, self.label()))
                .collect::<Result<_>>()?;
            self.write_pack(&entries)?;
            for (k, _) in &loose {
                self.bucket.delete(k)?;
            }
            done.loose = loose.len();
        }
        let packs = self.packs()?;
        if packs.len() > MERGE_AT {
            self.rewrite(&packs, &BTreeSet::new())?;
            done.merged = packs.len();
        }
        Ok(done)
    }

    fn write_pack(&self, entries: &[TrackedRun]) -> Result<String> {
        let mut sorted: Vec<&TrackedRun> = entries.iter().collect();
        sorted.sort_by(|a, b| a.id.cmp(&b.id));
        sorted.dedup_by(|a, b| a.id == b.id);
        let mut text = String::new();
        for e in sorted {
            text.push_str(&crate::json::line(e)?);
            text.push('\n');
        }
        let sha = crate::config::hex(&Sha256::digest(text.as_bytes()));
        let key = self.rel(&format!("packs/{sha}.jsonl"));
        self.bucket.create(&key, text.into_bytes())?;
        Ok(key)
    }

    /// Writes the entries of `packs` but those in `drop` as one pack, then deletes
    /// `packs` (the new one is never among them: a pack's name is its content).
    fn rewrite(&self, packs: &[String], drop: &BTreeSet<String>) -> Result<()> {
        let read = self.read_all(packs)?;
        let mut entries = Vec::new();
        for (k, b) in &read {
            for l in b.split(|c| *c == b'\n').filter(|l| !l.is_empty()) {
                let e = parse_entry(k, l, self.label())?;
                if !drop.contains(&e.id) {
                    entries.push(e);
                }
            }
        }
        let kept = if entries.is_empty() {
            None
        } else {
            Some(self.write_pack(&entries)?)
        };
        for (k, _) in &read {
            if Some(k) != kept.as_ref() {
                self.bucket.delete(k)?;
            }
        }
        Ok(())
    }

    /// Removes entries by id, wherever they are (loose or packed).
    pub fn remove(&self, ids: &BTreeSet<String>) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        for id in ids {
            self.bucket
                .delete(&self.rel(&format!("entries/{id}.json")))?;
        }
        let packs = self.packs()?;
        let mut touched = Vec::new();
        for (k, b) in self.read_all(&packs)? {
            let hit = b
                .split(|c| *c == b'\n')
                .filter(|l| !l.is_empty())
                .any(|l| line_id(l).is_some_and(|id| ids.contains(id)));
            if hit {
                touched.push(k);
            }
        }
        if !touched.is_empty() {
            self.rewrite(&touched, ids)?;
        }
        Ok(())
    }
}

/// Whether `id` is an entry id: 16 lowercase hex digits.
pub fn is_id(id: &str) -> bool {
    id.len() == 16
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The id of an entry's JSON line, without parsing the rest (`"id":"…"` follows
/// `schema_version` in what mlx writes).
fn line_id(line: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(line).ok()?;
    let at = text.find("\"id\":\"")? + 6;
    text.get(at..at + 16)
}

fn parse_entry(key: &str, bytes: &[u8], label: &str) -> Result<TrackedRun> {
    let text = std::str::from_utf8(bytes).map_err(|_| {
        Error::Runtime(format!(
            "tracking {label}: {key} is not UTF-8 text; it was damaged"
        ))
    })?;
    // One typed parse on the fast path; the version probe only to explain a failure.
    let e = serde_json::from_str::<TrackedRun>(text)
        .ok()
        .filter(|e| e.schema_version == mlx_contracts::tracking::TRACKED_RUN_VERSION)
        .map_or_else(
            || {
                TrackedRun::from_json(text).map_err(|source| Error::Contract {
                    path: format!("{label}/{key}"),
                    source,
                })
            },
            Ok,
        )?;
    // Ids name objects (`entries/<id>.json`, `objects/<sha256>`): nothing else may.
    let ids = std::iter::once(("id", &e.id))
        .chain(e.about.iter().map(|a| ("about", a)))
        .chain(e.training.iter().map(|t| ("training", t)));
    for (field, id) in ids {
        if !is_id(id) {
            return Err(Error::Runtime(format!(
                "tracking {label}: {key} has {field} `{id}`, not 16 hex digits; it was edited \
                 by hand or damaged: remove it"
            )));
        }
    }
    for (name, sha) in &e.artifacts {
        if !mlx_contracts::version::is_sha256(sha) {
            return Err(Error::Runtime(format!(
                "tracking {label}: {key} names artifact {name} as `{sha}`, not a SHA-256; it \
                 was edited by hand or damaged: remove it"
            )));
        }
    }
    Ok(e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use mlx_contracts::tracking::{EntryKind, TRACKED_RUN_VERSION};
    use mlx_contracts::Status;

    fn entry(i: u64) -> TrackedRun {
        let at = Utc.timestamp_opt(1_700_000_000 + i as i64, 0).unwrap();
        TrackedRun {
            schema_version: TRACKED_RUN_VERSION,
            id: format!("{i:016x}"),
            kind: EntryKind::Train,
            about: None,
            training: Some("0".repeat(16)),
            name: format!("m{i}"),
            run_id: None,
            model_type: Some("linear".into()),
            started_at: at,
            finished_at: at,
            status: Status::Passed,
            params: Default::default(),
            metrics: [("validation.r2".to_string(), i as f64)].into(),
            tags: Default::default(),
            artifacts: Default::default(),
        }
    }

    #[test]
    fn appends_pack_merge_and_remove_lose_nothing_and_keep_each_entry_once() {
        let dir = tempfile::tempdir().unwrap();
        let uri = dir.path().to_str().unwrap();
        let a = Store::open(uri, "exp").unwrap();
        let b = Store::open(uri, "exp").unwrap();
        // Two writers interleaving past the packing threshold, many times over.
        let n = (PACK_AT * (MERGE_AT + 2)) as u64;
        for i in 0..n {
            let w = if i % 2 == 0 { &a } else { &b };
            assert_eq!(w.append(&[entry(i)]).unwrap(), 1);
        }
        // Appending a loose entry again writes nothing; a packed one again is read once.
        a.append(&[entry(n + 1)]).unwrap();
        assert_eq!(a.append(&[entry(n + 1)]).unwrap(), 0);
        a.remove(&[entry(n + 1).id].into()).unwrap();
        a.append(&[entry(3)]).unwrap();
        let all = b.entries().unwrap();
        assert_eq!(all.len() as u64, n);
        assert!(all.windows(2).all(|w| w[0].started_at < w[1].started_at));
        assert!(
            a.packs().unwrap().len() <= MERGE_AT + 1,
            "{:?}",
            a.packs().unwrap()
        );
        // A loose copy beside its packed one (a packer stopped between the two
        // steps) is read once.
        let dup = entry(5);
        std::fs::write(
            dir.path().join(format!("exp/entries/{}.json", dup.id)),
            crate::json::line(&dup).unwrap(),
        )
        .unwrap();
        assert_eq!(a.entries().unwrap().len() as u64, n);
        let gone: BTreeSet<String> = [entry(5).id, entry(700).id, entry(n - 1).id].into();
        a.remove(&gone).unwrap();
        let left = a.entries().unwrap();
        assert_eq!(left.len() as u64, n - 3);
        assert!(left.iter().all(|e| !gone.contains(&e.id)));
        // Another experiment is another namespace.
        assert!(Store::open(uri, "other")
            .unwrap()
            .entries()
            .unwrap()
            .is_empty());
        assert!(Store::open(uri, "../x").is_err());
    }

    #[test]
    fn a_damaged_entry_and_an_artifact_that_does_not_hash_to_its_name_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path().to_str().unwrap(), "e").unwrap();
        let sha = s.put_object(b"history".to_vec()).unwrap();
        assert_eq!(s.object(&sha).unwrap(), b"history");
        std::fs::write(dir.path().join(format!("e/objects/{sha}")), "edited").unwrap();
        let e = s.object(&sha).unwrap_err().to_string();
        assert!(e.contains("modified or damaged"), "{e}");
    }

    /// Every entry of tests/hostile/tracking/entries is refused by name, as a loose
    /// entry and inside a pack.
    #[test]
    fn the_hostile_entries_are_refused_with_their_reason() {
        let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/hostile/tracking/entries");
        let expected = std::fs::read_to_string(corpus.join("expected.txt")).unwrap();
        let mut cases = 0;
        for line in expected.lines().filter(|l| !l.is_empty()) {
            let (file, words) = line.split_once('\t').unwrap();
            let bytes = std::fs::read(corpus.join(file)).unwrap();
            for packed in [false, true] {
                let dir = tempfile::tempdir().unwrap();
                let s = Store::open(dir.path().to_str().unwrap(), "e").unwrap();
                s.append(&[entry(1)]).unwrap();
                let rel = if packed {
                    "e/packs/p.jsonl"
                } else {
                    "e/entries/00000000000000ff.json"
                };
                std::fs::create_dir_all(dir.path().join(rel).parent().unwrap()).unwrap();
                std::fs::write(dir.path().join(rel), &bytes).unwrap();
                let e = s.entries().unwrap_err().to_string();
                assert!(e.contains(words), "{file} (packed: {packed}): {e}");
                let name = if packed {
                    "p.jsonl"
                } else {
                    "00000000000000ff.json"
                };
                assert!(e.contains(name), "{e}");
            }
            cases += 1;
        }
        assert!(cases >= 8);
    }
}
