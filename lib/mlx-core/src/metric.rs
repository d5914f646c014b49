//! What a config's metrics mean: the one that ranks candidates, whether the problem
//! predicts classes, and how much worse one value is than another.

use mlx_contracts::config::{Config, Direction, Metric, ProblemType, Task};

/// Whether the config's problem predicts classes.
pub fn is_classification(cfg: &Config) -> bool {
    match cfg.pipeline.problem_type {
        ProblemType::Classification => true,
        ProblemType::DeepLearning => cfg.pipeline.task == Some(Task::Classification),
        _ => false,
    }
}

/// The metric that ranks candidates: `evaluation.primary_metric`, else accuracy or
/// RMSE, with its direction.
pub fn primary_metric(cfg: &Config) -> (Metric, Direction) {
    let m = cfg
        .evaluation
        .primary_metric
        .unwrap_or(if is_classification(cfg) {
            Metric::Accuracy
        } else {
            Metric::Rmse
        });
    (m, cfg.evaluation.direction.unwrap_or(m.direction()))
}

/// How much worse `candidate` is than `production`, relative to production (bias in
/// absolute value); positive is worse.
pub fn worsening(metric: Metric, candidate: f64, production: f64) -> f64 {
    let (c, p) = if metric == Metric::Bias {
        (candidate.abs(), production.abs())
    } else {
        (candidate, production)
    };
    let diff = match metric.direction() {
        Direction::Maximize => p - c,
        Direction::Minimize => c - p,
    };
    if p.abs() > 1e-12 {
        diff / p.abs()
    } else {
        diff
    }
}
