//! Bin edges, histograms and the proportions the divergence statistics compare.
//!
//! Two binning schemes:
//! - **Quantile** (mlx's default for PSI): interior edges are the reference's
//!   quantiles at `k / bins`, `k = 1..bins-1`, computed like `numpy.quantile` with its
//!   default `linear` method, then de-duplicated (ties in the reference collapse bins).
//!   Bins are left-closed, `[e_i, e_{i+1})`, and the outer two are open to `-inf` and
//!   `+inf`, so a current value outside the reference's range still lands in a bin.
//! - **Sturges** (Evidently-compatible): `numpy.histogram_bin_edges(reference ∪
//!   current, bins="sturges")`, counted like `numpy.histogram` (left-closed bins, the
//!   last one closed on both sides).
//!
//! Empty bins get Evidently's epsilon (see [`fill_zeros`]) so that logarithms stay finite.

/// `numpy.quantile(sorted, q)` with the default `linear` method: virtual index
/// `(n - 1) * q`, interpolated like numpy's `_lerp` (which interpolates from the upper
/// neighbour when the fraction is at least one half, for symmetry).
pub fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    let n = sorted.len();
    assert!(n > 0, "quantile of an empty sample");
    let virtual_index = (n as f64 - 1.0) * q;
    let below = virtual_index.floor();
    let gamma = virtual_index - below;
    let lo = (below as usize).min(n - 1);
    let hi = (lo + 1).min(n - 1);
    let (a, b) = (sorted[lo], sorted[hi]);
    let diff = b - a;
    if gamma >= 0.5 {
        b - diff * (1.0 - gamma)
    } else {
        a + diff * gamma
    }
}

/// Interior quantile edges of a sorted reference sample, de-duplicated.
pub fn quantile_edges(sorted_reference: &[f64], bins: usize) -> Vec<f64> {
    let mut edges: Vec<f64> = (1..bins)
        .map(|k| quantile_sorted(sorted_reference, k as f64 / bins as f64))
        .collect();
    edges.dedup();
    edges
}

/// Counts per quantile bin: bin `i` holds `edges[i-1] < x <= edges[i]`, with the first
/// bin open to `-inf` and the last to `+inf` (`len(edges) + 1` bins in all).
pub fn quantile_counts(values: &[f64], edges: &[f64]) -> Vec<u64> {
    let mut counts = vec![0u64; edges.len() + 1];
    for &x in values {
        counts[edges.partition_point(|&e| e < x)] += 1;
    }
    counts
}

/// `numpy.histogram_bin_edges(values, bins="sturges")` over the union of two samples.
pub fn sturges_edges(a: &[f64], b: &[f64]) -> Vec<f64> {
    let n = a.len() + b.len();
    assert!(n > 0, "Sturges bins of empty samples");
    let (min, max) = a
        .iter()
        .chain(b)
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| {
            (lo.min(x), hi.max(x))
        });
    sturges_edges_from(min, max, n)
}

/// [`sturges_edges`] from what it depends on: the smallest and largest value of both
/// samples together, and their combined size.
pub fn sturges_edges_from(min: f64, max: f64, n: usize) -> Vec<f64> {
    let ptp = max - min;
    let (first, last) = if min == max {
        (min - 0.5, max + 0.5)
    } else {
        (min, max)
    };
    // numpy: width = ptp / (log2(n) + 1); n_bins = ceil((last - first) / width).
    let width = ptp / ((n as f64).log2() + 1.0);
    let n_bins = if width > 0.0 {
        ((last - first) / width).ceil() as usize
    } else {
        1
    };
    linspace(first, last, n_bins + 1)
}

/// `numpy.linspace(start, stop, num)` with `endpoint=True`, bit for bit.
pub fn linspace(start: f64, stop: f64, num: usize) -> Vec<f64> {
    if num == 1 {
        return vec![start];
    }
    let div = (num - 1) as f64;
    let delta = stop - start;
    let step = delta / div;
    let mut out: Vec<f64> = (0..num)
        .map(|i| {
            if step == 0.0 {
                (i as f64 / div) * delta + start
            } else {
                i as f64 * step + start
            }
        })
        .collect();
    out[num - 1] = stop;
    out
}

