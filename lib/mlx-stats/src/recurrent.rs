//! An LSTM layer's recurrence over a whole sequence, forward and backward
//! (backpropagation through time), on plain row-major `f32` slices: the kernel of the
//! candle backend's LSTM (mlx-core's `neural::lstm` runs it over chunks of a batch and
//! hands candle the last hidden states and back their gradient).
//!
//! The equations and gate order are PyTorch's `nn.LSTM`:
//! `z = x W_ihᵀ + b + h W_hhᵀ`, `i, f, g, o = σ(z_i), σ(z_f), tanh(z_g), σ(z_o)`,
//! `c' = f c + i g`, `h' = o tanh(c')`, from zero states. A row-major `rows × cols`
//! slice is read as the column-major `cols × rows` matrix, its transpose, so each
//! product below is a strided view, not a copy (see [`product`]).

use nalgebra::{DMatrixViewMut, Dyn, MatrixView};
use pulp::{Simd, WithSimd};

/// A matrix over a slice with any strides.
type View<'a> = MatrixView<'a, f32, Dyn, Dyn, Dyn, Dyn>;

/// One layer's weights, row-major as PyTorch's `nn.LSTM` keeps them.
#[derive(Debug, Clone, Copy)]
pub struct Layer<'a> {
    /// `weight_ih`, `4·units × inputs`.
    pub w_ih: &'a [f32],
    /// `weight_hh`, `4·units × units`.
    pub w_hh: &'a [f32],
    /// `bias_ih + bias_hh`, `4·units`.
    pub bias: &'a [f32],
    /// Inputs per step.
    pub inputs: usize,
    /// Hidden units.
    pub units: usize,
}

/// A layer's pass over a batch: the hidden states at every step, step-major
/// (`steps × batch × units`), and what the backward pass needs: every step's gates after
/// their activations (`steps × batch × 4·units`), cell states and their tanh.
#[derive(Debug, Clone, PartialEq)]
pub struct Pass {
    /// Steps of the sequence.
    pub steps: usize,
    /// Rows of the batch.
    pub batch: usize,
    /// The hidden states, `steps × batch × units`.
    pub hs: Vec<f32>,
    gates: Vec<f32>,
    cells: Vec<f32>,
    tanh_cells: Vec<f32>,
}

/// The gradients of a layer's weights and, where asked, of its inputs.
#[derive(Debug, Clone, PartialEq)]
pub struct Grads {
    /// Of `weight_ih`.
    pub w_ih: Vec<f32>,
    /// Of `weight_hh`.
    pub w_hh: Vec<f32>,
    /// Of each bias (`bias_ih` and `bias_hh` have the same gradient).
    pub bias: Vec<f32>,
    /// Of the inputs, step-major like them.
    pub x: Option<Vec<f32>>,
}

/// `eˣ` for `f32`, to within 2 units in the last place, written so that a loop over a
/// slice compiles to vector instructions (the library's `exp` is a call per element,
/// which set the layer's speed): `eˣ = 2ⁿ eʳ` with `n = round(x / ln 2)` and
/// `|r| ≤ ln 2 / 2`, `eʳ` by its Taylor series to `r⁷` (remainder below 3e-9), and `2ⁿ`
/// written into the exponent bits.
#[inline(always)]
fn exp(x: f32) -> f32 {
    // Rounded to the nearest integer by adding and taking away 1.5·2²³ (exact for
    // |x / ln 2| < 2²²): `f32::round` is a call into libm, which no loop vectorises.
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 88.0);
    let shifted = x * std::f32::consts::LOG2_E + ROUND;
    let n = shifted - ROUND;
    // ln 2 in two parts, so that `n ln 2` is subtracted without rounding error.
    let r = (x - n * 0.693_145_75) - n * 1.428_606_8e-6;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0
                    + r * (1.0 / 24.0
                        + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r * (1.0 / 5040.0)))))));
    // n sits in the low bits of `shifted`; taken from there rather than by `n as i32`,
    // whose saturating conversion does not vectorise.
    let biased = shifted
        .to_bits()
        .wrapping_sub(ROUND.to_bits())
        .wrapping_add(127);
    p * f32::from_bits(biased << 23)
}

