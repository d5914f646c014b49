//! An LSTM layer's recurrence over a whole sequence, forward and backward
//! (backpropagation through time), on plain row-major `f32` slices: the kernel of the
//! candle backend's LSTM (mlx-core's `neural::lstm` wraps it as one tensor operation).
//!
//! The equations and gate order are PyTorch's `nn.LSTM`:
//! `z = x W_ihᵀ + b + h W_hhᵀ`, `i, f, g, o = σ(z_i), σ(z_f), tanh(z_g), σ(z_o)`,
//! `c' = f c + i g`, `h' = o tanh(c')`, from zero states. A row-major `rows × cols`
//! slice is read as the column-major `cols × rows` matrix, its transpose, so each
//! product below is one nalgebra product with no copy.

use nalgebra::{DMatrix, DMatrixView};

/// The sizes of a layer's pass: steps of the sequence, rows of the batch, units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dims {
    /// Steps of the sequence.
    pub steps: usize,
    /// Rows of the batch.
    pub batch: usize,
    /// Hidden units.
    pub units: usize,
}

/// What the backward pass needs from the forward pass: every step's gates (after their
/// activations, `steps × batch × 4·units`), cell states and their tanh
/// (`steps × batch × units`).
#[derive(Debug, Clone, PartialEq)]
pub struct Tape {
    gates: Vec<f32>,
    cells: Vec<f32>,
    tanh_cells: Vec<f32>,
}

/// `eˣ` for `f32`, to within 2 units in the last place, written so that a loop over a
/// slice compiles to vector instructions (the library's `exp` is a call per element,
/// which set the layer's speed): `eˣ = 2ⁿ eʳ` with `n = round(x / ln 2)` and
/// `|r| ≤ ln 2 / 2`, `eʳ` by its Taylor series to `r⁷` (remainder below 3e-9), and `2ⁿ`
/// written into the exponent bits.
fn exp(x: f32) -> f32 {
    let x = x.clamp(-87.0, 88.0);
    let n = (x * std::f32::consts::LOG2_E).round();
    // ln 2 in two parts, so that `n ln 2` is subtracted without rounding error.
    let r = (x - n * 0.693_145_75) - n * 1.428_606_8e-6;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0
                    + r * (1.0 / 24.0
                        + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r * (1.0 / 5040.0)))))));
    p * f32::from_bits(((n as i32 + 127) as u32) << 23)
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

/// `tanh x = 1 − 2 / (e²ˣ + 1)`: within 2e-7 of the true value everywhere.
fn tanh(x: f32) -> f32 {
    1.0 - 2.0 / (exp(2.0 * x) + 1.0)
}

/// The hidden states at every step (`steps × batch × units`), from the input
/// projections `xw` (`steps × batch × 4·units`: `x W_ihᵀ + b_ih + b_hh`) and the
/// recurrent weights `w_hh` (`4·units × units`).
pub fn lstm_forward(xw: &[f32], w_hh: &[f32], d: Dims) -> (Vec<f32>, Tape) {
    let Dims {
        steps,
        batch,
        units: u,
    } = d;
    assert_eq!(xw.len(), steps * batch * 4 * u, "input projections");
    assert_eq!(w_hh.len(), 4 * u * u, "recurrent weights");
    // W_hh column-major (one copy), so that each step is one matrixmultiply product.
    let w = DMatrixView::from_slice(w_hh, u, 4 * u).transpose();
    let mut hs = vec![0f32; steps * batch * u];
    let mut gates = vec![0f32; steps * batch * 4 * u];
    let mut cells = vec![0f32; steps * batch * u];
    let mut tanh_cells = vec![0f32; steps * batch * u];
    let mut h = DMatrix::<f32>::zeros(u, batch); // column b: row b's state
    for t in 0..steps {
        let z = &w * &h; // (h W_hhᵀ)ᵀ: column b is row b's 4·units
        for b in 0..batch {
            let at = (t * batch + b) * 4 * u;
            let g = &mut gates[at..at + 4 * u];
            let zb = &z.as_slice()[b * 4 * u..(b + 1) * 4 * u];
            for ((v, x), z) in g.iter_mut().zip(&xw[at..at + 4 * u]).zip(zb) {
                *v = x + z;
            }
            // Each gate's activation over its own slice, so that the loops vectorise.
            let (ifg, o) = g.split_at_mut(3 * u);
            let (i_f, cand) = ifg.split_at_mut(2 * u);
            i_f.iter_mut()
                .chain(o.iter_mut())
                .for_each(|v| *v = sigmoid(*v));
            cand.iter_mut().for_each(|v| *v = tanh(*v));
            let cell = (t * batch + b) * u;
            for j in 0..u {
                let before = if t == 0 {
                    0.0
                } else {
                    cells[cell - batch * u + j]
                };
                cells[cell + j] = g[u + j] * before + g[j] * g[2 * u + j];
            }
            for j in 0..u {
                let tc = tanh(cells[cell + j]);
                tanh_cells[cell + j] = tc;
                let hv = g[3 * u + j] * tc;
                hs[cell + j] = hv;
                h[(j, b)] = hv;
            }
        }
    }
    (
        hs,
        Tape {
            gates,
            cells,
            tanh_cells,
        },
    )
}

