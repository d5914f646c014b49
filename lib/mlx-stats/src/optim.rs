//! BFGS with central-difference gradients and a backtracking line search: the
//! optimiser of the time-series models, whose parameters are few.

fn gradient(f: &mut impl FnMut(&[f64]) -> f64, x: &[f64]) -> Vec<f64> {
    let mut g = vec![0.0; x.len()];
    let mut probe = x.to_vec();
    for i in 0..x.len() {
        let h = 1e-6 * x[i].abs().max(1.0);
        probe[i] = x[i] + h;
        let up = f(&probe);
        probe[i] = x[i] - h;
        let down = f(&probe);
        probe[i] = x[i];
        g[i] = (up - down) / (2.0 * h);
    }
    g
}

/// Minimises `f` from `x` by BFGS with a backtracking line search.
pub(crate) fn bfgs(mut f: impl FnMut(&[f64]) -> f64, mut x: Vec<f64>) -> Vec<f64> {
    let n = x.len();
    let mut h = vec![0.0; n * n];
    for i in 0..n {
        h[i * n + i] = 1.0;
    }
    let mut fx = f(&x);
    let mut g = gradient(&mut f, &x);
    let mut stalled = 0;
    for _ in 0..200 {
        let gnorm = g.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        if gnorm < 1e-6 {
            break;
        }
        let mut d: Vec<f64> = (0..n)
            .map(|i| -(0..n).map(|j| h[i * n + j] * g[j]).sum::<f64>())
            .collect();
        let mut slope: f64 = d.iter().zip(&g).map(|(a, b)| a * b).sum();
        if slope >= 0.0 {
            // Not a descent direction: restart from steepest descent.
            for i in 0..n {
                for j in 0..n {
                    h[i * n + j] = if i == j { 1.0 } else { 0.0 };
                }
            }
            d = g.iter().map(|v| -v).collect();
            slope = -g.iter().map(|v| v * v).sum::<f64>();
        }
        let mut step = 1.0;
        let mut accepted = None;
        for _ in 0..60 {
            let trial: Vec<f64> = x.iter().zip(&d).map(|(a, b)| a + step * b).collect();
            let ft = f(&trial);
            if ft.is_finite() && ft <= fx + 1e-4 * step * slope {
                accepted = Some((trial, ft));
                break;
            }
            step *= 0.5;
        }
        let Some((next, fnext)) = accepted else {
            break;
        };
        let gnext = gradient(&mut f, &next);
        let s: Vec<f64> = next.iter().zip(&x).map(|(a, b)| a - b).collect();
        let y: Vec<f64> = gnext.iter().zip(&g).map(|(a, b)| a - b).collect();
        let sy: f64 = s.iter().zip(&y).map(|(a, b)| a * b).sum();
        let improvement = fx - fnext;
        x = next;
        fx = fnext;
        g = gnext;
        if sy > 1e-16 {
            // H ← (I − ρ s y') H (I − ρ y s') + ρ s s'
            let rho = 1.0 / sy;
            let hy: Vec<f64> = (0..n)
                .map(|i| (0..n).map(|j| h[i * n + j] * y[j]).sum())
                .collect();
            let yhy: f64 = y.iter().zip(&hy).map(|(a, b)| a * b).sum();
            for i in 0..n {
                for j in 0..n {
                    h[i * n + j] +=
                        rho * ((1.0 + rho * yhy) * s[i] * s[j] - hy[i] * s[j] - s[i] * hy[j]);
                }
            }
        }
        // Two steps in a row that change the objective by less than 1e-10 of itself.
        if improvement.abs() < 1e-10 * fx.abs().max(1.0) {
            stalled += 1;
            if stalled == 2 {
                break;
            }
        } else {
            stalled = 0;
        }
    }
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bfgs_finds_the_minimum_of_a_quadratic() {
        let x = bfgs(
            |v| (v[0] - 1.0).powi(2) + 10.0 * (v[1] + 2.0).powi(2) + v[0] * v[1],
            vec![0.0, 0.0],
        );
        // Gradient zero: 2(x−1) + y = 0, 20(y+2) + x = 0.
        let (a, b) = (x[0], x[1]);
        assert!(
            (2.0 * (a - 1.0) + b).abs() < 1e-6 && (20.0 * (b + 2.0) + a).abs() < 1e-6,
            "{x:?}"
        );
    }
}
