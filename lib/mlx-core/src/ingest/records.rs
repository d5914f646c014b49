//! Records of a stream (Kafka, Kinesis) gathered into the NDJSON file a source is read
//! from: each record's bytes a JSON object, one row; a record that is not is a
//! failure naming where it is, or (with `bad_records: skip`) counted and sampled.

use std::io::Write;

use mlx_contracts::config::BadRecords;
use mlx_contracts::record::FileDigest;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// How many skipped records the stage record names.
const SAMPLE: usize = 5;

pub(super) struct Records {
    out: tempfile::NamedTempFile,
    hash: Sha256,
    bad: BadRecords,
    /// Records written.
    pub rows: u64,
    /// Records left out.
    pub skipped: u64,
    /// Up to [`SAMPLE`] of them: where and why.
    pub sample: Vec<String>,
}

impl Records {
    pub(super) fn new(bad: BadRecords) -> Result<Self> {
        Ok(Self {
            out: tempfile::Builder::new()
                .suffix(".ndjson")
                .tempfile()
                .map_err(|e| Error::io("a temporary file", e))?,
            hash: Sha256::new(),
            bad,
            rows: 0,
            skipped: 0,
            sample: Vec::new(),
        })
    }

    /// Adds a record's bytes; `Ok(false)` when it was skipped, `Err(why)` when it
    /// is not a JSON object and bad records fail (the caller names where it is).
    pub(super) fn push(&mut self, bytes: &[u8], at: impl Fn() -> String) -> Result<bool, String> {
        let why = match serde_json::from_slice::<Value>(bytes) {
            Ok(v @ Value::Object(_)) => {
                self.hash.update(bytes);
                self.hash.update(b"\n");
                serde_json::to_writer(&mut self.out, &v).map_err(|e| e.to_string())?;
                self.out.write_all(b"\n").map_err(|e| e.to_string())?;
                self.rows += 1;
                return Ok(true);
            }
            _ if bytes.is_empty() => "empty (a tombstone)".to_string(),
            Ok(other) => format!("{}, not an object of fields", super::json_kind(&other)),
            Err(e) => format!("not JSON: {e}"),
        };
        match self.bad {
            BadRecords::Skip => {
                self.skipped += 1;
                if self.sample.len() < SAMPLE {
                    self.sample.push(format!("{}: {why}", at()));
                }
                Ok(false)
            }
            BadRecords::Fail => Err(why),
        }
    }

    /// The file and its fingerprint (SHA-256 of the records' bytes, each ended by a
    /// newline), named `label`.
    pub(super) fn finish(mut self, label: String) -> Result<(tempfile::NamedTempFile, FileDigest)> {
        self.out
            .flush()
            .map_err(|e| Error::io("a temporary file", e))?;
        let size = self.out.as_file().metadata().map(|m| m.len()).unwrap_or(0);
        Ok((
            self.out,
            FileDigest {
                path: label,
                sha256: format!("{:x}", self.hash.finalize()),
                size,
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_are_rows_and_the_rest_fail_or_are_counted() {
        let mut r = Records::new(BadRecords::Fail).unwrap();
        assert_eq!(r.push(br#"{"a": 1}"#, || "x".into()), Ok(true));
        assert_eq!(
            r.push(b"[1]", || "x".into()),
            Err("a list, not an object of fields".to_string())
        );
        assert!(r
            .push(b"{oops", || "x".into())
            .unwrap_err()
            .starts_with("not JSON"));
        let mut r = Records::new(BadRecords::Skip).unwrap();
        for i in 0..7 {
            assert_eq!(r.push(b"", || format!("offset {i}")), Ok(false));
        }
        assert_eq!(r.push(br#"{"b": 2}"#, || "x".into()), Ok(true));
        assert_eq!((r.rows, r.skipped, r.sample.len()), (1, 7, 5));
        assert_eq!(r.sample[0], "offset 0: empty (a tombstone)");
        let (file, digest) = r.finish("kafka://t".into()).unwrap();
        assert_eq!(std::fs::read_to_string(file.path()).unwrap(), "{\"b\":2}\n");
        // The fingerprint is of the record's own bytes.
        assert_eq!(
            digest.sha256,
            format!("{:x}", Sha256::digest(b"{\"b\": 2}\n"))
        );
    }
}
