//! Cross-field rules: combinations that parse but cannot work (or would leak).
//!
//! Each rule reports at the key the user should change. Rules see both the raw config
//! (what the user wrote) and the resolved one (with defaults), so a message can say
//! whether a value was written or defaulted.

use std::collections::BTreeSet;

use mlx_contracts::config::{
    Direction, EngineKind, Metric, MetricBound, ModelType, ProblemType, SourceFormat,
    SplitStrategy, Task,
};
use mlx_contracts::Config;

use super::diagnostic::{did_you_mean, Diagnostic};
use super::loaded::LoadedConfig;

/// Why this build of mlx cannot train `model`, naming the build that can; `None` when it
/// can. XGBoost and LightGBM link native libraries, so they are cargo features, which
/// README's first command, the composite action and `scripts/mlx.sh` always enable.
pub fn missing_backend(model: ModelType) -> Option<String> {
    let (built, feature, env) = match model {
        ModelType::Xgboost => (cfg!(feature = "xgboost"), "xgboost", "XGBOOST_LIB_DIR"),
        ModelType::Lightgbm => (cfg!(feature = "lightgbm"), "lightgbm", "CMAKE"),
        _ => return None,
    };
    (!built).then(|| {
        format!(
            "this build of mlx has no {feature}: it was built without the `{feature}` feature; \
             from a checkout of mlx, `bash scripts/mlx.sh ARGS...` builds mlx with XGBoost and \
             LightGBM and runs it, or install it with `{env}=\"$(bash scripts/{feature}.sh)\" \
             cargo install --path bins/mlx --features {feature}`; or pick another model type \
             (random_forest, gradient_boosting, logistic, ridge, ...)"
        )
    })
}

/// The candidates this build of mlx cannot train, at the key that names each. Not part
/// of loading (a config that names XGBoost is still a valid config, and `promote` or
/// `serve` of another model need not refuse it): `mlx config check` and `mlx run` call it.
pub fn check_build(loaded: &LoadedConfig) -> Result<(), super::Diagnostics> {
    let written = loaded.locate("models").is_some();
    let problems: Vec<Diagnostic> = loaded
        .config
        .models
        .iter()
        .enumerate()
        .filter_map(|(i, m)| {
            let key = if written {
                format!("models[{i}].type")
            } else {
                "pipeline.model_type".to_string()
            };
            missing_backend(m.model_type).map(|msg| loaded.diagnostic(&key, msg))
        })
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(super::Diagnostics(problems))
    }
}

/// What every rule reads: the resolved config, the one as written (to say whether a
/// value was written or defaulted), and what the problem is.
#[derive(Clone, Copy)]
struct Scope<'a> {
    c: &'a Config,
    raw: &'a Config,
    problem: ProblemType,
    task: Option<Task>,
    temporal_problem: bool,
    classification: bool,
}

/// Runs every rule, one function per config section; returns all problems found.
pub(crate) fn check(loaded: &LoadedConfig, raw: &Config) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let mut err = |key: &str, msg: String, hint: Option<String>| {
        let mut d = loaded.diagnostic(key, msg);
        if let Some(h) = hint {
            d = d.with_hint(h);
        }
        out.push(d);
    };
    let c = &loaded.config;
    let problem = c.pipeline.problem_type;
    let task = c.pipeline.task;
    let s = Scope {
        c,
        raw,
        problem,
        task,
        temporal_problem: c.pipeline.forecasts(),
        classification: match problem {
            ProblemType::Classification => true,
            ProblemType::DeepLearning => task == Some(Task::Classification),
            _ => false,
        },
    };
    split_strategy(s, &mut err);
    split_sizes(s, &mut err);
    features(c, &mut err);
    models(s, &mut err);
    evaluation(s, &mut err);
    gate(s, &mut err);
    engine(s, &mut err);
    data(s, &mut err);
    validation(s, &mut err);
    training(s, &mut err);
    deploy(s, &mut err);
    tracking(s, &mut err);
    out
}

/// Rules of `tracking.mlflow`: a server URL, a usable experiment name and wait.
fn tracking(s: Scope, err: &mut impl FnMut(&str, String, Option<String>)) {
    let Some(m) = &s.c.tracking.mlflow else {
        return;
    };
    match url::Url::parse(m.uri.trim()) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {
            if !u.username().is_empty() || u.password().is_some() {
                err(
                    "tracking.mlflow.uri",
                    "the MLflow server's URL carries a user or password".into(),
                    Some("remove them from the URL and set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD (or MLFLOW_TRACKING_TOKEN) in the environment".into()),
                );
            }
        }
        _ => err(
            "tracking.mlflow.uri",
            format!("`{}` is not an MLflow server's URL", super::mask_known(&m.uri)),
            Some("write it as http://HOST:PORT or https://HOST (the address `mlflow server` listens on; a `databricks` or file URI is not a server)".into()),
        ),
    }
    if let Some(e) = &m.experiment {
        if e.trim().is_empty() || e.contains(['\n', '\r', '\0']) || e.len() > 500 {
            err(
                "tracking.mlflow.experiment",
                "an MLflow experiment name is one line of 1 to 500 characters".into(),
                Some("leave it out to use the tracking store's experiment".into()),
            );
        }
    }
    if !(m.timeout_seconds.is_finite() && m.timeout_seconds > 0.0 && m.timeout_seconds <= 600.0) {
        err(
            "tracking.mlflow.timeout_seconds",
            format!(
                "{} is not a wait in seconds between 0 and 600",
                m.timeout_seconds
            ),
            Some("the default, 5, suits a server on the same network".into()),
        );
    }
}

/// Rules of `split:`: the strategy against the problem and the columns it needs.
fn split_strategy(s: Scope, err: &mut impl FnMut(&str, String, Option<String>)) {
    let Scope {
        c,
        raw,
        problem,
        temporal_problem,
        classification,
        ..
    } = s;
    let strategy = c.split.strategy.unwrap_or(SplitStrategy::Random);
    let strategy_key = if raw.split.strategy.is_some() {
        "split.strategy"
    } else {
        "pipeline.problem_type"
    };
    let name = |s: SplitStrategy| s.as_str();
    if temporal_problem && !strategy.is_temporal() {
        err(
            "split.strategy",
            format!(
                "a `{}` split leaks the future into training for `{problem}`",
                name(strategy)
            ),
            Some("use `temporal`, `expanding_window` or `sliding_window`".into()),
        );
    }
    if strategy.is_temporal() && c.split.shuffle {
        err(
            "split.shuffle",
            format!(
                "`shuffle: true` contradicts the time-ordered `{}` split",
                name(strategy)
            ),
            Some("remove `shuffle`, or pick a non-temporal strategy".into()),
        );
    }
    if strategy.is_temporal() && c.data.time_column.is_none() {
        err(
            strategy_key,
            format!(
                "the `{}` split orders rows by time, but `data.time_column` is not set",
                name(strategy)
            ),
            Some("set `data.time_column` to the column holding the event time".into()),
        );
    }
    if matches!(
        strategy,
        SplitStrategy::Stratified | SplitStrategy::StratifiedKfold
    ) && !classification
        && !temporal_problem
    {
        err(
            "split.strategy",
            format!(
                "a `{}` split needs class labels, but the problem type is `{problem}`",
                name(strategy)
            ),
            Some("use `random` or `kfold`".into()),
        );
    }
    if matches!(strategy, SplitStrategy::Group | SplitStrategy::GroupKfold)
        && c.data.group_column.is_none()
    {
        err(
            "split.strategy",
            format!("a `{}` split needs `data.group_column`", name(strategy)),
            Some("set `data.group_column` to the column whose values must not cross splits".into()),
        );
    }
}

