//! Cross-field rules: combinations that parse but cannot work (or would leak).
//!
//! Each rule reports at the key the user should change. Rules see both the raw config
//! (what the user wrote) and the resolved one (with defaults), so a message can say
//! whether a value was written or defaulted.

use std::collections::BTreeSet;

use mlx_contracts::config::{
    Direction, Metric, ModelType, ProblemType, SourceFormat, SplitStrategy, Task,
};
use mlx_contracts::Config;

use super::diagnostic::{did_you_mean, Diagnostic};
use super::load::LoadedConfig;

/// Runs every rule; returns all problems found.
pub(crate) fn check(loaded: &LoadedConfig, raw: &Config) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let c = &loaded.config;
    let mut err = |key: &str, msg: String, hint: Option<String>| {
        let mut d = loaded.diagnostic(key, msg);
        if let Some(h) = hint {
            d = d.with_hint(h);
        }
        out.push(d);
    };
    let problem = c.pipeline.problem_type;
    let task = c.pipeline.task;
    let temporal_problem = problem == ProblemType::TimeSeries
        || (problem == ProblemType::DeepLearning && task == Some(Task::Forecasting));
    let classification = match problem {
        ProblemType::Classification => true,
        ProblemType::DeepLearning => task == Some(Task::Classification),
        _ => false,
    };

    // --- split -------------------------------------------------------------------
    let strategy = c.split.strategy.unwrap_or(SplitStrategy::Random);
    let strategy_key = if raw.split.strategy.is_some() {
        "split.strategy"
    } else {
        "pipeline.problem_type"
    };
    let name = |s: SplitStrategy| {
        serde_json::to_value(s)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    };
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
    let folded = matches!(
        strategy,
        SplitStrategy::Kfold
            | SplitStrategy::StratifiedKfold
            | SplitStrategy::GroupKfold
            | SplitStrategy::ExpandingWindow
            | SplitStrategy::SlidingWindow
    );
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
        let sum = c.split.train + c.split.validation + c.split.test;
        if (sum - 1.0).abs() > 1e-9 {
            err(
                "split.train",
                format!("`train + validation + test` must be 1, got {sum}"),
                Some("e.g. 0.7 / 0.15 / 0.15 (the default)".into()),
            );
        }
        if c.split.train <= 0.0 || c.split.test <= 0.0 {
            err(
                "split.test",
                "the train and test fractions must be above 0".into(),
                None,
            );
        }
    }

    // --- pipeline and models --------------------------------------------------------
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

    // --- evaluation -------------------------------------------------------------------
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
            _ => {}
        }
    }

    // --- approval gate --------------------------------------------------------------
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
    if let Some(f) = &g.fairness {
        if f.sensitive_columns.is_empty() {
            err(
                "approval_gate.fairness.sensitive_columns",
                "fairness bounds need at least one sensitive column".into(),
                None,
            );
        }
    }

    // --- data ---------------------------------------------------------------------------
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
        if s.uri.trim().is_empty() {
            err(
                &key,
                "every source needs a `uri`".into(),
                Some("a path, glob, `s3://...` URL or database URL".into()),
            );
        }
        let is_db = [
            "postgres://",
            "postgresql://",
            "mysql://",
            "mariadb://",
            "redshift://",
        ]
        .iter()
        .any(|p| s.uri.starts_with(p));
        if (is_db || s.format == Some(SourceFormat::Sql)) && s.query.is_none() {
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

    // --- validation -----------------------------------------------------------------
    let v = &c.validation;
    fraction(
        &mut err,
        "validation.max_missing_fraction",
        v.max_missing_fraction,
    );
    fraction(
        &mut err,
        "validation.drift.dataset_drift_share",
        v.drift.dataset_drift_share,
    );
    fraction(
        &mut err,
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
                &mut err,
                &format!("validation.columns.{col}.max_missing_fraction"),
                f,
            );
        }
    }

    // --- training ---------------------------------------------------------------------
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

    // --- deploy and monitoring --------------------------------------------------------
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
    if c.monitoring.schedule.split_whitespace().count() != 5 {
        err(
            "monitoring.schedule",
            format!(
                "`{}` is not a 5-field cron expression",
                c.monitoring.schedule
            ),
            Some("e.g. `0 6 * * *` (daily at 06:00 UTC)".into()),
        );
    }
    if !c.github.command_prefix.starts_with('/')
        || c.github.command_prefix.contains(char::is_whitespace)
    {
        err(
            "github.command_prefix",
            "must start with `/` and contain no spaces".into(),
            Some("e.g. `/mlx`".into()),
        );
    }
    if c.github.min_approvals == 0 && c.approval_gate.require_human_review {
        err(
            "github.min_approvals",
            "human review is required, so at least 1 approval is needed".into(),
            None,
        );
    }

    out
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
