//! Two-sample Kolmogorov-Smirnov test, two-sided (`scipy.stats.ks_2samp` with its
//! default `method="auto"`).

use crate::kolmogorov::kolmogn_sf;

/// How the p-value was computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KsMethod {
    /// Exact distribution of the two-sample statistic (Hodges 1958).
    Exact,
    /// `kstwo.sf(D, round(n1 n2 / (n1 + n2)))`.
    Asymptotic,
}

/// Result of [`ks_2samp_sorted`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KsResult {
    /// `D = sup |F1 - F2|`.
    pub statistic: f64,
    /// Two-sided p-value.
    pub p_value: f64,
    /// Which computation gave the p-value.
    pub method: KsMethod,
}

/// Largest sample for which scipy's `auto` mode tries the exact distribution.
pub const MAX_EXACT_N: usize = 10_000;

/// The two-sided two-sample KS test on sorted, NaN-free, non-empty samples.
///
/// `D` is the largest absolute difference of the empirical CDFs evaluated at every
/// observation (ties handled by counting `<=`). When both samples have at most
/// [`MAX_EXACT_N`] values the p-value is exact: `D` is first rounded to the lattice
/// `h / lcm(n1, n2)`, then `P(D >= h/lcm)` comes from the closed alternating sum for
/// `n1 == n2`, or otherwise from the lattice-path recursion that counts paths leaving
/// the band `|x/n1 - y/n2| < h/lcm`. If that loses range, or for larger samples, the
/// asymptotic Kolmogorov distribution of `D` with `n = round(n1 n2 / (n1 + n2))` is
/// used, as scipy does.
pub fn ks_2samp_sorted(a: &[f64], b: &[f64]) -> KsResult {
    assert!(!a.is_empty() && !b.is_empty(), "KS test of an empty sample");
    let (n1, n2) = (a.len(), b.len());
    let (f1, f2) = (n1 as f64, n2 as f64);
    let (mut i, mut j) = (0usize, 0usize);
    let (mut max_diff, mut min_diff) = (f64::NEG_INFINITY, f64::INFINITY);
    for &x in crate::wasserstein::merge(a, b).iter() {
        while i < n1 && a[i] <= x {
            i += 1;
        }
        while j < n2 && b[j] <= x {
            j += 1;
        }
        let diff = i as f64 / f1 - j as f64 / f2;
        max_diff = max_diff.max(diff);
        min_diff = min_diff.min(diff);
    }
    ks_2samp_from_extremes(max_diff, min_diff, n1, n2)
}

/// The test from the extremes of `F1 - F2` over the pooled observations (the largest
/// and the smallest difference, `F` counting `<=`) and the sample sizes: all the
/// p-value depends on, so an engine that holds the data can compute the two extremes
/// where it is and the result is the same as [`ks_2samp_sorted`]'s.
pub fn ks_2samp_from_extremes(max_diff: f64, min_diff: f64, n1: usize, n2: usize) -> KsResult {
    assert!(n1 > 0 && n2 > 0, "KS test of an empty sample");
    let (f1, f2) = (n1 as f64, n2 as f64);
    let min_s = (-min_diff).clamp(0.0, 1.0);
    let mut d = if min_s > max_diff { min_s } else { max_diff };

    if n1.max(n2) <= MAX_EXACT_N {
        let g = gcd(n1, n2);
        let lcm = (n1 / g) as f64 * n2 as f64;
        let h = (d * lcm).round_ties_even();
        let exact_d = h / lcm;
        let p = if h == 0.0 {
            Some(1.0)
        } else if n1 == n2 {
            Some(prob_outside_square(n1, h as usize))
        } else {
            Some(prob_outside_band(n1, n2, g, h as u64))
        };
        if let Some(p) = p.filter(|p| p.is_finite() && (0.0..=1.0).contains(p)) {
            return KsResult {
                statistic: exact_d,
                p_value: p,
                method: KsMethod::Exact,
            };
        }
        d = exact_d;
    }
    let (m, n) = if f1 >= f2 { (f1, f2) } else { (f2, f1) };
    let en = m * n / (m + n);
    KsResult {
        statistic: d,
        p_value: kolmogn_sf(en.round_ties_even() as u64, d).clamp(0.0, 1.0),
        method: KsMethod::Asymptotic,
    }
}