/// Rules of `split:`: folds, fractions and windows.
fn split_sizes(s: Scope, err: &mut impl FnMut(&str, String, Option<String>)) {
    let Scope { c, raw, .. } = s;
    let strategy = c.split.strategy.unwrap_or(SplitStrategy::Random);
    let strategy_key = if raw.split.strategy.is_some() {
        "split.strategy"
    } else {
        "pipeline.problem_type"
    };
    let name = |s: SplitStrategy| s.as_str();
    let folded = strategy.is_folded();
    if folded && c.split.folds < 2 {
        err(
            "split.folds",
            format!(
                "`{}` needs at least 2 folds, got {}",
                name(strategy),
                c.split.folds
            ),
            None,
        );
    }
    for (k, v) in [
        ("split.train", c.split.train),
        ("split.validation", c.split.validation),
        ("split.test", c.split.test),
    ] {
        if !(0.0..=1.0).contains(&v) || v.is_nan() {
            err(
                k,
                format!("a fraction must be between 0 and 1, got {v}"),
                None,
            );
        }
    }
    if !folded {
        let sized_by_time =
            c.split.test_rows.is_some() || c.split.test_days.is_some() || c.split.cutoff.is_some();
        let sum = c.split.train + c.split.validation + c.split.test;
        if sized_by_time {
            // The test set is sized in rows, days or by a date; validation is a fraction
            // of all rows and training takes the rest, so no fractions need to add up.
            if c.split.validation >= 1.0 {
                err(
                    "split.validation",
                    format!(
                        "`validation` must leave rows to train on, got {}",
                        c.split.validation
                    ),
                    Some("`validation: 0` trains on every row before the test set".into()),
                );
            }
        } else if (sum - 1.0).abs() > 1e-9 {
            err(
                "split.train",
                format!("`train + validation + test` must be 1, got {sum}"),
                Some("e.g. 0.7 / 0.15 / 0.15 (the default)".into()),
            );
        }
        if c.split.train <= 0.0 || (c.split.test <= 0.0 && !sized_by_time) {
            err(
                "split.test",
                "the train and test fractions must be above 0".into(),
                None,
            );
        }
    }

    let temporal_only = [
        ("split.test_rows", c.split.test_rows.is_some()),
        ("split.test_days", c.split.test_days.is_some()),
        ("split.cutoff", c.split.cutoff.is_some()),
    ];
    let given: Vec<&str> = temporal_only
        .iter()
        .filter(|(_, g)| *g)
        .map(|(k, _)| *k)
        .collect();
    if !given.is_empty() && !strategy.is_temporal() {
        err(
            given[0],
            format!(
                "`{}` sizes a time-ordered test set, but the split is `{}`",
                given[0].trim_start_matches("split."),
                strategy.as_str()
            ),
            Some(
                "use `strategy: temporal` (or a window strategy), or size the test set with `test`"
                    .into(),
            ),
        );
    } else if given.len() > 1 {
        err(
            given[1],
            format!("`{}` and `{}` both size the test set", given[0], given[1]),
            Some("keep one of them".into()),
        );
    }
    if let Some(cutoff) = &c.split.cutoff {
        if chrono::NaiveDate::parse_from_str(cutoff, "%Y-%m-%d").is_err() {
            err(
                "split.cutoff",
                format!("`{cutoff}` is not a date"),
                Some("write it as YYYY-MM-DD".into()),
            );
        }
    }
    if let Some(level) = c.forecast.interval {
        if !(level > 0.0 && level < 1.0) {
            err(
                "forecast.interval",
                format!("the interval's coverage must be between 0 and 1, got {level}"),
                Some("write a probability such as 0.95 or 0.8".into()),
            );
        }
    }
    if c.split.max_train_size.is_some() && strategy != SplitStrategy::SlidingWindow {
        err(
            "split.max_train_size",
            format!(
                "`max_train_size` bounds the training window of `sliding_window`, but the split is `{}`",
                strategy.as_str()
            ),
            Some("use `strategy: sliding_window`, or remove `max_train_size`".into()),
        );
    }
    if strategy == SplitStrategy::SlidingWindow && c.split.max_train_size.is_none() {
        err(
            strategy_key,
            "`sliding_window` needs `split.max_train_size` (rows per training window)".into(),
            Some(
                "set `max_train_size`, or use `expanding_window` to train on all earlier rows"
                    .into(),
            ),
        );
    }
    if c.split.window_rows.is_some()
        && !matches!(
            strategy,
            SplitStrategy::ExpandingWindow | SplitStrategy::SlidingWindow
        )
    {
        err(
            "split.window_rows",
            "`window_rows` sizes the windows of `expanding_window` / `sliding_window`".into(),
            Some("remove it, or pick a window strategy".into()),
        );
    }
}

/// Rules of `pipeline:` and `models:`.
fn models(s: Scope, err: &mut impl FnMut(&str, String, Option<String>)) {
    let Scope {
        c,
        raw,
        problem,
        task,
        classification,
        ..
    } = s;
    if let (Some(t), Some(_)) = (c.pipeline.model_type, raw.pipeline.model_type) {
        if !t.supports(problem) {
            err(
                "pipeline.model_type",
                format!("`{}` cannot be used for `{problem}`", model_name(t)),
                Some(format!("pick one of: {}", supported_models(problem))),
            );
        }
    }
    let mut names = BTreeSet::new();
    for (i, m) in raw.models.iter().enumerate() {
        if !m.model_type.supports(problem) {
            err(
                &format!("models[{i}].type"),
                format!(
                    "`{}` cannot be used for `{problem}`",
                    model_name(m.model_type)
                ),
                Some(format!("pick one of: {}", supported_models(problem))),
            );
        }
    }
    // Parameters a candidate's family does not read: refused here, not after the data
    // was read and features computed.
    for (i, m) in raw.models.iter().enumerate() {
        let Some(known) = crate::model::known_params(m.model_type, classification) else {
            continue;
        };
        for k in m.params.keys().filter(|k| !known.contains(&k.as_str())) {
            let hint = did_you_mean(k, known.iter().copied())
                .map(|s| format!("did you mean `{s}`? "))
                .unwrap_or_default();
            err(
                &format!("models[{i}].params.{k}"),
                format!("`{k}` is not a parameter of `{}`", model_name(m.model_type)),
                Some(if known.is_empty() {
                    format!("{hint}`{}` takes no parameters", model_name(m.model_type))
                } else {
                    format!("{hint}its parameters are: {}", known.join(", "))
                }),
            );
        }
    }
    // A candidate's name names its run directory (`runs/<name>-<hash>/`).
    for (i, m) in raw.models.iter().enumerate() {
        if let Some(problem) = m.name.as_deref().and_then(model_name_problem) {
            err(
                &format!("models[{i}].name"),
                problem.replace("registry model name", "candidate name"),
                Some("letters, digits, `-`, `_` and `.`, e.g. `xgb-deep`".into()),
            );
        }
    }
    for (i, m) in c.models.iter().enumerate() {
        let n = m.name.clone().unwrap_or_default();
        if !names.insert(n.clone()) {
            err(
                &format!("models[{i}]"),
                format!("two candidates are named `{n}`"),
                Some("give each candidate a distinct `name:`".into()),
            );
        }
    }
    if problem == ProblemType::DeepLearning && task.is_none() {
        err(
            "pipeline.problem_type",
            "`deep_learning` needs `pipeline.task` (classification, regression or forecasting)"
                .into(),
            Some("add `task: classification` under `pipeline:`".into()),
        );
    }
}

