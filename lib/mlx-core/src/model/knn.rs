//! k-nearest neighbours (scikit-learn's `KNeighborsClassifier` / `KNeighborsRegressor`
//! with brute-force Euclidean distances): the `k` closest training rows (ties by row
//! order), uniform or inverse-distance weights.

use nalgebra::DMatrix;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// A fitted k-nearest-neighbours model: the training rows themselves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Knn {
    /// Neighbours per prediction.
    pub k: usize,
    /// Weight neighbours by 1 / distance (an exact match takes all the weight).
    pub distance_weighted: bool,
    /// Training rows, row-major.
    pub rows: Vec<f64>,
    /// Columns per row.
    pub width: usize,
    /// Per training row: its value, or its class code.
    pub targets: Vec<f64>,
    /// Number of classes (0 for regression).
    pub classes: usize,
}

impl Knn {
    /// Stores the training data.
    pub fn fit(
        x: &DMatrix<f64>,
        targets: Vec<f64>,
        classes: usize,
        k: usize,
        distance_weighted: bool,
    ) -> Self {
        let rows = (0..x.nrows())
            .flat_map(|i| x.row(i).iter().copied().collect::<Vec<_>>())
            .collect();
        Self {
            k: k.min(x.nrows()).max(1),
            distance_weighted,
            rows,
            width: x.ncols(),
            targets,
            classes,
        }
    }

    /// Values (`n × 1`) or class probabilities (`n × classes`).
    pub fn predict(&self, x: &DMatrix<f64>) -> DMatrix<f64> {
        let outputs = self.classes.max(1);
        let n_train = self.targets.len();
        let out: Vec<Vec<f64>> = (0..x.nrows())
            .into_par_iter()
            .map(|i| {
                let q: Vec<f64> = x.row(i).iter().copied().collect();
                let mut d: Vec<(f64, usize)> = (0..n_train)
                    .map(|j| {
                        let r = &self.rows[j * self.width..(j + 1) * self.width];
                        (
                            r.iter()
                                .zip(&q)
                                .map(|(a, b)| (a - b) * (a - b))
                                .sum::<f64>(),
                            j,
                        )
                    })
                    .collect();
                d.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                let near = &d[..self.k];
                let exact = near.iter().any(|(dist, _)| *dist == 0.0);
                let weight = |dist: f64| {
                    if !self.distance_weighted {
                        1.0
                    } else if exact {
                        f64::from(u8::from(dist == 0.0))
                    } else {
                        1.0 / dist.sqrt()
                    }
                };
                let mut acc = vec![0.0; outputs];
                let mut total = 0.0;
                for &(dist, j) in near {
                    let w = weight(dist);
                    total += w;
                    if self.classes > 0 {
                        acc[self.targets[j] as usize] += w;
                    } else {
                        acc[0] += w * self.targets[j];
                    }
                }
                acc.iter().map(|a| a / total).collect()
            })
            .collect();
        DMatrix::from_fn(x.nrows(), outputs, |i, k| out[i][k])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn votes_and_means_by_hand() {
        let x = DMatrix::from_row_slice(4, 1, &[0.0, 1.0, 2.0, 10.0]);
        let c = Knn::fit(&x, vec![0.0, 0.0, 1.0, 1.0], 2, 3, false);
        let p = c.predict(&DMatrix::from_row_slice(1, 1, &[0.4]));
        assert_eq!((p[(0, 0)], p[(0, 1)]), (2.0 / 3.0, 1.0 / 3.0));
        let r = Knn::fit(&x, vec![1.0, 2.0, 3.0, 100.0], 0, 2, false);
        assert_eq!(
            r.predict(&DMatrix::from_row_slice(1, 1, &[1.6]))[(0, 0)],
            2.5
        );
    }
}