#[inline(always)]
fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

/// `tanh x = 1 − 2 / (e²ˣ + 1)`: within 2e-7 of the true value everywhere.
#[inline(always)]
fn tanh(x: f32) -> f32 {
    1.0 - 2.0 / (exp(2.0 * x) + 1.0)
}

/// A row-major `rows × cols` slice as the matrix it is (nalgebra is column-major, so
/// this is a strided view, not a copy).
fn rows(data: &[f32], rows: usize, cols: usize) -> View<'_> {
    View::from_slice_with_strides_generic(data, Dyn(rows), Dyn(cols), Dyn(cols), Dyn(1))
}

/// A row-major `rows × cols` slice read as its transpose, `cols × rows`.
fn transposed(data: &[f32], rows: usize, cols: usize) -> View<'_> {
    View::from_slice_with_strides_generic(data, Dyn(cols), Dyn(rows), Dyn(1), Dyn(cols))
}

/// `dst = a b + beta dst`, where `dst` is a column-major slice. Products whose sides are
/// all larger than 5 go to nalgebra's `gemm` (matrixmultiply, any strides). Smaller
/// ones (a network of a few units) are summed here, a column of `a` times an entry of
/// `b` at a time: nalgebra's own loop for them misreads views whose rows are not
/// adjacent.
fn product(dst: &mut [f32], a: &View, b: &View, beta: f32) {
    let (m, k, n) = (a.nrows(), a.ncols(), b.ncols());
    assert_eq!((b.nrows(), dst.len()), (k, m * n), "product shapes");
    if m > 5 && k > 5 && n > 5 {
        DMatrixViewMut::from_slice(dst, m, n).gemm(1.0, a, b, beta);
        return;
    }
    if beta == 0.0 {
        dst.fill(0.0);
    } else {
        dst.iter_mut().for_each(|d| *d *= beta);
    }
    // Both sides' columns one after another.
    let (a, b): (Vec<f32>, Vec<f32>) = (a.iter().copied().collect(), b.iter().copied().collect());
    for (col, bj) in dst.chunks_exact_mut(m).zip(b.chunks_exact(k)) {
        for (aq, s) in a.chunks_exact(m).zip(bj) {
            col.iter_mut().zip(aq).for_each(|(d, a)| *d += a * s);
        }
    }
}

/// A forward pass to compile for the processor's vector instructions (`pulp` inlines
/// `with_simd` into a function built for them; a closure is not inlined there).
struct Forward<'a> {
    layer: &'a Layer<'a>,
    x: &'a [f32],
    steps: usize,
    batch: usize,
}

impl WithSimd for Forward<'_> {
    type Output = Pass;

    #[inline(always)]
    fn with_simd<S: Simd>(self, _: S) -> Pass {
        self.layer.forward_here(self.x, self.steps, self.batch)
    }
}

/// The same for a backward pass.
struct Backward<'a> {
    layer: &'a Layer<'a>,
    x: &'a [f32],
    pass: &'a Pass,
    dhs: &'a [f32],
    want_x: bool,
}

impl WithSimd for Backward<'_> {
    type Output = Grads;

    #[inline(always)]
    fn with_simd<S: Simd>(self, _: S) -> Grads {
        self.layer
            .backward_here(self.x, self.pass, self.dhs, self.want_x)
    }
}

