//! Chi-square test of homogeneity (`scipy.stats.chi2_contingency`) and the z-test for
//! two proportions (Evidently's `z` stattest).

use statrs::function::erf::erfc;
use statrs::function::gamma::gamma_ur;

use crate::sum::np_sum;

/// Result of [`chi2_contingency`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Chi2Result {
    /// Pearson's statistic `Σ (O - E)² / E`.
    pub statistic: f64,
    /// Upper tail of the chi-square distribution with `dof` degrees of freedom.
    pub p_value: f64,
    /// `(rows - 1)(columns - 1)`.
    pub dof: usize,
}

/// `scipy.stats.chi2_contingency(table)` with its default Yates correction, for a
/// table of `rows` rows given row-major. Expected counts are
/// `row_sum * column_sum / total`; with one degree of freedom every observed count
/// is moved half a unit towards its expected count (never past it). With zero
/// degrees of freedom the statistic is 0 and the p-value 1. Returns `None` when an
/// expected count is zero (an all-zero row or column), which scipy refuses too.
pub fn chi2_contingency(table: &[u64], rows: usize) -> Option<Chi2Result> {
    let cols = table.len() / rows;
    assert_eq!(rows * cols, table.len(), "table is not rectangular");
    let total: f64 = table.iter().map(|&v| v as f64).sum();
    let row_sums: Vec<f64> = (0..rows)
        .map(|r| {
            table[r * cols..(r + 1) * cols]
                .iter()
                .map(|&v| v as f64)
                .sum()
        })
        .collect();
    let col_sums: Vec<f64> = (0..cols)
        .map(|c| (0..rows).map(|r| table[r * cols + c] as f64).sum())
        .collect();
    let expected: Vec<f64> = (0..rows * cols)
        .map(|k| row_sums[k / cols] * col_sums[k % cols] / total)
        .collect();
    if expected.contains(&0.0) {
        return None;
    }
    let dof = (rows - 1) * (cols - 1);
    if dof == 0 {
        return Some(Chi2Result {
            statistic: 0.0,
            p_value: 1.0,
            dof,
        });
    }
    let terms: Vec<f64> = table
        .iter()
        .zip(&expected)
        .map(|(&o, &e)| {
            let mut o = o as f64;
            if dof == 1 {
                let diff = e - o;
                o += diff.abs().min(0.5) * diff.signum() * f64::from(u8::from(diff != 0.0));
            }
            (o - e) * (o - e) / e
        })
        .collect();
    let statistic = np_sum(&terms);
    Some(Chi2Result {
        statistic,
        p_value: chi2_sf(statistic, dof as f64),
        dof,
    })
}

/// Upper tail of the chi-square distribution, `Q(dof/2, x/2)` (`scipy.stats.chi2.sf`).
pub fn chi2_sf(x: f64, dof: f64) -> f64 {
    if x <= 0.0 {
        return 1.0;
    }
    gamma_ur(dof / 2.0, x / 2.0)
}

/// Two-sided z-test for the difference of two proportions with the pooled variance,
/// as Evidently's `z` stattest: `z = (p1 - p2) / sqrt(P (1 - P) (1/n1 + 1/n2))`,
/// `p = 2 (1 - Φ(|z|))`. Computed as `erfc(|z| / √2)`, which is the same quantity
/// without the cancellation of `1 - Φ`, so it stays accurate for tiny p-values.
/// Returns 1 when both samples hold a single, identical value (no variance).
pub fn ztest_proportions(successes1: u64, n1: u64, successes2: u64, n2: u64) -> f64 {
    let (n1f, n2f) = (n1 as f64, n2 as f64);
    let p1 = successes1 as f64 / n1f;
    let p2 = successes2 as f64 / n2f;
    let pooled = (p1 * n1f + p2 * n2f) / (n1f + n2f);
    let var = pooled * (1.0 - pooled) * (1.0 / n1f + 1.0 / n2f);
    if var == 0.0 {
        return 1.0;
    }
    let z = (p1 - p2) / var.sqrt();
    erfc(z.abs() / std::f64::consts::SQRT_2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_values() {
        // 2x2 table [[10, 20], [20, 10]]: expected 15 everywhere, Yates moves each
        // count 0.5 towards 15: (4.5² / 15) * 4 = 5.4.
        let r = chi2_contingency(&[10, 20, 20, 10], 2).unwrap();
        assert!((r.statistic - 5.4).abs() < 1e-12);
        assert_eq!(r.dof, 1);
        // chi2.sf(x, 2) = exp(-x/2).
        assert!((chi2_sf(3.0, 2.0) - (-1.5f64).exp()).abs() < 1e-15);
        // One column: nothing to compare.
        assert_eq!(chi2_contingency(&[5, 7], 2).unwrap().p_value, 1.0);
        assert!(chi2_contingency(&[0, 5, 0, 7], 2).is_none());
        // z = 0 for equal proportions.
        assert!((ztest_proportions(5, 10, 50, 100) - 1.0).abs() < 1e-15);
        assert_eq!(ztest_proportions(10, 10, 20, 20), 1.0);
    }
}