/// Rules of `evaluation:`.
fn evaluation(s: Scope, err: &mut impl FnMut(&str, String, Option<String>)) {
    let Scope {
        c,
        raw,
        problem,
        task,
        ..
    } = s;
    let applies = |m: Metric| m.applies_to(problem, task);
    if let Some(p) = c.evaluation.primary_metric {
        if !applies(p) {
            err(
                "evaluation.primary_metric",
                format!("`{p}` is not a metric for `{problem}`"),
                Some(format!("pick one of: {}", metrics_for(problem, task))),
            );
        }
        if let (Some(d), Some(_)) = (c.evaluation.direction, raw.evaluation.direction) {
            if d != p.direction() {
                let (is, was) = match p.direction() {
                    Direction::Maximize => ("larger", "maximize"),
                    Direction::Minimize => ("smaller", "minimize"),
                };
                err(
                    "evaluation.direction",
                    format!("`{p}` is better when {is}, so its direction is `{was}`"),
                    Some("remove `direction`; it follows from the metric".into()),
                );
            }
        }
    }
    for (i, m) in raw.evaluation.metrics.iter().enumerate() {
        if !applies(*m) {
            err(
                &format!("evaluation.metrics[{i}]"),
                format!("`{m}` is not a metric for `{problem}`"),
                Some(format!("pick from: {}", metrics_for(problem, task))),
            );
        }
    }
    let metric_names: Vec<&str> = Metric::ALL.iter().map(|m| m.as_str()).collect();
    for k in c.approval_gate.metric_baselines.keys() {
        match Metric::ALL.iter().find(|m| m.as_str() == k) {
            None => {
                let hint = match did_you_mean(k, metric_names.iter().copied()) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!("expected one of: {}", metric_names.join(", ")),
                };
                err(
                    &format!("approval_gate.metric_baselines.{k}"),
                    format!("`{k}` is not a metric"),
                    Some(hint),
                );
            }
            Some(m) if !applies(*m) => err(
                &format!("approval_gate.metric_baselines.{k}"),
                format!("`{k}` is not a metric for `{problem}`"),
                None,
            ),
            Some(m) => {
                let bound = &c.approval_gate.metric_baselines[k];
                if bound.parse(m.direction()).is_none() {
                    err(
                        &format!("approval_gate.metric_baselines.{k}"),
                        format!(
                            "`{}` is not a limit",
                            match bound {
                                MetricBound::Limit(v) => v.to_string(),
                                MetricBound::Comparison(t) => t.clone(),
                            }
                        ),
                        Some(
                            "write a number (`120`) or a comparison (`\"< 120\"`, `\">= 0.7\"`)"
                                .into(),
                        ),
                    );
                }
            }
        }
    }
}

/// Rules of `gate:`.
fn gate(s: Scope, err: &mut impl FnMut(&str, String, Option<String>)) {
    let Scope { c, .. } = s;
    let g = &c.approval_gate;
    if g.auto_approve && g.require_human_review {
        err(
            "approval_gate.auto_approve",
            "`auto_approve: true` contradicts `require_human_review: true`".into(),
            Some("set one of them to false".into()),
        );
    }
    if g.regression_tolerance < 0.0 || g.regression_tolerance.is_nan() {
        err(
            "approval_gate.regression_tolerance",
            "must be 0 or more".into(),
            None,
        );
    }
    if g.min_approvals == 0 && g.require_human_review {
        err(
            "approval_gate.min_approvals",
            "human review is required, so at least 1 approval is needed".into(),
            None,
        );
    }
    if let Some(v) = g.max_psi {
        if v.is_nan() || v <= 0.0 {
            err("approval_gate.max_psi", "must be above 0".into(), None);
        }
    }
}

/// Whether the config runs its data stages on Spark.
pub fn on_spark(c: &Config) -> bool {
    c.engine
        .as_ref()
        .is_some_and(|e| e.kind == EngineKind::Spark)
}

/// Rules of `engine:`.
fn engine(s: Scope, err: &mut impl FnMut(&str, String, Option<String>)) {
    let Some(e) = s.c.engine.as_ref().filter(|e| e.kind == EngineKind::Spark) else {
        return;
    };
    match e.remote.as_deref().map(str::trim) {
        None | Some("") => err(
            "engine.remote",
            "`engine.kind: spark` needs the Spark Connect server".into(),
            Some("add `remote: sc://HOST:15002` (with `/;token=${SPARK_TOKEN}` where the server needs a token)".into()),
        ),
        Some(r) if !r.starts_with("sc://") => err(
            "engine.remote",
            format!("`{}` is not a Spark Connect URL", super::mask_known(r)),
            Some("write it as sc://HOST:PORT (Databricks, EMR and Dataproc give one; docs/spark.md)".into()),
        ),
        Some(_) => {}
    }
    match e.storage.as_deref().map(str::trim) {
        None | Some("") => err(
            "engine.storage",
            "`engine.kind: spark` needs a place on the cluster's storage to write datasets to".into(),
            Some("add `storage: s3a://BUCKET/mlx/PROJECT` (any path the cluster can write: s3a://, abfss://, gs://, dbfs:/, hdfs://, /mnt/...)".into()),
        ),
        Some(st) if !mlx_spark::is_cluster_path(st) => err(
            "engine.storage",
            format!("`{st}` is relative, but the cluster writes there, from a directory of its own"),
            Some("give it as the cluster names it: absolute (`/mnt/lake/mlx`) or a URL (`s3a://lake/mlx/`)".into()),
        ),
        Some(st) if st.contains(['\n', '\r', '\0']) => err(
            "engine.storage",
            "a storage path is one line of text".into(),
            None,
        ),
        Some(_) => {}
    }
}