impl Layer<'_> {
    /// The pass over `x`, the inputs of every step, step-major (`steps × batch ×
    /// inputs`), from zero states.
    pub fn forward(&self, x: &[f32], steps: usize, batch: usize) -> Pass {
        // The loops are compiled for the widest vector instructions the processor has
        // (AVX2 where there is one), chosen when they run. No multiply is fused with an
        // add, so the values are the same on every processor.
        pulp::Arch::new().dispatch(Forward {
            layer: self,
            x,
            steps,
            batch,
        })
    }

    #[inline(always)]
    fn forward_here(&self, x: &[f32], steps: usize, batch: usize) -> Pass {
        let (u, c) = (self.units, self.inputs);
        let n = steps * batch;
        assert_eq!(x.len(), n * c, "inputs");
        assert_eq!(self.w_ih.len(), 4 * u * c, "input weights");
        assert_eq!(self.w_hh.len(), 4 * u * u, "recurrent weights");
        assert_eq!(self.bias.len(), 4 * u, "bias");
        // Every step's input projection in one product. Row (t, b) of the gates is
        // x_{t,b} W_ihᵀ + b; read column-major, the gates are W_ih Xᵀ.
        let mut gates = vec![0f32; n * 4 * u];
        product(
            &mut gates,
            &rows(self.w_ih, 4 * u, c),
            &transposed(x, n, c),
            0.0,
        );
        for row in gates.chunks_exact_mut(4 * u) {
            row.iter_mut().zip(self.bias).for_each(|(v, b)| *v += b);
        }
        let w_hh = rows(self.w_hh, 4 * u, u);
        let mut hs = vec![0f32; n * u];
        let mut cells = vec![0f32; n * u];
        let mut tanh_cells = vec![0f32; n * u];
        let step = batch * u;
        for t in 0..steps {
            let z = &mut gates[t * batch * 4 * u..(t + 1) * batch * 4 * u];
            if t > 0 {
                // + h_{t−1} W_hhᵀ for every row at once.
                let h = transposed(&hs[(t - 1) * step..t * step], batch, u);
                product(z, &w_hh, &h, 1.0);
            }
            let (before, now) = cells.split_at_mut(t * step);
            let before = if t == 0 {
                None
            } else {
                Some(&before[(t - 1) * step..])
            };
            let now = &mut now[..step];
            let tc = &mut tanh_cells[t * step..(t + 1) * step];
            let h = &mut hs[t * step..(t + 1) * step];
            for b in 0..batch {
                let g = &mut z[b * 4 * u..(b + 1) * 4 * u];
                // Each gate's activation over its own slice, so that the loops vectorise.
                let (ifg, o) = g.split_at_mut(3 * u);
                let (i_f, cand) = ifg.split_at_mut(2 * u);
                i_f.iter_mut()
                    .chain(o.iter_mut())
                    .for_each(|v| *v = sigmoid(*v));
                cand.iter_mut().for_each(|v| *v = tanh(*v));
                let (i, f) = i_f.split_at(u);
                let r = b * u..(b + 1) * u;
                let c = &mut now[r.clone()];
                match before {
                    Some(prev) => {
                        for (k, c) in c.iter_mut().enumerate() {
                            *c = f[k] * prev[b * u + k] + i[k] * cand[k];
                        }
                    }
                    None => c
                        .iter_mut()
                        .zip(i.iter().zip(cand.iter()))
                        .for_each(|(c, (i, g))| *c = i * g),
                }
                let (tc, h) = (&mut tc[r.clone()], &mut h[r]);
                for k in 0..u {
                    tc[k] = tanh(c[k]);
                    h[k] = o[k] * tc[k];
                }
            }
        }
        Pass {
            steps,
            batch,
            hs,
            gates,
            cells,
            tanh_cells,
        }
    }

    /// Backpropagation through time: the gradients from `dhs`, the gradient of every
    /// hidden state of `pass` (`steps × batch × units`), where `x` is the pass's input;
    /// the inputs' gradient only when `want_x`.
    pub fn backward(&self, x: &[f32], pass: &Pass, dhs: &[f32], want_x: bool) -> Grads {
        pulp::Arch::new().dispatch(Backward {
            layer: self,
            x,
            pass,
            dhs,
            want_x,
        })
    }

    #[inline(always)]
    fn backward_here(&self, x: &[f32], pass: &Pass, dhs: &[f32], want_x: bool) -> Grads {
        let (u, c) = (self.units, self.inputs);
        let Pass {
            steps,
            batch,
            ref hs,
            ref gates,
            ref cells,
            ref tanh_cells,
        } = *pass;
        let n = steps * batch;
        assert_eq!(dhs.len(), n * u, "hidden-state gradients");
        let step = batch * u;
        let mut dz = vec![0f32; n * 4 * u];
        let mut dh_next = vec![0f32; step];
        let mut dc_next = vec![0f32; step];
        for t in (0..steps).rev() {
            let dzt = &mut dz[t * batch * 4 * u..(t + 1) * batch * 4 * u];
            for b in 0..batch {
                let at = (t * batch + b) * 4 * u;
                let g = &gates[at..at + 4 * u];
                let (i, rest) = g.split_at(u);
                let (f, rest) = rest.split_at(u);
                let (gg, o) = rest.split_at(u);
                let cell = t * step + b * u;
                let dst = &mut dzt[b * 4 * u..(b + 1) * 4 * u];
                let (di, rest) = dst.split_at_mut(u);
                let (df, rest) = rest.split_at_mut(u);
                let (dg, d_o) = rest.split_at_mut(u);
                let dcn = &mut dc_next[b * u..(b + 1) * u];
                let dhn = &dh_next[b * u..(b + 1) * u];
                let dh_out = &dhs[cell..cell + u];
                let tc = &tanh_cells[cell..cell + u];
                for k in 0..u {
                    let dh = dh_out[k] + dhn[k];
                    let dc = dcn[k] + dh * o[k] * (1.0 - tc[k] * tc[k]);
                    let before = if t == 0 { 0.0 } else { cells[cell - step + k] };
                    dcn[k] = dc * f[k];
                    di[k] = dc * gg[k] * i[k] * (1.0 - i[k]);
                    df[k] = dc * before * f[k] * (1.0 - f[k]);
                    dg[k] = dc * i[k] * (1.0 - gg[k] * gg[k]);
                    d_o[k] = dh * tc[k] * o[k] * (1.0 - o[k]);
                }
            }
            if t > 0 {
                // dh_{t−1} = dz_t W_hh for every row at once.
                product(
                    &mut dh_next,
                    &transposed(self.w_hh, 4 * u, u),
                    &transposed(dzt, batch, 4 * u),
                    0.0,
                );
            }
        }
        // dW_hh = Σ_t dz_tᵀ h_{t−1} over the steps after the first (h_{−1} = 0), one
        // product; read column-major, dW_hhᵀ = H_prevᵀ DZ.
        let mut w_hh = vec![0f32; 4 * u * u];
        if steps > 1 {
            let later = (steps - 1) * batch;
            product(
                &mut w_hh,
                &transposed(&hs[..later * u], later, u),
                &rows(&dz[batch * 4 * u..], later, 4 * u),
                0.0,
            );
        }
        // dW_ih = DZᵀ X; column-major, dW_ihᵀ = Xᵀ DZ.
        let mut w_ih = vec![0f32; 4 * u * c];
        if c > 5 {
            product(&mut w_ih, &transposed(x, n, c), &rows(&dz, n, 4 * u), 0.0);
        } else {
            // A few inputs: each row's gate gradients times its inputs, summed into the
            // rows of dW_ihᵀ, then turned round.
            let mut wt = vec![0f32; c * 4 * u];
            for (dzr, xr) in dz.chunks_exact(4 * u).zip(x.chunks_exact(c)) {
                for (row, s) in wt.chunks_exact_mut(4 * u).zip(xr) {
                    row.iter_mut().zip(dzr).for_each(|(w, d)| *w += d * s);
                }
            }
            for (q, row) in wt.chunks_exact(4 * u).enumerate() {
                for (g, v) in row.iter().enumerate() {
                    w_ih[g * c + q] = *v;
                }
            }
        }
        let mut bias = vec![0f32; 4 * u];
        for row in dz.chunks_exact(4 * u) {
            bias.iter_mut().zip(row).for_each(|(s, v)| *s += v);
        }
        // dX = DZ W_ih; column-major, dXᵀ = W_ihᵀ DZᵀ.
        let x = want_x.then(|| {
            let mut dx = vec![0f32; n * c];
            product(
                &mut dx,
                &transposed(self.w_ih, 4 * u, c),
                &transposed(&dz, n, 4 * u),
                0.0,
            );
            dx
        });
        Grads {
            w_ih,
            w_hh,
            bias,
            x,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filled(n: usize, seed: usize) -> Vec<f32> {
        (0..n)
            .map(|i| (((i * 7919 + seed * 104_729) % 1000) as f32 / 500.0 - 1.0) * 0.8)
            .collect()
    }

    /// A layer's weights as owned vectors, to perturb one at a time.
    #[derive(Clone)]
    struct Owned {
        w_ih: Vec<f32>,
        w_hh: Vec<f32>,
        bias: Vec<f32>,
        inputs: usize,
        units: usize,
    }

    impl Owned {
        fn layer(&self) -> Layer<'_> {
            Layer {
                w_ih: &self.w_ih,
                w_hh: &self.w_hh,
                bias: &self.bias,
                inputs: self.inputs,
                units: self.units,
            }
        }
    }

    /// Moves entry `k` of a weight or an input by `d`.
    type Perturb = dyn Fn(&mut Owned, &mut Vec<f32>, usize, f32);

    /// `Σ hs · weights` as a function of the weights and inputs, in f64 for the
    /// differences.
    fn loss(w: &Owned, x: &[f32], weights: &[f32], steps: usize, batch: usize) -> f64 {
        let pass = w.layer().forward(x, steps, batch);
        pass.hs
            .iter()
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
    fn two_steps_by_hand() {
        // One unit, one row, one input: z = x w_ih + b + h w_hh.
        let w = Owned {
            w_ih: vec![1.0, 2.0, -1.0, 0.5],
            w_hh: vec![0.3, -0.2, 0.1, 0.4],
            bias: vec![0.1, 0.0, 0.2, -0.1],
            inputs: 1,
            units: 1,
        };
        let pass = w.layer().forward(&[0.5, -1.0], 2, 1);
        let s = |x: f64| 1.0 / (1.0 + (-x).exp());
        let (mut h, mut c) = (0f64, 0f64);
        for x in [0.5f64, -1.0] {
            let z: Vec<f64> = (0..4)
                .map(|q| x * w.w_ih[q] as f64 + w.bias[q] as f64 + h * w.w_hh[q] as f64)
                .collect();
            c = s(z[1]) * c + s(z[0]) * z[2].tanh();
            h = s(z[3]) * c.tanh();
        }
        assert!(
            (pass.hs[1] as f64 - h).abs() < 1e-6,
            "{} vs {h}",
            pass.hs[1]
        );
    }

    #[test]
    fn gradients_agree_with_finite_differences() {
        // Sides above 5 go to matrixmultiply, smaller ones to `product`'s own loops.
        gradients_at(5, 7, 3, 6);
        gradients_at(4, 6, 2, 3);
    }

    fn gradients_at(steps: usize, batch: usize, inputs: usize, units: usize) {
        let w = Owned {
            w_ih: filled(4 * units * inputs, 1),
            w_hh: filled(4 * units * units, 2),
            bias: filled(4 * units, 3),
            inputs,
            units,
        };
        let x = filled(steps * batch * inputs, 4);
        let weights = filled(steps * batch * units, 5);
        let pass = w.layer().forward(&x, steps, batch);
        let g = w.layer().backward(&x, &pass, &weights, true);
        let h = 1e-2f32;
        let check = |grad: &[f32], name: &str, perturb: &Perturb| {
            for (k, gk) in grad.iter().enumerate() {
                let (mut wu, mut xu, mut wd, mut xd) = (w.clone(), x.clone(), w.clone(), x.clone());
                perturb(&mut wu, &mut xu, k, h);
                perturb(&mut wd, &mut xd, k, -h);
                let fd = (loss(&wu, &xu, &weights, steps, batch)
                    - loss(&wd, &xd, &weights, steps, batch))
                    / (2.0 * h as f64);
                assert!(
                    (*gk as f64 - fd).abs() < 2e-3 * (1.0 + fd.abs()),
                    "{name} {k}: {gk} vs {fd}"
                );
            }
            assert!(grad.iter().map(|v| v.abs()).sum::<f32>() > 0.1, "{name}");
        };
        check(&g.w_ih, "w_ih", &|w, _, k, d| w.w_ih[k] += d);
        check(&g.w_hh, "w_hh", &|w, _, k, d| w.w_hh[k] += d);
        check(&g.bias, "bias", &|w, _, k, d| w.bias[k] += d);
        check(g.x.as_deref().unwrap(), "x", &|_, x, k, d| x[k] += d);
        assert!(w.layer().backward(&x, &pass, &weights, false).x.is_none());
    }
}
