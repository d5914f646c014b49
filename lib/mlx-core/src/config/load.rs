//! Reading `mlx.yaml`: parse with positions, interpolate, deserialise, resolve, check.

use std::path::Path;

use marked_yaml::types::MarkedScalarNode;
use marked_yaml::{LoadError, LoaderOptions, Marker, Node};
use mlx_contracts::config::SECTIONS;
use mlx_contracts::Config;

use super::diagnostic::{did_you_mean, Diagnostic, Diagnostics};
use super::interpolate::{interpolate, mask, Env, Interpolated, Variable};
use super::loaded::{locate, locate_node, LoadedConfig};
use super::rules;

/// Reads and checks a config file.
pub fn load(path: &Path, env: &dyn Env) -> Result<LoadedConfig, Diagnostics> {
    let source = std::fs::read_to_string(path).map_err(|e| {
        let hint = if e.kind() == std::io::ErrorKind::NotFound {
            "create one with `mlx init`, or point `--config` (or MLX_CONFIG) at your file"
        } else {
            "check the file's permissions and that it is UTF-8 text"
        };
        Diagnostics(vec![Diagnostic::new(
            path,
            "",
            format!("cannot read the config: {e}"),
        )
        .with_hint(hint)])
    })?;
    let mut loaded = parse(path, &source, env)?;
    if let Some(base) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        rebase(&mut loaded.config, base);
    }
    Ok(loaded)
}

/// Makes the config's relative local paths relative to the directory of the file they
/// were written in (`base`, as given: `ex` for `--config ex/mlx.yaml`), as Docker
/// Compose and Cargo read theirs: a config means the same files from any directory.
/// URLs (`s3://`, `postgres://`, `redis://`, ...) and absolute paths are kept.
pub fn rebase(config: &mut Config, base: &Path) {
    let join = |p: &mut String| {
        if !p.is_empty() && !p.contains("://") && !Path::new(p.as_str()).is_absolute() {
            *p = base.join(p.as_str()).to_string_lossy().into_owned();
        }
    };
    for s in &mut config.data.sources {
        join(&mut s.uri);
        if let Some(d) = &mut s.delta {
            join(&mut d.uri);
        }
    }
    join(&mut config.data.versioning.cache);
    config.data.versioning.remote.iter_mut().for_each(join);
    join(&mut config.registry.uri);
    join(&mut config.tracking.uri);
    join(&mut config.deploy.prediction_log);
    config.features.store.offline.iter_mut().for_each(join);
    config.features.store.online.iter_mut().for_each(join);
    for v in &mut config.features.store.views {
        v.source.iter_mut().for_each(join);
    }
    for d in &mut config.features.derived {
        d.dates_file.iter_mut().for_each(join);
    }
}

/// Parses config text (`path` is used in messages only).
pub fn parse(path: &Path, source: &str, env: &dyn Env) -> Result<LoadedConfig, Diagnostics> {
    let err1 = |d: Diagnostic| Diagnostics(vec![d]);
    // A byte-order mark is what some editors write first: not part of the YAML.
    let source = source.strip_prefix('\u{feff}').unwrap_or(source);
    if let Some(d) = unread_input(path, source) {
        return Err(err1(d));
    }
    let mut node = if is_blank(source) {
        None
    } else {
        let opts = LoaderOptions::default().error_on_duplicate_keys(true);
        Some(
            marked_yaml::parse_yaml_with_options(0, source, opts)
                .map_err(|e| err1(load_error(path, source, &e)))?,
        )
    };

    let mut found = Found::default();
    let mut problems = Vec::new();
    if let Some(n) = node.as_mut() {
        walk(n, "", source, path, env, &mut found, &mut problems);
    }
    let Found { secrets, variables } = found;
    super::remember_secrets(&secrets);
    if !problems.is_empty() {
        return Err(Diagnostics(problems));
    }

    let config: Config = match &node {
        None => Config::default(),
        Some(n) => marked_yaml::from_node(n).map_err(|e| {
            let d = serde_error(path, source, n, &e);
            let mut d = d;
            d.message = mask(&d.message, &secrets);
            if let Some(l) = d.source_line.as_mut() {
                *l = mask(l, &secrets);
            }
            err1(d)
        })?,
    };

    let mut loaded = LoadedConfig {
        path: path.to_path_buf(),
        config,
        node,
        source: source.to_owned(),
        secrets,
        variables,
    };
    let raw = loaded.config.clone();
    loaded.config.resolve();
    let mut problems = rules::check(&loaded, &raw);
    if problems.is_empty() {
        Ok(loaded)
    } else {
        problems.sort_by_key(|d| (d.line.unwrap_or(usize::MAX), d.column.unwrap_or(0)));
        for d in &mut problems {
            d.message = mask(&d.message, &loaded.secrets);
        }
        Err(Diagnostics(problems))
    }
}