fn gcd(mut a: usize, mut b: usize) -> usize {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// `P(D_{n,n} >= h/n)` = `2 Σ_k (-1)^(k+1) C(2n, n - k h) / C(2n, n)`, each ratio
/// formed as a product of `h` simple factors and the alternating sum nested
/// Horner-style to avoid cancellation.
fn prob_outside_square(n: usize, h: usize) -> f64 {
    let mut p = 0.0;
    let mut k = (n / h) as i64;
    while k >= 0 {
        let kh = k as f64 * h as f64;
        let mut p1 = 1.0;
        for j in 0..h {
            let j = j as f64;
            p1 = (n as f64 - kh - j) * p1 / (n as f64 + kh + j + 1.0);
        }
        p = p1 * (1.0 - p);
        k -= 1;
    }
    2.0 * p
}

/// `P(D_{m,n} >= h/lcm)` for `m != n`: walks the lattice column by column keeping, for
/// each `y` inside the band, the probability that a uniformly random path to `(x, y)`
/// has already left the band (entries outside the band are 1). Hodges (1958).
fn prob_outside_band(n1: usize, n2: usize, g: usize, h: u64) -> f64 {
    let (m, n) = if n1 >= n2 { (n1, n2) } else { (n2, n1) };
    let (mg, ng) = ((m / g) as f64, (n / g) as f64);
    let hf = h as f64;
    let mut minj = 0usize;
    let mut maxj = ((hf / mg).ceil() as usize).min(n + 1);
    let mut curlen = maxj - minj;
    let len_a = (2 * maxj + 2).min(n + 1);
    let mut a = vec![1.0f64; len_a.max(maxj)];
    a[minj..maxj].iter_mut().for_each(|v| *v = 0.0);
    for i in 1..=m {
        let (lastminj, lastlen) = (minj, curlen);
        let fi = i as f64;
        let lo = ((ng * fi - hf) / mg).floor() + 1.0;
        minj = (lo.max(0.0) as usize).min(n);
        maxj = (((ng * fi + hf) / mg).ceil() as usize).min(n + 1);
        if maxj <= minj {
            return 1.0;
        }
        let mut val = if minj == 0 { 0.0 } else { 1.0 };
        for jj in 0..(maxj - minj) {
            let j = (jj + minj) as f64;
            let prev = a.get(jj + minj - lastminj).copied().unwrap_or(1.0);
            val = (prev * fi + val * j) / (fi + j);
            if jj >= a.len() {
                a.resize(jj + 1, 1.0);
            }
            a[jj] = val;
        }
        curlen = maxj - minj;
        if lastlen > curlen {
            let end = (maxj - minj + (lastlen - curlen)).min(a.len());
            a[maxj - minj..end].iter_mut().for_each(|v| *v = 1.0);
        }
    }
    a[maxj - minj - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_small_cases() {
        // Disjoint samples of 2 and 2: D = 1, P = 2 / C(4, 2) = 1/3.
        let r = ks_2samp_sorted(&[1.0, 2.0], &[3.0, 4.0]);
        assert_eq!(r.statistic, 1.0);
        assert!((r.p_value - 1.0 / 3.0).abs() < 1e-15);
        assert_eq!(r.method, KsMethod::Exact);
        // Disjoint samples of 1 and 2: D = 1, P = 2 / C(3, 1) = 2/3.
        let r = ks_2samp_sorted(&[0.0], &[3.0, 4.0]);
        assert!((r.p_value - 2.0 / 3.0).abs() < 1e-15, "{r:?}");
        // Identical samples: D = 0, P = 1.
        let r = ks_2samp_sorted(&[1.0, 2.0, 2.0], &[1.0, 2.0, 2.0]);
        assert_eq!((r.statistic, r.p_value), (0.0, 1.0));
    }
}
