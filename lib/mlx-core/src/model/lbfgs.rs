//! L-BFGS (Liu & Nocedal 1989) with a strong-Wolfe line search (Nocedal & Wright,
//! algorithms 3.5 and 3.6), stopping as SciPy's `L-BFGS-B` does without bounds, which
//! scikit-learn's default `lbfgs` solver calls: when the largest component of the
//! gradient is at most `tol` (`gtol`), when an iteration lowers the objective by no more
//! than 64 machine epsilons relative to it (`ftol`, scikit-learn's setting), or after
//! `max_iter` iterations. Ten correction pairs (SciPy's `maxcor`), at most 50 evaluations
//! per line search (scikit-learn's `maxls`).
//!
//! Hand-written rather than taken from `argmin`: its L-BFGS tests the gradient's
//! Euclidean norm, while scikit-learn's `tol` bounds its largest component, and the
//! solver is a hundred lines against a framework.

use std::collections::VecDeque;

/// Correction pairs kept.
const MEMORY: usize = 10;
/// Evaluations per line search.
const MAX_EVALUATIONS: usize = 50;
/// Sufficient decrease and curvature constants of the Wolfe conditions.
const C1: f64 = 1e-4;
const C2: f64 = 0.9;

/// Where the minimiser stopped.
#[derive(Debug)]
pub(crate) struct Minimum {
    pub x: Vec<f64>,
    /// The largest absolute component of the gradient at `x`.
    pub gradient: f64,
    pub iterations: usize,
}