/// Input the YAML parser would not read, or would read only in part: a NUL byte (the
/// parser stops there, silently dropping the rest of the file), or a second document
/// (`---` or `...` followed by more content; only the first would be used). The config
/// is read whole or refused.
fn unread_input(path: &Path, source: &str) -> Option<Diagnostic> {
    if let Some(offset) = source.find('\0') {
        let line = source[..offset].matches('\n').count() + 1;
        let column = source[..offset]
            .rsplit('\n')
            .next()
            .map_or(0, |l| l.chars().count())
            + 1;
        return Some(
            Diagnostic::new(path, "", "the config holds a NUL byte; everything after it would be ignored")
                .at(line, column, source)
                .with_hint("a config is plain text: remove the NUL byte (an editor or a tool that wrote binary data put it there)"),
        );
    }
    let mut seen_content = false;
    let mut ended = false;
    for (i, l) in source.lines().enumerate() {
        let t = l.trim_end();
        let marker =
            |m: &str| t == m || t.starts_with(&format!("{m} ")) || t.starts_with(&format!("{m}\t"));
        let blank = t.trim().is_empty() || t.trim_start().starts_with('#');
        if marker("---") {
            if seen_content {
                return Some(
                    Diagnostic::new(path, "", "a second YAML document starts here; only the first would be read")
                        .at(i + 1, 1, source)
                        .with_hint("mlx.yaml is one document: remove the `---` line, or move the second document to a file of its own"),
                );
            }
            seen_content = t.len() > 3;
        } else if marker("...") {
            ended = true;
        } else if !blank {
            if ended {
                return Some(
                    Diagnostic::new(
                        path,
                        "",
                        "content after the end of the YAML document (`...`) would be ignored",
                    )
                    .at(i + 1, 1, source)
                    .with_hint("remove the `...` line, or the content after it"),
                );
            }
            seen_content = true;
        }
    }
    None
}

fn is_blank(source: &str) -> bool {
    source.lines().all(|l| {
        let t = l.trim();
        t.is_empty() || t.starts_with('#') || t == "---" || t == "{}"
    })
}

/// What interpolation met on the way: secret values, and the variables referred to
/// (each once, required if any reference to it has no default).
#[derive(Default)]
struct Found {
    secrets: Vec<String>,
    variables: Vec<Variable>,
}

impl Found {
    fn add(&mut self, r: Interpolated) {
        self.secrets.extend(r.secrets);
        for v in r.variables {
            match self.variables.iter_mut().find(|w| w.name == v.name) {
                Some(w) => w.optional &= v.optional,
                None => self.variables.push(v),
            }
        }
    }
}

/// Interpolates scalar values in place and drops `key: null` entries, so that an
/// explicit null means "use the default" for every field.
fn walk(
    node: &mut Node,
    key: &str,
    source: &str,
    path: &Path,
    env: &dyn Env,
    found: &mut Found,
    problems: &mut Vec<Diagnostic>,
) {
    match node {
        Node::Scalar(s) => {
            let text = s.as_str();
            // An API source's credential headers are never shown, written in the
            // file (`X-Api-Key: ...`) or taken from the environment (below, any
            // header).
            let credential = is_http_header(key)
                && key.rsplit('.').next().is_some_and(|h| {
                    super::interpolate::is_secret_name(h) || h.eq_ignore_ascii_case("cookie")
                });
            if credential && !text.trim().is_empty() && !text.contains('$') {
                found.secrets.push(text.to_owned());
            }
            if !text.contains('$') {
                return;
            }
            match interpolate(text, env) {
                Ok(mut r) => {
                    if is_http_header(key) && !r.value.trim().is_empty() {
                        r.secrets.push(r.value.clone());
                    }
                    let span = *s.span();
                    let coerce = s.may_coerce();
                    let mut new = MarkedScalarNode::new(span, r.value.clone());
                    found.add(r);
                    new.set_coerce(coerce);
                    *s = new;
                }
                Err(e) => {
                    let mut d = Diagnostic::new(path, key, e.message).with_hint(e.hint);
                    if let Some(m) = s.span().start() {
                        // Point at the `$` when the scalar is on one line and unquoted.
                        let col = if s.may_coerce() && !text[..e.offset].contains('\n') {
                            m.column() + text[..e.offset].chars().count()
                        } else {
                            m.column()
                        };
                        d = d.at(m.line(), col, source);
                    }
                    problems.push(d);
                }
            }
        }
        Node::Sequence(seq) => {
            for (i, item) in seq.iter_mut().enumerate() {
                walk(
                    item,
                    &format!("{key}[{i}]"),
                    source,
                    path,
                    env,
                    found,
                    problems,
                );
            }
        }
        Node::Mapping(map) => {
            map.retain(|_, v| !is_null(v));
            for (k, v) in map.iter_mut() {
                let child = if key.is_empty() {
                    k.as_str().to_owned()
                } else {
                    format!("{key}.{}", k.as_str())
                };
                walk(v, &child, source, path, env, found, problems);
            }
        }
    }
}

