//! The stages built into the `mlx` umbrella, in pipeline order, each with its command
//! line.
//!
//! Registering a stage is one line here (plus its module in `mlx-core`, its command line
//! in `verbs/`, and its thin package under `bins/`). The runner, records and CLI are
//! also exercised by the fake stages of `mlx-testkit`, independently of the real ones.

use crate::verbs::{self, Verb};

/// Every built-in stage's verb, in the order `mlx run` runs them.
pub fn verbs() -> Vec<&'static dyn Verb> {
    vec![
        &verbs::ingest::Ingest,
        &verbs::version::Version,
        &verbs::validate::Validate,
        &verbs::features::Features,
        &verbs::train::Train,
        &verbs::eval::Eval,
        &verbs::shap::Shap,
        &verbs::gate::Gate,
        &verbs::promote::Promote,
        &verbs::serve::Serve,
        &verbs::monitor::Monitor,
    ]
}
