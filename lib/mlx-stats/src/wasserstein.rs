//! First Wasserstein (earth mover's) distance between two 1-D samples.

use crate::sum::np_sum;

/// `scipy.stats.wasserstein_distance(u, v)` without weights: the area between the two
/// empirical CDFs, `Σ |F_u(x_k) - F_v(x_k)| (x_{k+1} - x_k)` over the sorted union
/// `x`. Inputs must be sorted ascending and free of NaN.
pub fn wasserstein_sorted(u: &[f64], v: &[f64]) -> f64 {
    assert!(
        !u.is_empty() && !v.is_empty(),
        "Wasserstein distance of an empty sample"
    );
    let all = merge(u, v);
    let (nu, nv) = (u.len() as f64, v.len() as f64);
    let (mut i, mut j) = (0usize, 0usize);
    let mut terms = Vec::with_capacity(all.len().saturating_sub(1));
    for k in 0..all.len() - 1 {
        let x = all[k];
        while i < u.len() && u[i] <= x {
            i += 1;
        }
        while j < v.len() && v[j] <= x {
            j += 1;
        }
        let gap = (i as f64 / nu - j as f64 / nv).abs();
        terms.push(gap * (all[k + 1] - x));
    }
    np_sum(&terms)
}

/// Evidently's normed Wasserstein distance: the distance divided by
/// `max(std(reference), 0.001)` (population standard deviation). Drift when at or
/// above the threshold (Evidently's default 0.1).
pub fn wasserstein_normed_sorted(reference: &[f64], current: &[f64]) -> f64 {
    wasserstein_sorted(reference, current) / std_population(reference).max(0.001)
}

/// Population standard deviation (`ddof = 0`), two-pass like numpy.
pub fn std_population(x: &[f64]) -> f64 {
    let n = x.len() as f64;
    let mean = np_sum(x) / n;
    let sq: Vec<f64> = x.iter().map(|v| (v - mean) * (v - mean)).collect();
    (np_sum(&sq) / n).sqrt()
}

/// Merges two sorted samples into one sorted sample.
pub fn merge(a: &[f64], b: &[f64]) -> Vec<f64> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if a[i] <= b[j] {
            out.push(a[i]);
            i += 1;
        } else {
            out.push(b[j]);
            j += 1;
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_values() {
        // scipy docs: wasserstein_distance([0, 1, 3], [5, 6, 8]) == 5.0
        assert_eq!(wasserstein_sorted(&[0.0, 1.0, 3.0], &[5.0, 6.0, 8.0]), 5.0);
        assert_eq!(wasserstein_sorted(&[1.0, 2.0], &[1.0, 2.0]), 0.0);
        // A shift by 1 of a constant sample moves all mass by 1.
        assert_eq!(wasserstein_sorted(&[2.0, 2.0], &[3.0]), 1.0);
        assert_eq!(std_population(&[1.0, 3.0]), 1.0);
    }
}
