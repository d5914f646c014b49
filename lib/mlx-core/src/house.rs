//! The house rules of this crate, checked on its own sources (lib/README.md is the
//! map they keep true):
//!
//! - a stage (one module per verb) names no other stage: stages talk through the work
//!   directory's files ([`crate::workdir::paths`]), the contracts and the stores;
//! - the shared layers below the stages (the model layer, the kernel) name no stage;
//! - no serialisation result is swallowed by `unwrap_or_default` ([`crate::json`]);
//! - the command line is `mlx-cli`'s: no library crate but it (and the test harness's
//!   fake verbs) depends on clap.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// One module per verb.
const STAGES: &[&str] = &[
    "ingest", "version", "validate", "features", "train", "eval", "shap", "gate", "promote",
    "monitor", "serve",
];

/// The layers stages stand on: the model layer and the kernel.
const SHARED: &[&str] = &[
    "model",
    "explain",
    "config",
    "workdir",
    "heldout",
    "metric",
    "registry",
    "tracking",
    "featurestore",
    "drift",
    "plots",
    "predlog",
    "objects",
    "lake",
    "engine",
    "git",
    "stage",
    "pipeline",
    "error",
    "fsutil",
    "hash",
    "json",
    "markdown",
    "progress",
    "dag",
];

/// The umbrella's own verbs (`mlx init`, `mlx export`, `mlx image`, `mlx ui`), this file and the
/// crate root: above the stages, so they may name any.
const ABOVE: &[&str] = &["init", "export", "image", "ui", "house", "lib"];

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Each source file (relative to `src/`) and its code outside comments and outside its
/// trailing `#[cfg(test)]` module.
fn code() -> Vec<(String, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    // A test module (`mod tests {`, `mod member_tests {`) is the file's end.
    let tests = regex::Regex::new(r"\n#\[cfg\(test\)\]\nmod [a-z_]+ \{").unwrap();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            let body = tests.split(&text).next().unwrap_or("");
            let body: Vec<&str> = body
                .lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .collect();
            let rel = p
                .strip_prefix(&src)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            (rel, body.join("\n"))
        })
        .collect()
}

/// The top-level modules a piece of code names through `crate::`.
fn named(code: &str) -> BTreeSet<String> {
    let single = regex::Regex::new(r"\bcrate::([a-z_]+)").unwrap();
    let group = regex::Regex::new(r"\bcrate::\{([^}]*)\}").unwrap();
    let mut out: BTreeSet<String> = single
        .captures_iter(code)
        .map(|c| c[1].to_string())
        .collect();
    for c in group.captures_iter(code) {
        for part in c[1].split(',') {
            let head = part.trim().split("::").next().unwrap_or("").trim();
            if !head.is_empty() {
                out.insert(head.to_string());
            }
        }
    }
    out
}

#[test]
fn no_stage_names_another_and_the_shared_layers_name_none() {
    let mut edges: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    let mut unplaced = BTreeSet::new();
    let mut shared_uses = Vec::new();
    for (file, body) in code() {
        let top = file
            .split('/')
            .next()
            .unwrap()
            .trim_end_matches(".rs")
            .to_string();
        if ![STAGES, SHARED, ABOVE]
            .iter()
            .any(|l| l.contains(&top.as_str()))
        {
            unplaced.insert(top.clone());
        }
        for n in named(&body) {
            if n == top || !STAGES.contains(&n.as_str()) {
                continue;
            }
            if STAGES.contains(&top.as_str()) {
                edges
                    .entry((top.clone(), n))
                    .or_default()
                    .insert(file.clone());
            } else if SHARED.contains(&top.as_str()) {
                shared_uses.push(format!("{file} names the stage `{n}`"));
            }
        }
    }
    assert!(
        unplaced.is_empty(),
        "every module is a stage, a shared layer or above both; add these to STAGES, \
         SHARED or ABOVE in house.rs: {unplaced:?}"
    );
    assert!(
        shared_uses.is_empty(),
        "the model layer and the kernel stand below every stage: {shared_uses:#?}"
    );
    assert!(
        edges.is_empty(),
        "a stage names another stage; exchange a file (workdir::paths) or move what both \
         need into a shared layer: {edges:#?}"
    );
}

#[test]
fn no_serialisation_result_is_swallowed() {
    let swallowed = regex::Regex::new(
        r"(serde_json|serde_norway)::to_[a-z_]+\((?s:[^;]*?)\)\s*\.unwrap_or_default\(\)",
    )
    .unwrap();
    let found: Vec<String> = code()
        .into_iter()
        .flat_map(|(file, body)| {
            swallowed
                .find_iter(&body)
                .map(|m| format!("{file}: {}", m.as_str()))
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(
        found.is_empty(),
        "use crate::json, which returns an error: {found:#?}"
    );
}

#[test]
fn the_checks_see_what_they_look_for() {
    // The scanners themselves: a grouped import counts, a comment does not.
    assert_eq!(
        named("use crate::{eval::HeldOut, model};\n let x = crate::gate::f();"),
        ["eval", "gate", "model"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    );
    let files = code();
    let lib = &files.iter().find(|(f, _)| f == "lib.rs").unwrap().1;
    assert!(!lib.contains("//!"), "comments are left out");
    assert!(files.iter().any(|(f, _)| f == "model/mod.rs"));
}

#[test]
fn only_the_command_line_depends_on_clap() {
    let lib = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut with_clap = Vec::new();
    for e in std::fs::read_dir(&lib).unwrap() {
        let manifest = e.unwrap().path().join("Cargo.toml");
        let Ok(text) = std::fs::read_to_string(&manifest) else {
            continue;
        };
        if text.lines().any(|l| l.trim_start().starts_with("clap")) {
            let name = manifest.parent().unwrap().file_name().unwrap();
            with_clap.push(name.to_string_lossy().into_owned());
        }
    }
    with_clap.sort();
    assert_eq!(with_clap, ["mlx-cli", "mlx-testkit"]);
}
