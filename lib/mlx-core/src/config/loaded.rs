//! A loaded config: the typed config, its file and text, the positions of its keys
//! (for diagnostics that point at the line to change), and its secrets (masked
//! wherever config text is shown).

use std::path::{Path, PathBuf};

use marked_yaml::{Marker, Node};
use mlx_contracts::Config;

use super::diagnostic::Diagnostic;
use super::interpolate::{mask, Variable};

/// A loaded, interpolated, resolved and checked config.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    /// The file it came from.
    pub path: PathBuf,
    /// The typed config with problem-type defaults filled in.
    pub config: Config,
    /// The parsed document with positions, for locating keys in later diagnostics.
    pub(crate) node: Option<Node>,
    /// The raw text.
    pub(crate) source: String,
    /// Interpolated secret values, masked wherever config text is shown.
    pub secrets: Vec<String>,
    /// The environment variables the config refers to (`${NAME}`), each once.
    pub variables: Vec<Variable>,
}

impl LoadedConfig {
    /// Masks secrets (and URL passwords) in any text derived from this config.
    pub fn mask(&self, text: &str) -> String {
        mask(text, &self.secrets)
    }

    /// A config made in code (tests, `--config` absent with defaults).
    pub fn from_config(path: &Path, mut config: Config) -> Self {
        config.resolve();
        Self {
            path: path.to_path_buf(),
            config,
            node: None,
            source: String::new(),
            secrets: Vec::new(),
            variables: Vec::new(),
        }
    }

    /// The position of a dotted key path (`split.strategy`, `models[1].type`) in the
    /// file, falling back to the nearest parent that exists.
    pub fn locate(&self, key: &str) -> Option<Marker> {
        locate(self.node.as_ref()?, key)
    }

    /// A diagnostic at `key`'s position.
    pub fn diagnostic(&self, key: &str, message: impl Into<String>) -> Diagnostic {
        let d = Diagnostic::new(&self.path, key, message);
        match self.locate(key) {
            Some(m) => d.at(m.line(), m.column(), &self.source),
            None => d,
        }
    }
}

/// Splits `a.b[2].c` into segments.
fn segments(key: &str) -> Vec<Seg<'_>> {
    let mut out = Vec::new();
    for part in key.split('.').filter(|p| !p.is_empty()) {
        let mut rest = part;
        if let Some(b) = rest.find('[') {
            if b > 0 {
                out.push(Seg::Key(&rest[..b]));
            }
            rest = &rest[b..];
            while let Some(stripped) = rest.strip_prefix('[') {
                let Some(end) = stripped.find(']') else { break };
                if let Ok(i) = stripped[..end].parse() {
                    out.push(Seg::Index(i));
                }
                rest = &stripped[end + 1..];
            }
        } else {
            out.push(Seg::Key(rest));
        }
    }
    out
}

enum Seg<'a> {
    Key(&'a str),
    Index(usize),
}

pub(super) fn locate_node<'n>(root: &'n Node, key: &str) -> Option<&'n Node> {
    let mut cur = root;
    for seg in segments(key) {
        cur = match (seg, cur) {
            (Seg::Key(k), Node::Mapping(m)) => m.get_node(k)?,
            (Seg::Index(i), Node::Sequence(s)) => s.get_node(i)?,
            _ => return None,
        };
    }
    Some(cur)
}

/// The marker of the deepest existing node along `key` (the key itself for mappings,
/// so the caret points at `strategy:` rather than at its value's first character).
pub(super) fn locate(root: &Node, key: &str) -> Option<Marker> {
    let mut cur = root;
    let mut best = None;
    for seg in segments(key) {
        let next = match (seg, cur) {
            (Seg::Key(k), Node::Mapping(m)) => match m.get_key_value(k) {
                Some((kn, v)) => {
                    best = kn.span().start().copied().or(best);
                    v
                }
                None => break,
            },
            (Seg::Index(i), Node::Sequence(s)) => match s.get_node(i) {
                Some(v) => {
                    // A mapping item's own span starts at its first value; its first
                    // key is where a reader's eye goes.
                    let first_key = v
                        .as_mapping()
                        .and_then(|m| m.keys().next())
                        .and_then(|k| k.span().start());
                    best = first_key.or(v.span().start()).copied().or(best);
                    v
                }
                None => break,
            },
            _ => break,
        };
        cur = next;
    }
    best
}
