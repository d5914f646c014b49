//! `mlx-train`: no flags of its own.

use mlx_core::Stage;

use super::Verb;

/// The verb.
pub struct Train;

impl Verb for Train {
    fn stage(&self) -> &'static dyn Stage {
        &mlx_core::train::Train
    }
}
