//! Model-agnostic SHAP: exact linear SHAP, and Shapley values of the interventional
//! value function `v(S) = mean over background rows b of f(x_S, b_rest)` — exactly, by
//! enumerating every coalition (what `shap.KernelExplainer` converges to when it
//! enumerates them all), or by sampling antithetic permutations when there are too many
//! features for that.

use nalgebra::DMatrix;
use rand::seq::SliceRandom;
use rand::SeedableRng;

use crate::error::Result;
use crate::model::linear::LinearModel;

/// Exact enumeration up to this many features (2^14 coalitions).
pub const MAX_EXACT_FEATURES: usize = 14;

/// SHAP values of a linear model in its margin space: `coef · (x - mean)` per output,
/// with the background mean (as `shap.LinearExplainer` with independent features).
/// Returns `(phi: features × outputs row-major by feature, base per output)`.
pub fn linear(m: &LinearModel, row: &[f64], mean: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let (coef, intercept): (Vec<&[f64]>, Vec<f64>) = match m {
        LinearModel::Regression { coef, intercept } => (vec![coef.as_slice()], vec![*intercept]),
        LinearModel::Logistic { coef, intercept } => {
            (coef.iter().map(Vec::as_slice).collect(), intercept.clone())
        }
    };
    let outputs = coef.len();
    let p = row.len();
    let mut phi = vec![0.0; p * outputs];
    let mut base = intercept;
    for (o, w) in coef.iter().enumerate() {
        for j in 0..p {
            phi[j * outputs + o] = w[j] * (row[j] - mean[j]);
            base[o] += w[j] * mean[j];
        }
    }
    (phi, base)
}

/// The model's outputs averaged over the background, with the features in each
/// coalition taken from `row` (`masks[c][j]`: feature `j` is in coalition `c`).
fn values(
    f: &dyn Fn(&DMatrix<f64>) -> Result<DMatrix<f64>>,
    row: &[f64],
    background: &DMatrix<f64>,
    masks: &[Vec<bool>],
) -> Result<Vec<Vec<f64>>> {
    let b = background.nrows();
    let p = row.len();
    let x = DMatrix::from_fn(masks.len() * b, p, |i, j| {
        if masks[i / b][j] {
            row[j]
        } else {
            background[(i % b, j)]
        }
    });
    let out = f(&x)?;
    Ok((0..masks.len())
        .map(|c| {
            (0..out.ncols())
                .map(|o| (0..b).map(|r| out[(c * b + r, o)]).sum::<f64>() / b as f64)
                .collect()
        })
        .collect())
}

/// Exact Shapley values over every coalition. Returns `(phi, base)` as [`linear`].
pub fn exact(
    f: &dyn Fn(&DMatrix<f64>) -> Result<DMatrix<f64>>,
    row: &[f64],
    background: &DMatrix<f64>,
) -> Result<(Vec<f64>, Vec<f64>)> {
    let p = row.len();
    let masks: Vec<Vec<bool>> = (0..1usize << p)
        .map(|s| (0..p).map(|j| s & (1 << j) != 0).collect())
        .collect();
    let v = values(f, row, background, &masks)?;
    let outputs = v[0].len();
    // w(s) = s! (p - s - 1)! / p!
    let mut weight = vec![0.0; p];
    for (s, w) in weight.iter_mut().enumerate() {
        let mut x = 1.0 / p as f64;
        // 1 / (p · C(p-1, s))
        for k in 0..s {
            x *= (k + 1) as f64 / (p - 1 - k) as f64;
        }
        *w = x;
    }
    let mut phi = vec![0.0; p * outputs];
    for s in 0..1usize << p {
        let size = s.count_ones() as usize;
        for j in 0..p {
            if s & (1 << j) != 0 {
                continue;
            }
            let with = s | (1 << j);
            for o in 0..outputs {
                phi[j * outputs + o] += weight[size] * (v[with][o] - v[s][o]);
            }
        }
    }
    Ok((phi, v[0].clone()))
}

/// Shapley values estimated from `pairs` random permutations and their reverses
/// (antithetic sampling, as `shap.PermutationExplainer`), seeded. Each permutation adds
/// the features one by one; each feature's value is its mean marginal contribution.
pub fn permutation(
    f: &dyn Fn(&DMatrix<f64>) -> Result<DMatrix<f64>>,
    row: &[f64],
    background: &DMatrix<f64>,
    pairs: usize,
    seed: u64,
) -> Result<(Vec<f64>, Vec<f64>)> {
    let p = row.len();
    let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
    let mut order: Vec<usize> = (0..p).collect();
    let mut phi: Vec<f64> = Vec::new();
    let mut base = Vec::new();
    let mut count = 0.0;
    for _ in 0..pairs.max(1) {
        order.shuffle(&mut rng);
        for forward in [true, false] {
            let seq: Vec<usize> = if forward {
                order.clone()
            } else {
                order.iter().rev().copied().collect()
            };
            let mut masks = vec![vec![false; p]];
            for (k, &j) in seq.iter().enumerate() {
                let mut m = masks[k].clone();
                m[j] = true;
                masks.push(m);
            }
            let v = values(f, row, background, &masks)?;
            let outputs = v[0].len();
            if phi.is_empty() {
                phi = vec![0.0; p * outputs];
                base = v[0].clone();
            }
            for (k, &j) in seq.iter().enumerate() {
                for o in 0..outputs {
                    phi[j * outputs + o] += v[k + 1][o] - v[k][o];
                }
            }
            count += 1.0;
        }
    }
    for x in &mut phi {
        *x /= count;
    }
    Ok((phi, base))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// f(x) = 2 x0 + x0 x1: with background (0, 0) the Shapley values at (1, 3) are
    /// 2 + 3/2 and 3/2 (the interaction split evenly).
    #[test]
    fn exact_values_split_an_interaction_evenly() {
        let f = |x: &DMatrix<f64>| -> Result<DMatrix<f64>> {
            Ok(DMatrix::from_fn(x.nrows(), 1, |i, _| {
                2.0 * x[(i, 0)] + x[(i, 0)] * x[(i, 1)]
            }))
        };
        let bg = DMatrix::zeros(1, 2);
        let (phi, base) = exact(&f, &[1.0, 3.0], &bg).unwrap();
        assert_eq!(base, [0.0]);
        assert_eq!(phi, [3.5, 1.5]);
        // Two features: every permutation is one of the two orders, so sampling is exact.
        let (phi, _) = permutation(&f, &[1.0, 3.0], &bg, 3, 7).unwrap();
        assert_eq!(phi, [3.5, 1.5]);
    }

    #[test]
    fn linear_values_are_coefficients_times_distance_from_the_mean() {
        let m = LinearModel::Regression {
            coef: vec![2.0, -1.0],
            intercept: 0.5,
        };
        let (phi, base) = linear(&m, &[3.0, 1.0], &[1.0, 1.0]);
        assert_eq!(phi, [4.0, 0.0]);
        assert_eq!(base, [0.5 + 2.0 - 1.0]);
    }
}
