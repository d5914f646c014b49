//! The stages built into the `mlx` umbrella, in pipeline order.
//!
//! Registering a stage is one line here (plus its module in `mlx-core` and its thin
//! package under `bins/`). The list is empty until the first stage issue lands; the
//! runner, records and CLI are exercised meanwhile by the fake stages of `mlx-testkit`.

use mlx_core::Stage;

/// Every built-in stage, in the order `mlx run` runs them.
pub fn stages() -> Vec<&'static dyn Stage> {
    Vec::new()
}