/// Rules of one `data.sources[].http`.
fn http_source(
    key: &str,
    s: &mlx_contracts::config::Source,
    h: &mlx_contracts::config::HttpSource,
    spark: bool,
    err: &mut impl FnMut(&str, String, Option<String>),
) {
    use mlx_contracts::config::Paginate;
    let name = &s.name;
    if spark {
        err(
            &format!("{key}.http"),
            format!("source `{name}`: an HTTP API is read on this machine, and `engine.kind: spark` reads every source on the cluster"),
            Some("land the API's data on the cluster's storage first (ingest it with `engine.kind: local` and copy `data/raw.parquet`), then read it with `uri:`".into()),
        );
    }
    reads_one_thing(
        key,
        s,
        "http",
        "an HTTP API source answers JSON; `http.records` says where the records are in each answer",
        err,
    );
    let url_ok = url::Url::parse(h.url.trim())
        .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
    if !url_ok {
        err(
            &format!("{key}.http.url"),
            format!(
                "source `{name}`: `{}` is not an http(s) URL",
                super::url_label(&h.url)
            ),
            Some("write the API's address in full: `https://api.example.com/v1/spend`".into()),
        );
    }
    let mut pointers = vec![("records", h.records.as_str(), true)];
    match &h.paginate {
        Some(Paginate::NextLink(p)) => pointers.push(("paginate.next_link", p, false)),
        Some(Paginate::Cursor(c)) => {
            pointers.push(("paginate.cursor.pointer", &c.pointer, false));
            if c.param.trim().is_empty() {
                err(
                    &format!("{key}.http.paginate.cursor.param"),
                    format!("source `{name}`: the cursor needs the parameter it is sent back in"),
                    Some("`param: cursor` (the API's documentation names it)".into()),
                );
            }
        }
        Some(Paginate::Offset(o))
            if o.limit == 0 || o.param.trim().is_empty() || o.limit_param.trim().is_empty() =>
        {
            err(
                &format!("{key}.http.paginate.offset"),
                format!("source `{name}`: offset paging needs `param`, `limit_param` and a `limit` of at least 1"),
                Some("`offset: {param: offset, limit_param: limit, limit: 100}`".into()),
            );
        }
        Some(Paginate::Offset(_)) | None => {}
    }
    for (field, p, may_be_empty) in pointers {
        if !(p.starts_with('/') || (p.is_empty() && may_be_empty)) {
            err(
                &format!("{key}.http.{field}"),
                format!("source `{name}`: `{p}` is not a JSON pointer"),
                Some(if may_be_empty {
                    "a JSON pointer starts with `/`: `/data`, `/result/items`; empty when the answer itself is the list".into()
                } else {
                    "a JSON pointer starts with `/`: `/links/next`, `/meta/next_cursor`".into()
                }),
            );
        }
    }
    let positive = |v: f64| v.is_finite() && v > 0.0;
    if h.rate_limit.is_some_and(|r| !positive(r)) {
        err(
            &format!("{key}.http.rate_limit"),
            format!("source `{name}`: `rate_limit` is requests per second, more than 0"),
            Some("`rate_limit: 5`, or `0.5` for one request every 2 seconds".into()),
        );
    }
    if !positive(h.timeout_seconds) {
        err(
            &format!("{key}.http.timeout_seconds"),
            format!("source `{name}`: `timeout_seconds` must be more than 0"),
            None,
        );
    }
    if h.max_pages == 0 {
        err(
            &format!("{key}.http.max_pages"),
            format!("source `{name}`: `max_pages` must be at least 1"),
            None,
        );
    }
}

/// A source of kind `what` (`http`, `delta`) that also names files, a table or a query,
/// or sets what only files have (`why`: what the source is instead).
fn reads_one_thing(
    key: &str,
    s: &mlx_contracts::config::Source,
    what: &str,
    why: &str,
    err: &mut impl FnMut(&str, String, Option<String>),
) {
    let name = &s.name;
    let kinds = [
        ("uri", !s.uri.trim().is_empty()),
        ("table", s.table.is_some()),
        ("query", s.query.is_some()),
        ("http", s.http.is_some()),
        ("delta", s.delta.is_some()),
        ("kinesis", s.kinesis.is_some()),
        ("kafka", s.kafka.is_some()),
    ];
    let also: Vec<String> = kinds
        .iter()
        .filter(|(k, given)| *given && *k != what)
        .map(|(k, _)| format!("`{k}`"))
        .collect();
    if !also.is_empty() {
        err(
            key,
            format!(
                "source `{name}` has `{what}` and also {}: a source reads one thing",
                also.join(" and ")
            ),
            Some("split it into two sources, joined with `data.merge`".into()),
        );
    }
    if s.format.is_some() || s.delimiter.is_some() || s.header.is_some() {
        err(
            &format!("{key}.format"),
            format!("source `{name}`: `format`, `delimiter` and `header` are for files; {why}"),
            Some("remove them".into()),
        );
    }
}

/// Rules of one `data.sources[].delta`.
fn delta_source(
    key: &str,
    s: &mlx_contracts::config::Source,
    d: &mlx_contracts::config::DeltaSource,
    spark: bool,
    err: &mut impl FnMut(&str, String, Option<String>),
) {
    let name = &s.name;
    if spark {
        err(
            &format!("{key}.delta"),
            format!("source `{name}`: with `engine.kind: spark` the cluster reads Delta tables"),
            Some("write `uri: <the table's directory>` and `format: delta`, or `table:` for a table of its catalog".into()),
        );
    }
    reads_one_thing(key, s, "delta", "a Delta table's files are Parquet", err);
    let uri = d.uri.trim();
    if uri.is_empty() {
        err(
            &format!("{key}.delta.uri"),
            format!("source `{name}`: `delta` needs the table's directory in `uri`"),
            Some("`delta: {uri: lake/ad_spend, version: 3}`".into()),
        );
    }
    if d.version.is_some() && d.timestamp.is_some() {
        err(
            &format!("{key}.delta"),
            format!("source `{name}`: give `version` or `timestamp`, not both"),
            None,
        );
    }
    if let Some(t) = &d.timestamp {
        if chrono::DateTime::parse_from_rfc3339(t.trim()).is_err() {
            err(
                &format!("{key}.delta.timestamp"),
                format!("source `{name}`: `{t}` is not an RFC 3339 time"),
                Some("write it with its zone: `2026-01-31T00:00:00Z`".into()),
            );
        }
    }
}

/// Rules of one `data.sources[].kinesis`.
fn kinesis_source(
    key: &str,
    s: &mlx_contracts::config::Source,
    k: &mlx_contracts::config::KinesisSource,
    spark: bool,
    err: &mut impl FnMut(&str, String, Option<String>),
) {
    let name = &s.name;
    if spark {
        err(
            &format!("{key}.kinesis"),
            format!("source `{name}`: with `engine.kind: spark` the sources are read by the cluster, and mlx does not hand it a Kinesis stream"),
            Some("land the stream in storage the cluster reads (Firehose to S3), and read that".into()),
        );
    }
    reads_one_thing(key, s, "kinesis", "a Kinesis record is a JSON object", err);
    if k.stream.trim().is_empty() {
        err(
            &format!("{key}.kinesis.stream"),
            format!("source `{name}`: `kinesis` needs the stream's name in `stream`"),
            Some("`kinesis: {stream: clicks, start: checkpoint}`".into()),
        );
    }
    let start = k.start.trim();
    if !matches!(start, "trim_horizon" | "checkpoint")
        && chrono::DateTime::parse_from_rfc3339(start).is_err()
    {
        err(
            &format!("{key}.kinesis.start"),
            format!("source `{name}`: `start: {start}` is not trim_horizon, checkpoint or an RFC 3339 time"),
            Some("`start: checkpoint` goes on where the last ingest stopped; a time is written with its zone, `2026-01-31T00:00:00Z`".into()),
        );
    }
}

