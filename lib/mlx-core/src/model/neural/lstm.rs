//! One LSTM layer over a whole sequence as a single tensor operation with its own
//! backward pass, for the candle backend: the recurrence is mlx-stats' kernel
//! (`mlx_stats::recurrent`). Built from candle's separate operations, each step was
//! about forty of them forward and as many backward, and their bookkeeping, not the
//! arithmetic, set the speed.

use std::sync::Mutex;

use candle_core::{CpuStorage, CustomOp2, Layout, Shape, Tensor};
use mlx_stats::recurrent::{lstm_backward, lstm_forward, Dims, Tape};

/// The layer's hidden states at every step, `steps × batch × units`, from the input
/// projections `xw` (`steps × batch × 4·units`: `x W_ihᵀ + b_ih + b_hh`, step-major) and
/// the recurrent weights `w_hh` (`4·units × units`), from zero initial states.
pub fn layer(xw: &Tensor, w_hh: &Tensor) -> candle_core::Result<Tensor> {
    let units = w_hh.dim(1)?;
    xw.contiguous()?.apply_op2(
        &w_hh.contiguous()?,
        Layer {
            units,
            tape: Mutex::new(None),
        },
    )
}

struct Layer {
    units: usize,
    /// The forward pass's gates and cells, for the backward pass.
    tape: Mutex<Option<Tape>>,
}

/// The values of a contiguous f32 tensor's storage.
fn values<'a>(s: &'a CpuStorage, l: &Layout) -> candle_core::Result<&'a [f32]> {
    let (start, end) = l
        .contiguous_offsets()
        .ok_or_else(|| candle_core::Error::Msg("lstm: a non-contiguous input".into()))?;
    Ok(&s.as_slice::<f32>()?[start..end])
}

fn host(t: &Tensor) -> candle_core::Result<Vec<f32>> {
    t.flatten_all()?.to_vec1::<f32>()
}

impl CustomOp2 for Layer {
    fn name(&self) -> &'static str {
        "lstm-layer"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (steps, batch, four) = l1.shape().dims3()?;
        let u = self.units;
        if four != 4 * u || l2.shape().dims2()? != (4 * u, u) {
            return Err(candle_core::Error::Msg(format!(
                "lstm: projections of width {four} and recurrent weights {:?} for {u} units",
                l2.shape()
            )));
        }
        let d = Dims {
            steps,
            batch,
            units: u,
        };
        let (hs, tape) = lstm_forward(values(s1, l1)?, values(s2, l2)?, d);
        *self.tape.lock().unwrap_or_else(|e| e.into_inner()) = Some(tape);
        Ok((CpuStorage::F32(hs), Shape::from_dims(&[steps, batch, u])))
    }

    fn bwd(
        &self,
        xw: &Tensor,
        w_hh: &Tensor,
        res: &Tensor,
        grad_res: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let (steps, batch, _) = xw.dims3()?;
        let u = self.units;
        let tape = self
            .tape
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .ok_or_else(|| candle_core::Error::Msg("lstm: backward without forward".into()))?;
        let d = Dims {
            steps,
            batch,
            units: u,
        };
        let (dxw, dw) = lstm_backward(&host(w_hh)?, &host(res)?, &host(grad_res)?, &tape, d);
        let dev = xw.device();
        Ok((
            Some(Tensor::from_vec(dxw, (steps, batch, 4 * u), dev)?),
            Some(Tensor::from_vec(dw, (4 * u, u), dev)?),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::neural::loss::sigmoid;
    use candle_core::{Device, Var};

    /// The same recurrence from candle's separate operations, differentiated by candle.
    fn composed(xw: &Tensor, w_hh: &Tensor) -> candle_core::Result<Tensor> {
        let (steps, batch, four) = xw.dims3()?;
        let u = four / 4;
        let wt = w_hh.t()?;
        let mut h = Tensor::zeros((batch, u), xw.dtype(), xw.device())?;
        let mut c = h.clone();
        let mut out = Vec::new();
        for t in 0..steps {
            let z = (xw.get(t)? + h.matmul(&wt)?)?;
            let gate = |k: usize| z.narrow(1, k * u, u);
            let (i, f) = (sigmoid(&gate(0)?)?, sigmoid(&gate(1)?)?);
            let (g, o) = (gate(2)?.tanh()?, sigmoid(&gate(3)?)?);
            c = ((f * &c)? + (i * g)?)?;
            h = (o * c.tanh()?)?;
            out.push(h.clone());
        }
        Tensor::stack(&out, 0)
    }

    fn filled(n: usize, seed: usize) -> Vec<f32> {
        (0..n)
            .map(|i| (((i * 7919 + seed * 104_729) % 1000) as f32 / 500.0 - 1.0) * 0.8)
            .collect()
    }

    fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
        (a - b)
            .unwrap()
            .abs()
            .unwrap()
            .flatten_all()
            .unwrap()
            .max(0)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
    }

    #[test]
    fn the_fused_layer_and_its_gradients_equal_the_composed_recurrence() {
        let (steps, batch, u) = (6, 3, 4);
        let dev = &Device::Cpu;
        let xw =
            Var::from_vec(filled(steps * batch * 4 * u, 1), (steps, batch, 4 * u), dev).unwrap();
        let w = Var::from_vec(filled(4 * u * u, 2), (4 * u, u), dev).unwrap();
        let weights =
            Tensor::from_vec(filled(steps * batch * u, 3), (steps, batch, u), dev).unwrap();
        let fused = layer(xw.as_tensor(), w.as_tensor()).unwrap();
        let reference = composed(xw.as_tensor(), w.as_tensor()).unwrap();
        assert!(max_diff(&fused, &reference) < 1e-6);
        let grads = |hs: &Tensor| {
            let g = (hs * &weights)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            (
                g.get(xw.as_tensor()).unwrap().clone(),
                g.get(w.as_tensor()).unwrap().clone(),
            )
        };
        let ((dx_f, dw_f), (dx_r, dw_r)) = (grads(&fused), grads(&reference));
        assert!(max_diff(&dx_f, &dx_r) < 1e-5, "{}", max_diff(&dx_f, &dx_r));
        assert!(max_diff(&dw_f, &dw_r) < 1e-5, "{}", max_diff(&dw_f, &dw_r));
        // And the gradients are not all zero: the test can fail.
        assert!(
            dw_r.abs()
                .unwrap()
                .sum_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap()
                > 0.1
        );
    }
}