/// A point of a line search: its step, value, slope along the direction, the point and
/// its gradient.
struct Trial {
    alpha: f64,
    f: f64,
    slope: f64,
    x: Vec<f64>,
    g: Vec<f64>,
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn largest(g: &[f64]) -> f64 {
    g.iter().fold(0.0, |m, v| m.max(v.abs()))
}

/// Minimises `eval` (which returns the value and writes the gradient) from `x`;
/// `on_step` sees the value at `x`, then after each iteration.
pub(crate) fn minimise(
    mut eval: impl FnMut(&[f64], &mut [f64]) -> f64,
    x: Vec<f64>,
    tol: f64,
    max_iter: usize,
    mut on_step: impl FnMut(f64),
) -> Minimum {
    let mut g = vec![0.0; x.len()];
    let f = eval(&x, &mut g);
    on_step(f);
    let mut at = Trial {
        alpha: 0.0,
        f,
        slope: 0.0,
        x,
        g,
    };
    let mut pairs: VecDeque<(Vec<f64>, Vec<f64>, f64)> = VecDeque::with_capacity(MEMORY);
    let mut iterations = 0;
    while largest(&at.g) > tol && iterations < max_iter {
        let mut d = direction(&at.g, &pairs);
        let mut slope = dot(&at.g, &d);
        if slope >= 0.0 || !slope.is_finite() {
            pairs.clear();
            d = at.g.iter().map(|v| -v).collect();
            slope = dot(&at.g, &d);
        }
        // The first step is scaled to a unit move, as L-BFGS-B's.
        let first = if pairs.is_empty() {
            (1.0 / dot(&d, &d).sqrt()).min(1.0)
        } else {
            1.0
        };
        let Some(next) = line_search(&mut eval, &at, slope, &d, first) else {
            break;
        };
        let s: Vec<f64> = next.x.iter().zip(&at.x).map(|(a, b)| a - b).collect();
        let y: Vec<f64> = next.g.iter().zip(&at.g).map(|(a, b)| a - b).collect();
        let sy = dot(&s, &y);
        if sy > f64::EPSILON * dot(&y, &y) {
            if pairs.len() == MEMORY {
                pairs.pop_front();
            }
            pairs.push_back((s, y, 1.0 / sy));
        }
        let stalled = at.f - next.f <= 64.0 * f64::EPSILON * at.f.abs().max(next.f.abs()).max(1.0);
        at = next;
        iterations += 1;
        on_step(at.f);
        if stalled {
            break;
        }
    }
    Minimum {
        gradient: largest(&at.g),
        x: at.x,
        iterations,
    }
}

/// `-H g` by the two-loop recursion, `H` the inverse-Hessian estimate of the pairs.
fn direction(g: &[f64], pairs: &VecDeque<(Vec<f64>, Vec<f64>, f64)>) -> Vec<f64> {
    let mut q = g.to_vec();
    let mut a = Vec::with_capacity(pairs.len());
    for (s, y, rho) in pairs.iter().rev() {
        let ai = rho * dot(s, &q);
        for (qi, yi) in q.iter_mut().zip(y) {
            *qi -= ai * yi;
        }
        a.push(ai);
    }
    if let Some((s, y, _)) = pairs.back() {
        let gamma = dot(s, y) / dot(y, y);
        q.iter_mut().for_each(|v| *v *= gamma);
    }
    for ((s, y, rho), ai) in pairs.iter().zip(a.iter().rev()) {
        let b = rho * dot(y, &q);
        for (qi, si) in q.iter_mut().zip(s) {
            *qi += si * (ai - b);
        }
    }
    q.iter_mut().for_each(|v| *v = -*v);
    q
}

/// A step along `d` from `at` that meets the strong Wolfe conditions, or the best
/// sufficient decrease found in the evaluations allowed; `None` when there is none.
fn line_search(
    eval: &mut impl FnMut(&[f64], &mut [f64]) -> f64,
    at: &Trial,
    slope0: f64,
    d: &[f64],
    first: f64,
) -> Option<Trial> {
    let mut evaluations = 0;
    let mut probe = |alpha: f64| {
        let x: Vec<f64> = at.x.iter().zip(d).map(|(x, d)| x + alpha * d).collect();
        let mut g = vec![0.0; x.len()];
        let f = eval(&x, &mut g);
        Trial {
            alpha,
            f,
            slope: dot(&g, d),
            x,
            g,
        }
    };
    let armijo = |t: &Trial| t.f <= at.f + C1 * t.alpha * slope0;
    let curvature = |t: &Trial| t.slope.abs() <= -C2 * slope0;
    let mut prev = Trial {
        alpha: 0.0,
        f: at.f,
        slope: slope0,
        x: at.x.clone(),
        g: at.g.clone(),
    };
    let mut alpha = first;
    // Bracketing: grow the step until it overshoots, then zoom into the bracket.
    let (mut lo, mut hi) = loop {
        if evaluations == MAX_EVALUATIONS {
            return None;
        }
        evaluations += 1;
        let t = probe(alpha);
        if !t.f.is_finite() || !armijo(&t) || (prev.alpha > 0.0 && t.f >= prev.f) {
            break (prev, t);
        }
        if curvature(&t) {
            return Some(t);
        }
        if t.slope >= 0.0 {
            break (t, prev);
        }
        alpha = 2.0 * t.alpha;
        prev = t;
    };
    while evaluations < MAX_EVALUATIONS {
        let (a, b) = (lo.alpha.min(hi.alpha), lo.alpha.max(hi.alpha));
        if b - a <= f64::EPSILON * b {
            break;
        }
        let mut alpha = cubic(&lo, &hi);
        if !(alpha > a + 0.1 * (b - a) && alpha < b - 0.1 * (b - a)) {
            alpha = 0.5 * (a + b);
        }
        evaluations += 1;
        let t = probe(alpha);
        if !t.f.is_finite() || !armijo(&t) || t.f >= lo.f {
            hi = t;
        } else {
            if curvature(&t) {
                return Some(t);
            }
            if t.slope * (hi.alpha - lo.alpha) >= 0.0 {
                hi = lo;
            }
            lo = t;
        }
    }
    (lo.alpha > 0.0).then_some(lo)
}

/// The minimiser of the cubic through two trials' values and slopes (NaN when it has
/// none).
fn cubic(p: &Trial, q: &Trial) -> f64 {
    let d1 = p.slope + q.slope - 3.0 * (p.f - q.f) / (p.alpha - q.alpha);
    let d2 = (q.alpha - p.alpha).signum() * (d1 * d1 - p.slope * q.slope).sqrt();
    q.alpha - (q.alpha - p.alpha) * (q.slope + d2 - d1) / (q.slope - p.slope + 2.0 * d2)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rosenbrock's function: L-BFGS reaches its minimum at (1, 1).
    #[test]
    fn minimises_rosenbrock() {
        let mut values = Vec::new();
        let m = minimise(
            |x, g| {
                let (a, b) = (x[0], x[1]);
                g[0] = -2.0 * (1.0 - a) - 400.0 * a * (b - a * a);
                g[1] = 200.0 * (b - a * a);
                (1.0 - a).powi(2) + 100.0 * (b - a * a).powi(2)
            },
            vec![-1.2, 1.0],
            1e-8,
            1000,
            |f| values.push(f),
        );
        assert!(m.gradient <= 1e-8, "{m:?}");
        assert!(
            (m.x[0] - 1.0).abs() < 1e-8 && (m.x[1] - 1.0).abs() < 1e-8,
            "{m:?}"
        );
        assert!(values.windows(2).all(|w| w[1] <= w[0]));
        assert_eq!(values.len(), m.iterations + 1);
    }

    /// A quadratic `½ xᵀ diag(1..n) x - x·1` in at most n + 1 iterations; a tolerance
    /// bounds the largest gradient component, not the norm.
    #[test]
    fn stops_at_the_largest_gradient_component() {
        let n = 8;
        let m = minimise(
            |x, g| {
                let mut f = 0.0;
                for i in 0..n {
                    let h = (i + 1) as f64;
                    g[i] = h * x[i] - 1.0;
                    f += 0.5 * h * x[i] * x[i] - x[i];
                }
                f
            },
            vec![0.0; n],
            1e-3,
            100,
            |_| {},
        );
        assert!(m.gradient <= 1e-3 && m.iterations <= n + 1, "{m:?}");
        for (i, x) in m.x.iter().enumerate() {
            assert!((x - 1.0 / (i + 1) as f64).abs() < 1e-3, "{m:?}");
        }
        // No iteration at all when the start already meets the tolerance: eight
        // components of 0.9e-4 are within 1e-4 each, though their norm (2.5e-4) is not.
        let none = minimise(
            |_, g| {
                g.fill(0.9e-4);
                0.0
            },
            vec![0.0; 8],
            1e-4,
            100,
            |_| {},
        );
        assert_eq!(none.iterations, 0);
    }
}