/// Rules of one `data.sources[].kafka`.
fn kafka_source(
    key: &str,
    s: &mlx_contracts::config::Source,
    k: &mlx_contracts::config::KafkaSource,
    spark: bool,
    err: &mut impl FnMut(&str, String, Option<String>),
) {
    let name = &s.name;
    if spark {
        err(
            &format!("{key}.kafka"),
            format!("source `{name}`: with `engine.kind: spark` the sources are read by the cluster, and mlx does not hand it a Kafka topic"),
            Some("land the topic in storage the cluster reads (a Kafka connector, or Spark's own `kafka` format in a table), and read that".into()),
        );
    }
    reads_one_thing(
        key,
        s,
        "kafka",
        "a Kafka record's value is a JSON object",
        err,
    );
    for (field, value, example) in [
        (
            "brokers",
            &k.brokers,
            "`brokers: ${KAFKA_BROKERS}` (host:port[,host:port])",
        ),
        ("topic", &k.topic, "`topic: orders`"),
    ] {
        if value.trim().is_empty() {
            err(
                &format!("{key}.kafka.{field}"),
                format!("source `{name}`: `kafka` needs `{field}`"),
                Some(example.into()),
            );
        }
    }
    let start = k.start.trim();
    if !matches!(start, "committed" | "earliest" | "latest")
        && chrono::DateTime::parse_from_rfc3339(start).is_err()
    {
        err(
            &format!("{key}.kafka.start"),
            format!("source `{name}`: `start: {start}` is not committed, earliest, latest or an RFC 3339 time"),
            Some("`start: committed` goes on from the group's offsets; a time is written with its zone, `2026-01-31T00:00:00Z`".into()),
        );
    }
    match k.format.trim() {
        "json" => {}
        "avro" => err(
            &format!("{key}.kafka.format"),
            format!("source `{name}`: Avro records (and schema registries) are not read yet"),
            Some(
                "produce JSON values, or land the topic as Avro files and read those with `uri:`"
                    .into(),
            ),
        ),
        other => err(
            &format!("{key}.kafka.format"),
            format!("source `{name}`: `format: {other}` is not a record format mlx reads"),
            Some("`format: json`".into()),
        ),
    }
    if !(k.timeout_seconds > 0.0 && k.timeout_seconds.is_finite()) {
        err(
            &format!("{key}.kafka.timeout_seconds"),
            format!("source `{name}`: `timeout_seconds` must be a positive number of seconds"),
            None,
        );
    }
}

fn is_database_uri(uri: &str) -> bool {
    [
        "postgres://",
        "postgresql://",
        "mysql://",
        "mariadb://",
        "redshift://",
    ]
    .iter()
    .any(|p| uri.starts_with(p))
}

/// Rules of `data:`.
fn data(s: Scope, err: &mut impl FnMut(&str, String, Option<String>)) {
    let Scope { c, .. } = s;
    let spark = on_spark(c);
    let mut source_names = BTreeSet::new();
    for (i, s) in c.data.sources.iter().enumerate() {
        let key = format!("data.sources[{i}]");
        if s.name.trim().is_empty() {
            err(
                &key,
                "every source needs a `name`".into(),
                Some("add `name: sales` (used in messages and records)".into()),
            );
        } else if !source_names.insert(s.name.as_str()) {
            err(
                &format!("{key}.name"),
                format!("two sources are named `{}`", s.name),
                None,
            );
        }
        if let Some(h) = &s.http {
            http_source(&key, s, h, spark, err);
            continue;
        }
        if let Some(d) = &s.delta {
            delta_source(&key, s, d, spark, err);
            continue;
        }
        if let Some(k) = &s.kinesis {
            kinesis_source(&key, s, k, spark, err);
            continue;
        }
        if let Some(k) = &s.kafka {
            kafka_source(&key, s, k, spark, err);
            continue;
        }
        let on_cluster =
            s.table.is_some() || (spark && s.uri.trim().is_empty() && s.query.is_some());
        if on_cluster && !spark {
            err(
                &format!("{key}.table"),
                format!("source `{}` reads a table of a Spark catalog, which needs `engine.kind: spark`", s.name),
                Some("add `engine: {kind: spark, remote: sc://HOST:15002, storage: ...}`, or read the table's files with `uri:`".into()),
            );
        } else if spark {
            let uri = s.uri.trim();
            if !uri.is_empty() && !mlx_spark::is_cluster_path(uri) {
                err(
                    &format!("{key}.uri"),
                    format!("source `{}`: `{uri}` is relative, but the cluster reads it, from a directory of its own", s.name),
                    Some("give the path as the cluster names it: absolute (`/mnt/lake/sales.csv`) or a URL (`s3a://lake/sales/`, `abfss://...`, `dbfs:/...`)".into()),
                );
            }
            let given = [!uri.is_empty(), s.table.is_some(), s.query.is_some()];
            if given.iter().filter(|g| **g).count() != 1 {
                err(
                    &key,
                    format!("source `{}` needs exactly one of `uri` (files on the cluster's storage), `table` (a table of its catalog) or `query` (Spark SQL)", s.name),
                    None,
                );
            }
        } else if s.uri.trim().is_empty() {
            err(
                &key,
                "every source needs a `uri`".into(),
                Some("a path, glob, `s3://...` URL or database URL".into()),
            );
        }
        if !spark && matches!(s.format, Some(SourceFormat::Orc | SourceFormat::Delta)) {
            err(
                &format!("{key}.format"),
                format!("source `{}`: ORC files and Delta tables are read on Spark only", s.name),
                Some("add `engine: {kind: spark, ...}` (docs/spark.md), or convert the data to Parquet".into()),
            );
        }
        if spark && (s.format == Some(SourceFormat::Sql) || is_database_uri(&s.uri)) {
            err(
                &format!("{key}.uri"),
                format!("source `{}`: with `engine.kind: spark` a database is read through the cluster's catalog or JDBC connector", s.name),
                Some("register the database in the cluster's catalog and use `table:` or `query:`".into()),
            );
        }
        let is_db = is_database_uri(&s.uri);
        if !spark && (is_db || s.format == Some(SourceFormat::Sql)) && s.query.is_none() {
            err(
                &format!("{key}.uri"),
                format!("database source `{}` needs a `query`", s.name),
                Some("add `query: SELECT ...`".into()),
            );
        }
        if let Some(d) = &s.delimiter {
            let d = d.replace("\\t", "\t");
            if d.chars().count() != 1 {
                err(
                    &format!("{key}.delimiter"),
                    format!("a delimiter is one character, got `{d}`"),
                    Some("use `,`, `;`, `|` or `\\t`".into()),
                );
            }
        }
    }
    if c.data.sources.len() > 1 && c.data.merge.as_ref().is_none_or(|m| m.on.is_empty()) {
        err(
            "data.sources",
            format!(
                "{} sources need `data.merge.on` to say how they are joined",
                c.data.sources.len()
            ),
            Some("add `merge: {on: [date], how: left}` under `data:`".into()),
        );
    }
    if c.data.append && c.data.time_column.is_none() {
        err(
            "data.append",
            "incremental ingest needs `data.time_column`".into(),
            None,
        );
    }
}

/// Rules of `validation:`.
fn validation(s: Scope, err: &mut impl FnMut(&str, String, Option<String>)) {
    let Scope { c, .. } = s;
    let v = &c.validation;
    fraction(
        err,
        "validation.max_missing_fraction",
        v.max_missing_fraction,
    );
    fraction(
        err,
        "validation.drift.dataset_drift_share",
        v.drift.dataset_drift_share,
    );
    fraction(
        err,
        "validation.outliers.max_fraction",
        v.outliers.max_fraction,
    );
    if !(v.drift.p_value > 0.0 && v.drift.p_value < 1.0) {
        err(
            "validation.drift.p_value",
            format!("must be between 0 and 1, got {}", v.drift.p_value),
            None,
        );
    }
    if v.drift.psi_warn > v.drift.psi_fail {
        err(
            "validation.drift.psi_warn",
            format!(
                "`psi_warn` ({}) is above `psi_fail` ({})",
                v.drift.psi_warn, v.drift.psi_fail
            ),
            Some("the design documents use 0.1 and 0.25".into()),
        );
    }
    if v.drift.bins < 2 {
        err(
            "validation.drift.bins",
            "at least 2 bins are needed".into(),
            None,
        );
    }
    if let (Some(lo), Some(hi)) = (v.min_rows, v.max_rows) {
        if lo > hi {
            err(
                "validation.min_rows",
                format!("`min_rows` ({lo}) is above `max_rows` ({hi})"),
                None,
            );
        }
    }
    for (col, r) in &v.columns {
        if let (Some(lo), Some(hi)) = (r.min, r.max) {
            if lo > hi {
                err(
                    &format!("validation.columns.{col}.min"),
                    format!("`min` ({lo}) is above `max` ({hi})"),
                    None,
                );
            }
        }
        if let Some(f) = r.max_missing_fraction {
            fraction(
                err,
                &format!("validation.columns.{col}.max_missing_fraction"),
                f,
            );
        }
    }
}

