//! PSI, Kullback-Leibler divergence and Jensen-Shannon distance of two binned
//! distributions (proportions from [`crate::binning`]).

use crate::sum::np_sum;

/// `scipy.special.rel_entr(x, y)`: `x ln(x/y)` for `x, y > 0`, `0` for `x = 0, y >= 0`,
/// `+inf` otherwise.
pub fn rel_entr(x: f64, y: f64) -> f64 {
    if x.is_nan() || y.is_nan() {
        f64::NAN
    } else if x > 0.0 && y > 0.0 {
        x * (x / y).ln()
    } else if x == 0.0 && y >= 0.0 {
        0.0
    } else {
        f64::INFINITY
    }
}

/// Population stability index, `Σ (r_i - c_i) ln(r_i / c_i)` over the bins, as in
/// Evidently's `psi` stattest. Inputs are proportions with empty bins already filled
/// (see [`crate::binning::fill_zeros`]). Interpretation (design documents): below 0.1
/// stable, 0.1 to 0.25 moderate drift, above 0.25 significant drift.
pub fn psi(reference: &[f64], current: &[f64]) -> f64 {
    assert_eq!(reference.len(), current.len(), "PSI needs the same bins");
    let terms: Vec<f64> = reference
        .iter()
        .zip(current)
        .map(|(&r, &c)| (r - c) * (r / c).ln())
        .collect();
    np_sum(&terms)
}

/// `scipy.stats.entropy(p, q)`: both sides normalised to sum to 1, then
/// `Σ rel_entr(p_i, q_i)` (natural log). `+inf` when `q` is 0 where `p` is not.
pub fn kl_divergence(p: &[f64], q: &[f64]) -> f64 {
    assert_eq!(p.len(), q.len(), "KL needs the same bins");
    let (sp, sq) = (np_sum(p), np_sum(q));
    let terms: Vec<f64> = p
        .iter()
        .zip(q)
        .map(|(&a, &b)| rel_entr(a / sp, b / sq))
        .collect();
    np_sum(&terms)
}

/// `scipy.spatial.distance.jensenshannon(p, q)`: both sides normalised, `m = (p+q)/2`,
/// `sqrt((Σ rel_entr(p, m) + Σ rel_entr(q, m)) / 2)` (natural log, so at most `sqrt(ln 2)`).
pub fn js_distance(p: &[f64], q: &[f64]) -> f64 {
    assert_eq!(p.len(), q.len(), "JS needs the same bins");
    let (sp, sq) = (np_sum(p), np_sum(q));
    let p: Vec<f64> = p.iter().map(|&v| v / sp).collect();
    let q: Vec<f64> = q.iter().map(|&v| v / sq).collect();
    let m: Vec<f64> = p.iter().zip(&q).map(|(a, b)| (a + b) / 2.0).collect();
    let left: Vec<f64> = p.iter().zip(&m).map(|(&a, &b)| rel_entr(a, b)).collect();
    let right: Vec<f64> = q.iter().zip(&m).map(|(&a, &b)| rel_entr(a, b)).collect();
    ((np_sum(&left) + np_sum(&right)) / 2.0).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_values() {
        // PSI of (0.5, 0.5) vs (0.25, 0.75): 0.25 ln 2 + (-0.25) ln(2/3).
        let expect = 0.25 * 2f64.ln() - 0.25 * (2.0f64 / 3.0).ln();
        assert!((psi(&[0.5, 0.5], &[0.25, 0.75]) - expect).abs() < 1e-15);
        assert_eq!(psi(&[0.3, 0.7], &[0.3, 0.7]), 0.0);
        // KL of (1, 0) against (0.5, 0.5) is ln 2; unnormalised inputs are normalised.
        assert!((kl_divergence(&[2.0, 0.0], &[1.0, 1.0]) - 2f64.ln()).abs() < 1e-15);
        assert_eq!(kl_divergence(&[1.0, 1.0], &[1.0, 0.0]), f64::INFINITY);
        // Disjoint supports: JS distance is sqrt(ln 2).
        assert!((js_distance(&[1.0, 0.0], &[0.0, 1.0]) - 2f64.ln().sqrt()).abs() < 1e-15);
    }
}