/// Whether a config key is a header of an API source (`data.sources[0].http.headers.X`).
fn is_http_header(key: &str) -> bool {
    key.starts_with("data.sources[") && key.contains("].http.headers.")
}

fn is_null(node: &Node) -> bool {
    matches!(node, Node::Scalar(s) if s.may_coerce() && matches!(s.as_str(), "" | "~" | "null" | "Null" | "NULL"))
}

fn load_error(path: &Path, source: &str, e: &LoadError) -> Diagnostic {
    let (marker, message, hint): (Option<&Marker>, String, Option<String>) = match e {
        LoadError::TopLevelMustBeMapping(m) => (
            Some(m),
            "the config must be a mapping of sections (`pipeline:`, `training:`, ...)".into(),
            Some("start with `pipeline:` at column 1; see config/examples/".into()),
        ),
        LoadError::ScanError(m, s) => (
            Some(m),
            format!("invalid YAML: {}", s.info()),
            Some("check the indentation and quoting on this line".into()),
        ),
        LoadError::DuplicateKey(inner) => (
            inner.key.span().start(),
            format!(
                "duplicate key `{}` (first defined on line {})",
                inner.key.as_str(),
                inner.prev_key.span().start().map_or(0, |m| m.line())
            ),
            Some("remove one of the two".into()),
        ),
        LoadError::UnexpectedAnchor(m) => (
            Some(m),
            "YAML anchors and aliases are not supported".into(),
            Some("repeat the value instead".into()),
        ),
        LoadError::UnexpectedTag(m) => (
            Some(m),
            "YAML tags (`!!type`) are not supported".into(),
            Some("remove the tag; values are typed by the schema".into()),
        ),
        LoadError::MappingKeyMustBeScalar(m) => {
            (Some(m), "mapping keys must be plain names".into(), None)
        }
        other => (None, other.to_string(), None),
    };
    let mut d = Diagnostic::new(path, "", message);
    if let Some(h) = hint {
        d = d.with_hint(h);
    }
    match marker {
        Some(m) => d.at(m.line(), m.column(), source),
        None => d,
    }
}

fn serde_error(
    path: &Path,
    source: &str,
    root: &Node,
    e: &marked_yaml::FromNodeError,
) -> Diagnostic {
    use marked_yaml::Error as E;
    let key = e.path().unwrap_or("").trim_start_matches('.').to_owned();
    let key = if key == "." { String::new() } else { key };
    let found_text = |k: &str| -> String {
        locate_node(root, k)
            .and_then(|n| n.as_scalar().map(|s| s.as_str().to_owned()))
            .unwrap_or_default()
    };
    let (message, hint) = match &**e {
        E::UnknownFieldError(field, expected, _) => {
            let (full, parent) = if key.ends_with(field.as_str()) {
                let parent = key[..key.len() - field.len()]
                    .trim_end_matches('.')
                    .to_owned();
                (key.clone(), parent)
            } else if key.is_empty() {
                (field.clone(), String::new())
            } else {
                (format!("{key}.{field}"), key.clone())
            };
            let candidates: Vec<&str> = if parent.is_empty() {
                SECTIONS.to_vec()
            } else {
                expected.to_vec()
            };
            let what = if parent.is_empty() {
                format!("unknown section `{field}`")
            } else {
                format!("unknown key `{field}` in `{parent}`")
            };
            let hint = match did_you_mean(field, candidates.iter().copied()) {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!("expected one of: {}", candidates.join(", ")),
            };
            return located(
                Diagnostic::new(path, full.clone(), what).with_hint(hint),
                root,
                &full,
                e,
                source,
            );
        }
        E::NotBoolean(_) => (
            format!("expected `true` or `false`, found `{}`", found_text(&key)),
            None,
        ),
        E::IntegerParseFailure(err, _) => (
            format!(
                "expected a whole number, found `{}` ({err})",
                found_text(&key)
            ),
            Some("write digits only, e.g. `50`; negative numbers are not allowed here".to_owned()),
        ),
        E::FloatParseFailure(_, _) => (
            format!("expected a number, found `{}`", found_text(&key)),
            Some("write a number such as `0.001` or `1e-3`".to_owned()),
        ),
        E::Other(msg, _) => humanise(msg),
    };
    let mut d = Diagnostic::new(path, key.clone(), message);
    if let Some(h) = hint {
        d = d.with_hint(h);
    }
    if d.message.starts_with("missing required key") {
        if let Some(m) = locate(root, &key) {
            return d.at(m.line(), m.column(), source);
        }
    }
    located(d, root, &key, e, source)
}

