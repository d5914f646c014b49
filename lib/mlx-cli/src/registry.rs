//! The stages built into the `mlx` umbrella, in pipeline order.
//!
//! Registering a stage is one line here (plus its module in `mlx-core` and its thin
//! package under `bins/`). The runner, records and CLI are also exercised by the fake
//! stages of `mlx-testkit`, independently of the real ones.

use mlx_core::Stage;

/// Every built-in stage, in the order `mlx run` runs them.
pub fn stages() -> Vec<&'static dyn Stage> {
    vec![
        &mlx_core::ingest::Ingest,
        &mlx_core::version::Version,
        &mlx_core::validate::Validate,
        &mlx_core::features::Features,
        &mlx_core::train::Train,
        &mlx_core::eval::Eval,
        &mlx_core::shap::Shap,
        &mlx_core::gate::Gate,
        &mlx_core::promote::Promote,
        &mlx_core::serve::Serve,
        &mlx_core::monitor::Monitor,
    ]
}
