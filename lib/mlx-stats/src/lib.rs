//! The statistics of mlx, each stated exactly and checked against the reference
//! implementation it names (fixtures recorded by `tests/oracles/record.sh`).
//!
//! Inputs are plain slices: callers drop nulls and sort where a function says so.
//! This crate has no knowledge of data frames, configs or files.

pub mod arima;
pub mod baseline;
pub mod binning;
pub mod chi2;
pub mod divergence;
pub mod ets;
pub mod kolmogorov;
pub mod ks;
pub mod metrics;
mod optim;
pub mod recurrent;
pub mod sum;
pub mod wasserstein;

pub use chi2::{chi2_contingency, ztest_proportions, Chi2Result};
pub use divergence::{js_distance, kl_divergence, psi};
pub use ks::{ks_2samp_from_extremes, ks_2samp_sorted, KsMethod, KsResult};
pub use wasserstein::{wasserstein_normed_sorted, wasserstein_sorted};