/// The gradients of the input projections (`steps × batch × 4·units`) and of the
/// recurrent weights (`4·units × units`), from the gradient `dhs` of every hidden state
/// in `hs` (both `steps × batch × units`).
pub fn lstm_backward(
    w_hh: &[f32],
    hs: &[f32],
    dhs: &[f32],
    tape: &Tape,
    d: Dims,
) -> (Vec<f32>, Vec<f32>) {
    let Dims {
        steps,
        batch,
        units: u,
    } = d;
    let (gates, cells, tanh_cells) = (&tape.gates, &tape.cells, &tape.tanh_cells);
    let wt = DMatrixView::from_slice(w_hh, u, 4 * u); // W_hhᵀ
    let mut dz = vec![0f32; steps * batch * 4 * u];
    let mut dh_next = DMatrix::<f32>::zeros(u, batch);
    let mut dc_next = vec![0f32; batch * u];
    for t in (0..steps).rev() {
        let mut dzt = DMatrix::<f32>::zeros(4 * u, batch);
        for b in 0..batch {
            let at = (t * batch + b) * 4 * u;
            let g = &gates[at..at + 4 * u];
            let cell = (t * batch + b) * u;
            for j in 0..u {
                let dh = dhs[cell + j] + dh_next[(j, b)];
                let tc = tanh_cells[cell + j];
                let (i, f, gg, o) = (g[j], g[u + j], g[2 * u + j], g[3 * u + j]);
                let dc = dc_next[b * u + j] + dh * o * (1.0 - tc * tc);
                let before = if t == 0 {
                    0.0
                } else {
                    cells[cell - batch * u + j]
                };
                dc_next[b * u + j] = dc * f;
                let pre = [
                    dc * gg * i * (1.0 - i),
                    dc * before * f * (1.0 - f),
                    dc * i * (1.0 - gg * gg),
                    dh * tc * o * (1.0 - o),
                ];
                for (q, v) in pre.into_iter().enumerate() {
                    dz[at + q * u + j] = v;
                    dzt[(q * u + j, b)] = v;
                }
            }
        }
        dh_next = wt * &dzt; // (dz_t W_hh)ᵀ
    }
    // dW_hh = Σ_t dz_tᵀ h_{t−1}, one product over every step (h_{−1} = 0).
    let rows = steps * batch;
    let mut previous = vec![0f32; rows * u];
    if steps > 1 {
        previous[batch * u..].copy_from_slice(&hs[..(steps - 1) * batch * u]);
    }
    let hp = DMatrixView::from_slice(&previous, u, rows); // H_prevᵀ
    let dzs = DMatrixView::from_slice(&dz, 4 * u, rows); // DZᵀ
    let dw = (hp * dzs.transpose()).as_slice().to_vec(); // dW_hhᵀ column-major = dW_hh
    (dz, dw)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filled(n: usize, seed: usize) -> Vec<f32> {
        (0..n)
            .map(|i| (((i * 7919 + seed * 104_729) % 1000) as f32 / 500.0 - 1.0) * 0.8)
            .collect()
    }

    /// `Σ hs · weights` as a function of the inputs, in f64 for the differences.
    fn loss(xw: &[f32], w: &[f32], weights: &[f32], d: Dims) -> f64 {
        let (hs, _) = lstm_forward(xw, w, d);
        hs.iter()
            .zip(weights)
            .map(|(h, k)| *h as f64 * *k as f64)
            .sum()
    }

    #[test]
    fn exp_and_tanh_are_accurate() {
        let mut worst = (0f64, 0f64);
        for k in -20_000..=20_000 {
            let x = k as f32 / 1000.0;
            let (e, want) = (exp(x) as f64, (x as f64).exp());
            worst.0 = worst.0.max(((e - want) / want).abs());
            worst.1 = worst.1.max((tanh(x) as f64 - (x as f64).tanh()).abs());
        }
        assert!(worst.0 < 3e-7 && worst.1 < 2e-7, "{worst:?}");
        assert_eq!(exp(-200.0), exp(-87.0));
        assert!(sigmoid(-100.0) >= 0.0 && sigmoid(100.0) == 1.0);
    }

    #[test]
    fn one_step_by_hand() {
        // One unit, one row, one step: z = x (no state yet).
        let d = Dims {
            steps: 1,
            batch: 1,
            units: 1,
        };
        let xw = [0.5f32, -0.25, 0.3, 1.0];
        let (hs, _) = lstm_forward(&xw, &[0.0; 4], d);
        let s = |x: f64| 1.0 / (1.0 + (-x).exp());
        let (i, g, o) = (s(0.5), 0.3f64.tanh(), s(1.0));
        assert!((hs[0] as f64 - o * (i * g).tanh()).abs() < 1e-6);
    }

    #[test]
    fn gradients_agree_with_finite_differences() {
        let d = Dims {
            steps: 5,
            batch: 2,
            units: 3,
        };
        let xw = filled(5 * 2 * 12, 1);
        let w = filled(12 * 3, 2);
        let weights = filled(5 * 2 * 3, 3);
        let (hs, tape) = lstm_forward(&xw, &w, d);
        let (dxw, dw) = lstm_backward(&w, &hs, &weights, &tape, d);
        let h = 1e-2f32;
        let check = |grad: &[f32], which: usize| {
            for (k, g) in grad.iter().enumerate() {
                let (mut up, mut down) = if which == 0 {
                    (xw.clone(), xw.clone())
                } else {
                    (w.clone(), w.clone())
                };
                up[k] += h;
                down[k] -= h;
                let (lu, ld) = if which == 0 {
                    (loss(&up, &w, &weights, d), loss(&down, &w, &weights, d))
                } else {
                    (loss(&xw, &up, &weights, d), loss(&xw, &down, &weights, d))
                };
                let fd = (lu - ld) / (2.0 * h as f64);
                assert!(
                    (*g as f64 - fd).abs() < 2e-3 * (1.0 + fd.abs()),
                    "{} {k}: {g} vs {fd}",
                    ["xw", "w_hh"][which]
                );
            }
        };
        check(&dxw, 0);
        check(&dw, 1);
        assert!(dw.iter().map(|v| v.abs()).sum::<f32>() > 0.1);
    }
}
