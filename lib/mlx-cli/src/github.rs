//! GitHub Actions integration of every binary: `$GITHUB_OUTPUT` and
//! `$GITHUB_STEP_SUMMARY`, active only when `GITHUB_ACTIONS=true`.
//!
//! Values that span lines use the heredoc form GitHub documents
//! (`key<<DELIMITER` ... `DELIMITER`), with a delimiter that cannot occur in the value.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Where GitHub wants outputs and summaries, if running inside Actions.
#[derive(Debug, Clone, Default)]
pub struct Actions {
    output: Option<PathBuf>,
    summary: Option<PathBuf>,
}

impl Actions {
    /// Reads `GITHUB_ACTIONS`, `GITHUB_OUTPUT` and `GITHUB_STEP_SUMMARY`.
    pub fn from_env() -> Self {
        if std::env::var("GITHUB_ACTIONS").as_deref() != Ok("true") {
            return Self::default();
        }
        let path = |k: &str| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        Self {
            output: path("GITHUB_OUTPUT"),
            summary: path("GITHUB_STEP_SUMMARY"),
        }
    }

    /// Appends `key=value` pairs to `$GITHUB_OUTPUT`.
    pub fn set_outputs(&self, kv: &BTreeMap<String, String>) -> io::Result<()> {
        match &self.output {
            Some(p) if !kv.is_empty() => append(p, &format_outputs(kv)),
            _ => Ok(()),
        }
    }

    /// Appends markdown to `$GITHUB_STEP_SUMMARY`.
    pub fn add_summary(&self, markdown: &str) -> io::Result<()> {
        match &self.summary {
            Some(p) => append(p, &format!("{}\n", markdown.trim_end())),
            None => Ok(()),
        }
    }
}

fn append(path: &Path, text: &str) -> io::Result<()> {
    let mut f = OpenOptions::new().create(true).append(true).open(path)?;
    f.write_all(text.as_bytes())
}

/// The `$GITHUB_OUTPUT` text for a set of outputs.
pub fn format_outputs(kv: &BTreeMap<String, String>) -> String {
    let mut s = String::new();
    for (k, v) in kv {
        if v.contains('\n') || v.contains('\r') {
            let mut delim = String::from("MLX_EOF");
            while v.contains(&delim) {
                delim.push('_');
            }
            s.push_str(&format!("{k}<<{delim}\n{v}\n{delim}\n"));
        } else {
            s.push_str(&format!("{k}={v}\n"));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_and_multi_line_values() {
        let kv = BTreeMap::from([
            ("a".to_string(), "1".to_string()),
            ("b".to_string(), "x\nMLX_EOF\ny".to_string()),
        ]);
        assert_eq!(
            format_outputs(&kv),
            "a=1\nb<<MLX_EOF_\nx\nMLX_EOF\ny\nMLX_EOF_\n"
        );
    }

    #[test]
    fn appends_to_the_files() {
        let dir = tempfile::tempdir().unwrap();
        let a = Actions {
            output: Some(dir.path().join("out")),
            summary: Some(dir.path().join("sum")),
        };
        a.set_outputs(&BTreeMap::from([("k".into(), "v".into())]))
            .unwrap();
        a.set_outputs(&BTreeMap::from([("k2".into(), "v2".into())]))
            .unwrap();
        a.add_summary("## hi").unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("out")).unwrap(),
            "k=v\nk2=v2\n"
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("sum")).unwrap(),
            "## hi\n"
        );
    }
}