/// Rules of `training:`.
fn training(s: Scope, err: &mut impl FnMut(&str, String, Option<String>)) {
    let Scope { c, .. } = s;
    let t = &c.training;
    if !(t.learning_rate > 0.0 && t.learning_rate.is_finite()) {
        err(
            "training.learning_rate",
            format!("must be above 0, got {}", t.learning_rate),
            None,
        );
    }
    if t.batch_size == 0 {
        err("training.batch_size", "must be at least 1".into(), None);
    }
    if t.epochs == 0 {
        err("training.epochs", "must be at least 1".into(), None);
    }
    let gpu = t.device == "cuda"
        || t.device
            .strip_prefix("cuda:")
            .is_some_and(|i| i.parse::<usize>().is_ok());
    if !(gpu || t.device == "cpu" || t.device == "auto") {
        err(
            "training.device",
            format!("must be cpu, cuda, cuda:N or auto, got `{}`", t.device),
            None,
        );
    } else if gpu && t.backend == mlx_contracts::config::Backend::Candle {
        err(
            "training.device",
            format!(
                "`{}` needs `training.backend: torch`: the default backend, candle, trains on \
                 the CPU",
                t.device
            ),
            None,
        );
    }
}

/// Rules of `deploy:`, `monitoring:`, `registry:` and `github:`.
fn deploy(s: Scope, err: &mut impl FnMut(&str, String, Option<String>)) {
    let Scope { c, raw, .. } = s;
    let d = &c.deploy;
    if !(d.canary_fraction > 0.0 && d.canary_fraction < 1.0) {
        err(
            "deploy.canary_fraction",
            format!(
                "must be between 0 and 1 (exclusive), got {}",
                d.canary_fraction
            ),
            None,
        );
    }
    if c.monitoring.psi_threshold <= 0.0 {
        err("monitoring.psi_threshold", "must be above 0".into(), None);
    }
    if c.monitoring.window_days == 0 {
        err("monitoring.window_days", "must be at least 1".into(), None);
    }
    for (key, cron, example) in [
        (
            "monitoring.schedule",
            &c.monitoring.schedule,
            "`0 6 * * *` (daily at 06:00 UTC)",
        ),
        (
            "orchestration.schedule",
            &c.orchestration.schedule,
            "`0 2 * * 1` (Mondays at 02:00 UTC)",
        ),
    ] {
        // The schedule is written into workflow files and DAGs: cron characters only.
        let charset = cron
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || " */,-".contains(ch));
        if cron.split_whitespace().count() != 5 || !charset {
            err(
                key,
                format!("`{cron}` is not a 5-field cron expression"),
                Some(format!("e.g. {example}")),
            );
        }
    }
    for (i, e) in c.orchestration.alert_emails.iter().enumerate() {
        let ok = e.split_once('@').is_some_and(|(u, d)| {
            !u.is_empty()
                && d.contains('.')
                && !e.contains(|ch: char| ch.is_whitespace() || "\"'<>".contains(ch))
        });
        if !ok {
            err(
                &format!("orchestration.alert_emails[{i}]"),
                format!("`{e}` is not an email address"),
                None,
            );
        }
    }
    // The registry stores the model under this name: refused here, not after training.
    if let Some(name) = &c.registry.model_name {
        let key = if raw.registry.model_name.is_some() {
            "registry.model_name"
        } else {
            "project.name"
        };
        if let Some(problem) = model_name_problem(name) {
            err(
                key,
                problem,
                Some("letters, digits, `-`, `_` and `.`, e.g. `churn-model`".into()),
            );
        }
    }
    if let Some(problem) = command_prefix_problem(&c.github.command_prefix) {
        err("github.command_prefix", problem, Some("e.g. `/mlx`".into()));
    }
    if let Some(problem) = c.github.image.as_deref().and_then(image_repository_problem) {
        err(
            "github.image",
            problem,
            Some("REGISTRY/REPOSITORY, e.g. `ghcr.io/acme/churn`".into()),
        );
    }
    for (key, name) in [
        (
            "github.environments.staging",
            &c.github.environments.staging,
        ),
        (
            "github.environments.production",
            &c.github.environments.production,
        ),
    ] {
        if let Some(problem) = environment_name_problem(name) {
            err(
                key,
                problem,
                Some(
                    "letters, digits, spaces, `-`, `_` and `.`, as GitHub's environment names"
                        .into(),
                ),
            );
        }
    }
}

/// An image reference's parts: registry, repository, tag.
pub type ImageReference = (String, String, String);

/// Parses `registry/repository[:tag]` (tag `latest` when none), as Docker names an
/// image, except that the registry is never implied: `churn:v3` alone is refused, so is
/// a digest. The repository follows the distribution spec's grammar.
pub fn image_reference(text: &str) -> std::result::Result<ImageReference, String> {
    if text.contains('@') {
        return Err("a push names a tag, not a digest".into());
    }
    let (registry, rest) = text
        .split_once('/')
        .ok_or_else(|| "it names no registry".to_owned())?;
    if !(registry.contains('.') || registry.contains(':') || registry == "localhost") {
        return Err(format!(
            "`{registry}` is not a registry host (one with a dot or a port, or localhost)"
        ));
    }
    if !registry
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
    {
        return Err(format!("`{registry}` is not a host name"));
    }
    let (repository, tag) = match rest.rsplit_once(':') {
        Some((r, t)) => (r, t),
        None => (rest, "latest"),
    };
    if repository.is_empty() || !repository.split('/').all(is_repository_component) {
        return Err(format!(
            "`{repository}` is not a repository name (lower-case letters, digits and \
             single `.`, `_`, `-` between them, `/` between components)"
        ));
    }
    let tag_ok = !tag.is_empty()
        && tag.len() <= 128
        && !tag.starts_with(['.', '-'])
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if !tag_ok {
        return Err(format!(
            "`{tag}` is not a tag (letters, digits, `_`, `.`, `-`; at most 128)"
        ));
    }
    Ok((registry.to_owned(), repository.to_owned(), tag.to_owned()))
}