/// `numpy.histogram(values, edges)[0]`: bin `i` holds `edges[i] <= x < edges[i+1]`,
/// the last bin also holds `x == edges[last]`; values outside the edges are not counted.
pub fn histogram(values: &[f64], edges: &[f64]) -> Vec<u64> {
    let bins = edges.len().saturating_sub(1);
    let mut counts = vec![0u64; bins];
    if bins == 0 {
        return counts;
    }
    let (first, last) = (edges[0], edges[bins]);
    for &x in values {
        if !(first..=last).contains(&x) {
            continue;
        }
        let i = if x == last {
            bins - 1
        } else {
            edges.partition_point(|&e| e <= x) - 1
        };
        counts[i] += 1;
    }
    counts
}

/// Counts divided by the sample size.
pub fn proportions(counts: &[u64], n: usize) -> Vec<f64> {
    counts.iter().map(|&c| c as f64 / n as f64).collect()
}

/// Evidently's treatment of empty bins: each zero proportion becomes `0.0001`, or,
/// when the smallest non-zero proportion is itself at most `0.0001`, that smallest
/// proportion divided by `10^6`. Applied to each side separately. An all-zero
/// vector is left as it is.
pub fn fill_zeros(p: &mut [f64]) {
    let min_nonzero = p
        .iter()
        .copied()
        .filter(|&v| v != 0.0)
        .fold(f64::INFINITY, f64::min);
    if !min_nonzero.is_finite() {
        return;
    }
    let eps = if min_nonzero <= 0.0001 {
        min_nonzero / 1e6
    } else {
        0.0001
    };
    for v in p.iter_mut().filter(|v| **v == 0.0) {
        *v = eps;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numpy_quantiles_by_hand() {
        let x = [1.0, 2.0, 3.0, 4.0];
        // (n-1)q = 0.75 -> 1 + 0.75
        assert_eq!(quantile_sorted(&x, 0.25), 1.75);
        assert_eq!(quantile_sorted(&x, 0.5), 2.5);
        assert_eq!(quantile_sorted(&x, 1.0), 4.0);
        assert_eq!(quantile_sorted(&x, 0.0), 1.0);
        assert_eq!(quantile_edges(&[0.0, 0.0, 0.0, 0.0, 1.0], 4), vec![0.0]);
    }

    #[test]
    fn histogram_closes_the_last_bin_only() {
        let edges = [0.0, 1.0, 2.0];
        assert_eq!(
            histogram(&[0.0, 0.5, 1.0, 2.0, 2.5, -1.0], &edges),
            vec![2, 2]
        );
        assert_eq!(
            quantile_counts(&[-5.0, 0.0, 0.5, 1.0, 9.0], &[0.0, 1.0]),
            vec![2, 2, 1]
        );
    }

    #[test]
    fn sturges_edges_by_hand() {
        // n = 8: log2(8) + 1 = 4 bins over [0, 8].
        let a = [0.0, 1.0, 2.0, 3.0];
        let b = [5.0, 6.0, 7.0, 8.0];
        assert_eq!(sturges_edges(&a, &b), vec![0.0, 2.0, 4.0, 6.0, 8.0]);
        // Constant data: one bin of width 1 around the value.
        assert_eq!(sturges_edges(&[3.0], &[3.0]), vec![2.5, 3.5]);
    }

    #[test]
    fn zero_filling_follows_evidently() {
        let mut p = vec![0.5, 0.5, 0.0];
        fill_zeros(&mut p);
        assert_eq!(p, vec![0.5, 0.5, 0.0001]);
        let mut p = vec![0.99995, 0.00005, 0.0];
        fill_zeros(&mut p);
        assert_eq!(p[2], 0.00005 / 1e6);
    }
}