fn located(
    d: Diagnostic,
    root: &Node,
    key: &str,
    e: &marked_yaml::FromNodeError,
    source: &str,
) -> Diagnostic {
    match e.start_mark().or_else(|| locate(root, key)) {
        Some(m) if m.line() > 0 => d.at(m.line(), m.column(), source),
        _ => d,
    }
}

/// Turns serde's generic messages into ones that say what to write.
fn humanise(msg: &str) -> (String, Option<String>) {
    if let Some(rest) = msg.strip_prefix("unknown variant `") {
        let (value, tail) = rest.split_once('`').unwrap_or((rest, ""));
        let options: Vec<&str> = tail.split('`').skip(1).step_by(2).collect();
        let hint = match did_you_mean(value, options.iter().copied()) {
            Some(s) => format!("did you mean `{s}`?"),
            None => format!("expected one of: {}", options.join(", ")),
        };
        return (format!("`{value}` is not a valid choice"), Some(hint));
    }
    if let Some(field) = msg.strip_prefix("missing field `") {
        let field = field.trim_end_matches('`');
        return (
            format!("missing required key `{field}`"),
            Some(format!("add `{field}:`")),
        );
    }
    if let Some(rest) = msg.strip_prefix("invalid type: ") {
        let (found, expected) = rest
            .split_once(", expected ")
            .unwrap_or((rest, "another type"));
        let describe = |t: &str| -> String {
            if t.starts_with("struct") || t.starts_with("map") || t.contains("mapping") {
                "a mapping (`key: value` lines)".into()
            } else if t.starts_with("sequence") || t.starts_with("a sequence") {
                "a list".into()
            } else if t.starts_with("string") || t.starts_with("a string") {
                "a single value".into()
            } else {
                t.to_owned()
            }
        };
        return (
            format!("expected {}, found {}", describe(expected), describe(found)),
            Some(
                "check the indentation: a list item starts with `- `, a mapping with `key: value`"
                    .into(),
            ),
        );
    }
    (msg.to_owned(), None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn parse_str(s: &str) -> Result<LoadedConfig, Diagnostics> {
        parse(Path::new("mlx.yaml"), s, &HashMap::<String, String>::new())
    }

    #[test]
    fn blank_and_comment_only_files_are_defaults() {
        for s in ["", "\n", "# nothing\n", "---\n"] {
            let c = parse_str(s).unwrap();
            assert_eq!(
                c.config.pipeline.problem_type,
                mlx_contracts::config::ProblemType::Classification
            );
        }
    }

    #[test]
    fn explicit_null_means_default() {
        let c = parse_str("evaluation:\n  threshold: ~\ntraining:\n  epochs:\n").unwrap();
        assert_eq!(c.config.evaluation.threshold, None);
        assert_eq!(c.config.training.epochs, 50);
    }

    #[test]
    fn locates_keys_and_list_items() {
        let c = parse_str(
            "split:\n  strategy: random\nmodels:\n  - type: xgboost\n  - type: lightgbm\n",
        )
        .unwrap();
        let m = c.locate("split.strategy").unwrap();
        assert_eq!((m.line(), m.column()), (2, 3));
        let m = c.locate("models[1].type").unwrap();
        assert_eq!((m.line(), m.column()), (5, 5));
        let m = c.locate("split.missing").unwrap();
        assert_eq!((m.line(), m.column()), (1, 1));
    }
}