/// A repository path component, by the distribution spec's grammar:
/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`.
fn is_repository_component(c: &str) -> bool {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let b = c.as_bytes();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        if !(sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-')) {
            return false;
        }
    }
    true
}

/// What is wrong with `github.image`: a repository to push to, without a tag (the
/// workflows tag each version `v<N>`).
pub fn image_repository_problem(repository: &str) -> Option<String> {
    let last = repository.rsplit('/').next().unwrap_or_default();
    if repository.contains('/') && last.contains(':') {
        return Some(format!(
            "`{repository}` carries a tag; name the repository alone, each version is \
             tagged v<N>"
        ));
    }
    image_reference(&format!("{repository}:v1"))
        .err()
        .map(|why| format!("`{repository}` is not an image repository to push to: {why}"))
}

/// What is wrong with a registry model name (`registry.model_name`, else
/// `project.name`): it names objects in the registry's store, so only letters, digits,
/// `-`, `_` and `.`, not empty (an unset `${NAME:-}`) and not starting with `.`.
pub fn model_name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("the model name is empty (an unset variable?)".into());
    }
    let bad = !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        || name.starts_with('.');
    bad.then(|| format!("`{name}` is not a usable registry model name"))
}

/// What is wrong with a GitHub environment name, which is written into workflow
/// files: anything beyond letters, digits, spaces, `-`, `_`, `.` (a newline or a
/// quote could add YAML of its own), empty, over 255 characters, or padded.
pub fn environment_name_problem(name: &str) -> Option<String> {
    let allowed = |ch: char| ch.is_ascii_alphanumeric() || " -_.".contains(ch);
    if name.trim().is_empty() || name.len() > 255 || name.trim() != name {
        Some(format!("{name:?} is not a GitHub environment name (1 to 255 characters, no leading or trailing space)"))
    } else if !name.chars().all(allowed) {
        Some(format!("{name:?} is not a GitHub environment name: it may hold only letters, digits, spaces, `-`, `_` and `.`"))
    } else {
        None
    }
}

/// What is wrong with the `/mlx` command prefix, which is written into workflow files
/// and matched in comments: `/` then letters, digits, `-` or `_`.
pub fn command_prefix_problem(prefix: &str) -> Option<String> {
    let ok = prefix.strip_prefix('/').is_some_and(|rest| {
        !rest.is_empty()
            && rest
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || "-_".contains(ch))
    });
    (!ok).then(|| format!("{prefix:?} must be `/` followed by letters, digits, `-` or `_`"))
}

fn fraction(err: &mut impl FnMut(&str, String, Option<String>), key: &str, v: f64) {
    if !(0.0..=1.0).contains(&v) {
        err(
            key,
            format!("a fraction must be between 0 and 1, got {v}"),
            None,
        );
    }
}

fn model_name(t: ModelType) -> &'static str {
    t.as_str()
}

fn supported_models(problem: ProblemType) -> String {
    ModelType::ALL
        .iter()
        .filter(|t| t.supports(problem))
        .map(|t| t.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn metrics_for(problem: ProblemType, task: Option<Task>) -> String {
    Metric::ALL
        .iter()
        .filter(|m| m.applies_to(problem, task))
        .map(|m| m.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Rules of `features:`.
fn features(c: &Config, err: &mut impl FnMut(&str, String, Option<String>)) {
    use mlx_contracts::config::TransformStrategy;
    let f = &c.features;
    let mut outputs: BTreeSet<String> = BTreeSet::new();
    for (i, d) in f.derived.iter().enumerate() {
        derived_keys(i, d, &mut outputs, err);
        derived_values(c, i, d, err);
    }
    if let Some(t) = &c.data.target {
        if f.exclude.contains(t) {
            err(
                "features.exclude",
                format!("the target `{t}` is never a model input; no need to exclude it"),
                Some("remove it from `exclude`".into()),
            );
        }
    }
    for (i, t) in f.transforms.iter().enumerate() {
        let key = |k: &str| format!("features.transforms[{i}].{k}");
        let strategy = t.strategy.unwrap_or(t.kind.default_strategy());
        if strategy.kind() != t.kind {
            err(
                &key("strategy"),
                format!(
                    "`{}` belongs to `kind: {}`, not `kind: {}`",
                    strategy.as_str(),
                    strategy.kind().as_str(),
                    t.kind.as_str()
                ),
                Some(format!("use `kind: {}`", strategy.kind().as_str())),
            );
        }
        if (strategy == TransformStrategy::Constant) != t.fill_value.is_some() {
            if t.fill_value.is_some() {
                err(
                    &key("fill_value"),
                    "`fill_value` is only read by `strategy: constant`".into(),
                    None,
                );
            } else {
                err(
                    &key("strategy"),
                    "`constant` imputation needs `fill_value`".into(),
                    None,
                );
            }
        }
        if strategy != TransformStrategy::Target {
            for (k, present) in [("smooth", t.smooth.is_some()), ("folds", t.folds.is_some())] {
                if present {
                    err(
                        &key(k),
                        format!("`{k}` is only read by `strategy: target`"),
                        None,
                    );
                }
            }
        } else {
            if c.data.target.is_none() {
                err(
                    &key("strategy"),
                    "target encoding needs `data.target`".into(),
                    None,
                );
            }
            if let Some(s) = t.smooth.as_deref() {
                if s != "auto" && !s.parse::<f64>().is_ok_and(|v| v >= 0.0) {
                    err(
                        &key("smooth"),
                        format!("`{s}` is not a smoothing"),
                        Some("write `auto` or a number of at least 0".into()),
                    );
                }
            }
            if t.folds.is_some_and(|k| k < 2) {
                err(
                    &key("folds"),
                    "out-of-fold encoding needs at least 2 folds".into(),
                    None,
                );
            }
        }
        for (j, col) in t.columns.iter().enumerate() {
            if Some(col) == c.data.target.as_ref() || Some(col) == c.data.time_column.as_ref() {
                err(
                    &format!("features.transforms[{i}].columns[{j}]"),
                    format!("`{col}` is the target or the time column, never a model input"),
                    None,
                );
            }
        }
    }
    store(c, err);
}

/// Rules of one derived feature (`features.derived[i]`): its name, which keys its kind
/// reads and needs.
fn derived_keys(
    i: usize,
    d: &mlx_contracts::config::FeatureDef,
    outputs: &mut BTreeSet<String>,
    err: &mut impl FnMut(&str, String, Option<String>),
) {
    use mlx_contracts::config::FeatureKind as K;
    let key = |k: &str| format!("features.derived[{i}].{k}");
    let kind = d.kind.as_str();
    if d.name.trim().is_empty() {
        err(
            &format!("features.derived[{i}]"),
            "a derived feature needs `name`".into(),
            None,
        );
    }
    let names = if d.kind == K::Cyclical {
        vec![format!("{}_sin", d.name), format!("{}_cos", d.name)]
    } else {
        vec![d.name.clone()]
    };
    for n in names {
        if !outputs.insert(n.clone()) {
            err(
                &key("name"),
                format!("two derived features are named `{n}`"),
                None,
            );
        }
    }
    // Which keys each kind reads.
    let uses: &[&str] = match d.kind {
        K::Lag | K::Diff => &["column", "periods", "over"],
        K::Rolling => &["column", "window", "agg", "min_periods", "periods", "over"],
        K::Expanding => &["column", "agg", "min_periods", "periods", "over"],
        K::GroupAgg => &["column", "agg", "over"],
        K::Calendar | K::Cyclical => &["column", "part"],
        K::Holiday => &["column", "dates", "dates_file"],
        K::Expr => &["expr"],
    };
    let set = [
        ("column", d.column.is_some()),
        ("periods", d.periods.is_some()),
        ("window", d.window.is_some()),
        ("min_periods", d.min_periods.is_some()),
        ("agg", d.agg.is_some()),
        ("over", d.over.is_some()),
        ("part", d.part.is_some()),
        ("dates", !d.dates.is_empty()),
        ("dates_file", d.dates_file.is_some()),
        ("expr", d.expr.is_some()),
    ];
    for (k, present) in set {
        if present && !uses.contains(&k) {
            err(
                &key(k),
                format!("`{k}` has no meaning for a `{kind}` feature"),
                Some(format!("a `{kind}` feature reads: {}", uses.join(", "))),
            );
        }
    }
    let needs = |k: &str, present: bool, err: &mut dyn FnMut(&str, String, Option<String>)| {
        if !present {
            err(
                &format!("features.derived[{i}]"),
                format!("the `{kind}` feature `{}` needs `{k}`", d.name),
                None,
            );
        }
    };
    match d.kind {
        K::Lag | K::Diff => needs("column", d.column.is_some(), err),
        K::Rolling => {
            needs("column", d.column.is_some(), err);
            needs("window", d.window.is_some(), err);
            needs("agg", d.agg.is_some(), err);
        }
        K::Expanding | K::GroupAgg => {
            needs("column", d.column.is_some(), err);
            needs("agg", d.agg.is_some(), err);
        }
        K::Calendar | K::Cyclical => needs("part", d.part.is_some(), err),
        K::Holiday => needs("dates", !d.dates.is_empty() || d.dates_file.is_some(), err),
        K::Expr => needs("expr", d.expr.is_some(), err),
    }
}

/// Rules of one derived feature's values: periods, windows, calendar parts, dates,
/// expressions, group aggregates.
fn derived_values(
    c: &Config,
    i: usize,
    d: &mlx_contracts::config::FeatureDef,
    err: &mut impl FnMut(&str, String, Option<String>),
) {
    use mlx_contracts::config::FeatureKind as K;

    use crate::model::derive::Window;
    let key = |k: &str| format!("features.derived[{i}].{k}");
    let kind = d.kind.as_str();
    if matches!(d.kind, K::Lag | K::Diff) && d.periods == Some(0) {
        err(
            &key("periods"),
            "`periods: 0` is the row itself; use 1 or more".into(),
            None,
        );
    }
    if let Some(w) = &d.window {
        match Window::parse(w) {
            Err(m) => err(&key("window"), m, None),
            Ok(Window::Time(_)) if c.data.time_column.is_none() => err(
                &key("window"),
                format!("the time window `{w}` needs `data.time_column`"),
                Some("set `data.time_column`, or give the window in rows (`7`)".into()),
            ),
            Ok(Window::Rows(n)) if d.min_periods.is_some_and(|m| m as usize > n) => err(
                &key("min_periods"),
                format!("`min_periods` is larger than the window of {n} rows"),
                None,
            ),
            _ => {}
        }
    }
    if d.kind == K::Cyclical && d.part == Some(mlx_contracts::config::CalendarPart::Year) {
        err(
            &key("part"),
            "`year` has no cycle; use `calendar` for the year".into(),
            None,
        );
    }
    if matches!(d.kind, K::Calendar | K::Cyclical | K::Holiday)
        && d.column.is_none()
        && c.data.time_column.is_none()
    {
        err(
            &format!("features.derived[{i}]"),
            format!("the `{kind}` feature `{}` needs a timestamp", d.name),
            Some("set `column`, or `data.time_column`".into()),
        );
    }
    for (j, date) in d.dates.iter().enumerate() {
        if chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").is_err() {
            err(
                &format!("features.derived[{i}].dates[{j}]"),
                format!("`{date}` is not a date"),
                Some("write it as YYYY-MM-DD".into()),
            );
        }
    }
    if let Some(e) = &d.expr {
        if let Err(m) = crate::model::expr::parse(e) {
            err(&key("expr"), m, None);
        }
    }
    if d.kind == K::GroupAgg && d.column.is_some() && d.column == c.data.target {
        err(
            &key("column"),
            format!(
                "a group aggregate of the target `{}` is computed over every row, test rows \
                 included, so it leaks test labels into training",
                d.column.as_deref().unwrap_or_default()
            ),
            Some(
                "use a `target` encoding transform, which is fitted on training rows out of fold"
                    .into(),
            ),
        );
    }
    if d.kind == K::GroupAgg
        && d.over.as_ref().is_none_or(Vec::is_empty)
        && c.data.entity_columns.is_empty()
    {
        err(
            &format!("features.derived[{i}]"),
            format!(
                "the `group_agg` feature `{}` needs `over` (the group columns)",
                d.name
            ),
            None,
        );
    }
}

/// Rules of `features.store`: the online store and the feature views.
fn store(c: &Config, err: &mut impl FnMut(&str, String, Option<String>)) {
    use crate::model::derive::Span;
    let f = &c.features;
    if let Some(online) = &f.store.online {
        if online.contains("://")
            && !["redis://", "rediss://", "redis+unix://", "file://"]
                .iter()
                .any(|p| online.starts_with(p))
        {
            err(
                "features.store.online",
                format!("`{online}` is not an online store mlx can use"),
                Some("use a local file path (the embedded store) or `redis://host:6379/0`".into()),
            );
        }
    }
    let mut views = BTreeSet::new();
    for (i, v) in f.store.views.iter().enumerate() {
        let key = |k: &str| format!("features.store.views[{i}].{k}");
        let safe = !v.name.is_empty()
            && v.name
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == '-');
        if !safe {
            err(
                &key("name"),
                format!("`{}` is not a view name", v.name),
                Some("use letters, digits, `_` and `-`".into()),
            );
        }
        if !views.insert(v.name.clone()) {
            err(
                &key("name"),
                format!("two views are named `{}`", v.name),
                None,
            );
        }
        if v.entity.is_empty() && c.data.entity_columns.is_empty() {
            err(
                &format!("features.store.views[{i}]"),
                format!(
                    "view `{}` needs `entity` (or `data.entity_columns`)",
                    v.name
                ),
                None,
            );
        }
        if v.timestamp.is_none() && c.data.time_column.is_none() {
            err(
                &format!("features.store.views[{i}]"),
                format!(
                    "view `{}` needs `timestamp` (or `data.time_column`)",
                    v.name
                ),
                None,
            );
        }
        if v.source.is_some() && c.data.time_column.is_none() {
            err(
                &key("source"),
                format!(
                    "view `{}` is joined point in time, which needs `data.time_column` (when each row happened)",
                    v.name
                ),
                None,
            );
        }
        if let Some(t) = &v.ttl {
            if let Err(m) = Span::parse(t) {
                err(&key("ttl"), m, None);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_image_repository_names_a_registry_and_no_tag() {
        assert_eq!(image_repository_problem("ghcr.io/acme/churn"), None);
        assert_eq!(image_repository_problem("127.0.0.1:5000/churn"), None);
        for (bad, says) in [
            ("ghcr.io/acme/churn:v3", "carries a tag"),
            ("acme/churn", "not a registry host"),
            ("churn", "names no registry"),
            ("ghcr.io/Acme/churn", "not a repository name"),
            ("ghcr.io/acme/churn\nrun", "not a repository name"),
            ("ghcr.io/acme/$(id)", "not a repository name"),
        ] {
            let p = image_repository_problem(bad).unwrap_or_else(|| panic!("{bad} accepted"));
            assert!(p.contains(says), "{bad}: {p}");
        }
    }
}
