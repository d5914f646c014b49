//! The LSTM layers of the candle backend, forward and backward by hand: the recurrence
//! is mlx-stats' kernel (`mlx_stats::recurrent`), and the batch is cut into chunks of
//! [`CHUNK`] rows that run on the cores side by side (the rows of a batch are
//! independent until their gradients are summed). The output layer and the loss stay
//! candle's: the stack hands it the last step's hidden states as a variable, and takes
//! back their gradient.
//!
//! Built from candle's separate operations, each step was about forty of them forward and
//! as many backward; as one candle operation per layer, the graph around it still took
//! two thirds of a training step. The chunks have a fixed size, so the gradients are
//! summed in the same order whatever the number of cores: a seed repeats a run anywhere.

use candle_core::backprop::GradStore;
use candle_core::{Tensor, Var};
use mlx_stats::recurrent::{Grads, Layer, Pass};
use rayon::prelude::*;

use super::{get, Weights};

/// Rows per chunk of a batch.
pub const CHUNK: usize = 32;

/// One layer's weights, off the tensors.
struct Owned {
    w_ih: Vec<f32>,
    w_hh: Vec<f32>,
    bias: Vec<f32>,
    inputs: usize,
}

/// The stacked layers of a network and the shape of its sequences.
pub(super) struct Stack {
    layers: Vec<Owned>,
    units: usize,
    steps: usize,
}

/// One chunk's passes, and each layer's input (step-major), for the backward pass.
struct Chunk {
    inputs: Vec<Vec<f32>>,
    passes: Vec<Pass>,
}

impl Chunk {
    fn rows(&self) -> usize {
        self.passes[0].batch
    }
}

/// What a training batch's backward pass needs: the stack, every chunk's passes, the
/// dropout masks between layers and the variable that holds the last hidden states.
pub(super) struct Trace {
    stack: Stack,
    chunks: Vec<Chunk>,
    masks: Vec<Option<Vec<f32>>>,
    /// The last step's hidden states, `rows × units`, as the output layer reads them.
    pub last: Var,
}

fn host(t: &Tensor) -> candle_core::Result<Vec<f32>> {
    t.flatten_all()?.to_vec1::<f32>()
}

impl Owned {
    fn layer(&self, units: usize) -> Layer<'_> {
        Layer {
            w_ih: &self.w_ih,
            w_hh: &self.w_hh,
            bias: &self.bias,
            inputs: self.inputs,
            units,
        }
    }
}

impl Stack {
    /// The layers `lstm.{l}.*` of `w`, reading sequences of `steps` steps of `channels`.
    pub fn new(
        w: &Weights,
        layers: usize,
        units: usize,
        steps: usize,
        channels: usize,
    ) -> candle_core::Result<Self> {
        if layers == 0 || units == 0 || steps == 0 || channels == 0 {
            return Err(candle_core::Error::Msg(format!(
                "the model file's LSTM has {layers} layers of {units} units over {steps} \
                 steps of {channels} inputs; each must be at least 1 (retrain the model)"
            )));
        }
        let layers = (0..layers)
            .map(|l| {
                let inputs = if l == 0 { channels } else { units };
                let at = |n: &str, len: usize| {
                    let v = get(w, &format!("lstm.{l}.{n}")).and_then(host)?;
                    if v.len() != len {
                        return Err(candle_core::Error::Msg(format!(
                            "the model file's weight `lstm.{l}.{n}` has {} values where \
                             {units} units of {inputs} inputs take {len} (retrain the model)",
                            v.len()
                        )));
                    }
                    Ok(v)
                };
                let bias = at("b_ih", 4 * units)?
                    .iter()
                    .zip(at("b_hh", 4 * units)?)
                    .map(|(a, b)| a + b)
                    .collect();
                Ok(Owned {
                    w_ih: at("w_ih", 4 * units * inputs)?,
                    w_hh: at("w_hh", 4 * units * units)?,
                    bias,
                    inputs,
                })
            })
            .collect::<candle_core::Result<_>>()?;
        Ok(Self {
            layers,
            units,
            steps,
        })
    }

    /// The last step's hidden states (`rows × units`) for `x`, `rows` sequences row
    /// after row (`rows × steps × channels`), with `masks[l]` (`rows × steps × units`)
    /// applied to the output of layer `l` where given; and each chunk's passes when
    /// `keep`.
    fn run(&self, x: &[f32], masks: &[Option<Vec<f32>>], keep: bool) -> (Vec<f32>, Vec<Chunk>) {
        let per_row = self.steps * self.layers[0].inputs;
        let rows = x.len() / per_row;
        let done: Vec<(Vec<f32>, Option<Chunk>)> = (0..rows.div_ceil(CHUNK))
            .into_par_iter()
            .map(|k| {
                let (from, to) = (k * CHUNK, ((k + 1) * CHUNK).min(rows));
                let (last, chunk) = self.chunk(&x[from * per_row..to * per_row], from, to, masks);
                (last, keep.then_some(chunk))
            })
            .collect();
        let mut last = Vec::with_capacity(rows * self.units);
        let mut chunks = Vec::new();
        for (l, c) in done {
            last.extend(l);
            chunks.extend(c);
        }
        (last, chunks)
    }

    /// One chunk of rows `from..to`, its inputs `x` row after row.
    fn chunk(
        &self,
        x: &[f32],
        from: usize,
        to: usize,
        masks: &[Option<Vec<f32>>],
    ) -> (Vec<f32>, Chunk) {
        let (rows, steps, u) = (to - from, self.steps, self.units);
        let mut input = step_major(x, rows, steps);
        let mut inputs = Vec::with_capacity(self.layers.len());
        let mut passes = Vec::with_capacity(self.layers.len());
        let below_top = self.layers.len() - 1;
        for (l, layer) in self.layers.iter().enumerate() {
            let pass = layer.layer(u).forward(&input, steps, rows);
            // The next layer's input: this one's states, with dropout between them.
            let next = if l < below_top {
                let mut next = pass.hs.clone();
                if let Some(Some(mask)) = masks.get(l) {
                    scale(
                        &mut next,
                        &mask[from * steps * u..to * steps * u],
                        rows,
                        steps,
                    );
                }
                next
            } else {
                Vec::new()
            };
            inputs.push(std::mem::replace(&mut input, next));
            passes.push(pass);
        }
        let last = passes.last().expect("at least one layer").hs[(steps - 1) * rows * u..].to_vec();
        (last, Chunk { inputs, passes })
    }

    /// The last hidden states for `x` (`rows × steps × channels`), with the dropout
    /// masks between layers.
    pub fn last_states(&self, x: &[f32], masks: &[Option<Vec<f32>>]) -> Vec<f32> {
        self.run(x, masks, false).0
    }

    /// The same for a training batch, with the dropout masks between layers, kept for
    /// the backward pass.
    pub fn traced(self, x: &[f32], masks: Vec<Option<Vec<f32>>>) -> candle_core::Result<Trace> {
        let (last, chunks) = self.run(x, &masks, true);
        let rows = chunks.iter().map(Chunk::rows).sum::<usize>();
        let last = Var::from_vec(last, (rows, self.units), &candle_core::Device::Cpu)?;
        Ok(Trace {
            stack: self,
            chunks,
            masks,
            last,
        })
    }
}

/// Rows of `steps` steps, row after row, to steps of rows, step after step.
fn step_major(x: &[f32], rows: usize, steps: usize) -> Vec<f32> {
    let width = x.len() / (rows * steps);
    let mut out = vec![0f32; x.len()];
    for b in 0..rows {
        for t in 0..steps {
            let from = (b * steps + t) * width;
            let to = (t * rows + b) * width;
            out[to..to + width].copy_from_slice(&x[from..from + width]);
        }
    }
    out
}

/// Multiplies step-major values (`steps × rows × units`) by a row-major mask
/// (`rows × steps × units`).
fn scale(values: &mut [f32], mask: &[f32], rows: usize, steps: usize) {
    let u = values.len() / (rows * steps);
    for b in 0..rows {
        for t in 0..steps {
            let v = &mut values[(t * rows + b) * u..(t * rows + b + 1) * u];
            let m = &mask[(b * steps + t) * u..(b * steps + t + 1) * u];
            v.iter_mut().zip(m).for_each(|(v, m)| *v *= m);
        }
    }
}

impl Trace {
    /// Backpropagates the gradient that candle's backward pass left on [`Trace::last`]
    /// through the layers, and puts each weight's gradient into `grads` under the
    /// variable `var(name)` names.
    pub fn backward<'a>(
        self,
        grads: &mut GradStore,
        var: impl Fn(&str) -> Option<&'a Var>,
    ) -> candle_core::Result<()> {
        let Some(d_last) = grads.remove(self.last.as_tensor()) else {
            return Ok(());
        };
        let d_last = host(&d_last)?;
        let (stack, u, steps) = (&self.stack, self.stack.units, self.stack.steps);
        let per_chunk: Vec<Vec<Grads>> = self
            .chunks
            .par_iter()
            .enumerate()
            .map(|(k, c)| {
                let (from, rows) = (k * CHUNK, c.rows());
                let mut dhs = vec![0f32; steps * rows * u];
                dhs[(steps - 1) * rows * u..].copy_from_slice(&d_last[from * u..(from + rows) * u]);
                let mut out = Vec::with_capacity(stack.layers.len());
                for (l, layer) in stack.layers.iter().enumerate().rev() {
                    let mut g = layer
                        .layer(u)
                        .backward(&c.inputs[l], &c.passes[l], &dhs, l > 0);
                    if let Some(dx) = g.x.take() {
                        dhs = dx;
                        if let Some(Some(mask)) = self.masks.get(l - 1) {
                            let m = &mask[from * steps * u..(from + rows) * steps * u];
                            scale(&mut dhs, m, rows, steps);
                        }
                    }
                    out.push(g);
                }
                out.reverse();
                out
            })
            .collect();
        // The chunks' gradients summed in chunk order, onto the first chunk's.
        let mut chunks = per_chunk.into_iter();
        let Some(mut sums) = chunks.next() else {
            return Ok(());
        };
        for chunk in chunks {
            for (sum, g) in sums.iter_mut().zip(chunk) {
                for (s, v) in [
                    (&mut sum.w_ih, g.w_ih),
                    (&mut sum.w_hh, g.w_hh),
                    (&mut sum.bias, g.bias),
                ] {
                    s.iter_mut().zip(v).for_each(|(s, v)| *s += v);
                }
            }
        }
        for (l, sum) in sums.into_iter().enumerate() {
            for (name, values) in [
                ("w_ih", sum.w_ih),
                ("w_hh", sum.w_hh),
                ("b_ih", sum.bias.clone()),
                ("b_hh", sum.bias),
            ] {
                if let Some(v) = var(&format!("lstm.{l}.{name}")) {
                    let t = Tensor::from_vec(values, v.shape(), v.device())?;
                    grads.insert(v.as_tensor(), t);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::neural::loss::sigmoid;
    use candle_core::{DType, Device, IndexOp};

    /// The same stack from candle's separate operations, differentiated by candle.
    fn composed(
        x: &Tensor,
        w: &Weights,
        (layers, units, steps): (usize, usize, usize),
        masks: &[Option<Vec<f32>>],
    ) -> candle_core::Result<Tensor> {
        let rows = x.dim(0)?;
        let mut seq = x.reshape((rows, steps, ()))?;
        let mut h = Tensor::zeros((rows, units), x.dtype(), x.device())?;
        for l in 0..layers {
            let at = |n: &str| get(w, &format!("lstm.{l}.{n}")).cloned();
            let (w_ih, w_hh) = (at("w_ih")?.t()?, at("w_hh")?.t()?);
            let bias = (at("b_ih")? + at("b_hh")?)?;
            h = Tensor::zeros((rows, units), x.dtype(), x.device())?;
            let mut c = h.clone();
            let mut out = Vec::new();
            for t in 0..steps {
                let z = seq
                    .i((.., t, ..))?
                    .matmul(&w_ih)?
                    .broadcast_add(&bias)?
                    .add(&h.matmul(&w_hh)?)?;
                let gate = |k: usize| z.narrow(1, k * units, units);
                let (i, f) = (sigmoid(&gate(0)?)?, sigmoid(&gate(1)?)?);
                let (g, o) = (gate(2)?.tanh()?, sigmoid(&gate(3)?)?);
                c = ((f * &c)? + (i * g)?)?;
                h = (o * c.tanh()?)?;
                out.push(h.clone());
            }
            seq = Tensor::stack(&out, 1)?;
            if let Some(Some(m)) = masks.get(l) {
                seq = (seq * Tensor::from_slice(m, (rows, steps, units), x.device())?)?;
            }
        }
        Ok(h)
    }

    fn filled(n: usize, seed: usize) -> Vec<f32> {
        (0..n)
            .map(|i| (((i * 7919 + seed * 104_729) % 1000) as f32 / 500.0 - 1.0) * 0.8)
            .collect()
    }

    fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
        (a - b)
            .and_then(|d| d.abs()?.flatten_all()?.max(0)?.to_scalar::<f32>())
            .unwrap()
    }

    /// The gradients of `Σ last · k` for a stack of two layers over `rows` rows.
    fn gradients(rows: usize) -> Vec<Vec<f32>> {
        let (units, steps, channels) = (4, 3, 2);
        let dev = &Device::Cpu;
        let vars: Vec<(String, Var)> = (0..2)
            .flat_map(|l| {
                let inputs = if l == 0 { channels } else { units };
                [
                    ("w_ih", 4 * units * inputs),
                    ("w_hh", 4 * units * units),
                    ("b_ih", 4 * units),
                    ("b_hh", 4 * units),
                ]
                .into_iter()
                .enumerate()
                .map(move |(k, (n, len))| {
                    let v = Var::from_vec(filled(len, 10 * l + k), len, dev).unwrap();
                    (format!("lstm.{l}.{n}"), v)
                })
            })
            .collect();
        let w: Weights = vars
            .iter()
            .map(|(n, v)| (n.clone(), v.as_tensor().clone()))
            .collect();
        let x = filled(rows * steps * channels, 7);
        let k = Tensor::from_vec(filled(rows * units, 8), (rows, units), dev).unwrap();
        let stack = Stack::new(&w, 2, units, steps, channels).unwrap();
        let trace = stack.traced(&x, vec![None]).unwrap();
        let mut grads = (trace.last.as_tensor() * &k)
            .and_then(|t| t.sum_all()?.backward())
            .unwrap();
        trace
            .backward(&mut grads, |name| {
                vars.iter().find(|(n, _)| n == name).map(|(_, v)| v)
            })
            .unwrap();
        vars.iter()
            .map(|(_, v)| host(&grads.remove(v.as_tensor()).unwrap()).unwrap())
            .collect()
    }

    #[test]
    fn the_gradients_do_not_depend_on_the_number_of_cores() {
        let on = |threads: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| gradients(3 * CHUNK + 5))
        };
        // Bit for bit: the chunks' sums are added in the same order.
        assert_eq!(on(1), on(3));
    }

    #[test]
    fn a_damaged_model_file_is_an_error_not_a_panic() {
        let dev = &Device::Cpu;
        let mut w = Weights::new();
        for (n, len) in [
            ("w_ih", 4 * 2 * 3),
            ("w_hh", 4 * 2 * 2),
            ("b_ih", 8),
            ("b_hh", 8),
        ] {
            w.insert(
                format!("lstm.0.{n}"),
                Tensor::zeros(len, DType::F32, dev).unwrap(),
            );
        }
        assert!(Stack::new(&w, 1, 2, 4, 3).is_ok());
        let short = Stack::new(&w, 1, 3, 4, 3).err().unwrap().to_string();
        assert!(short.contains("`lstm.0.b_ih` has 8 values"), "{short}");
        let none = Stack::new(&w, 0, 2, 4, 3).err().unwrap().to_string();
        assert!(none.contains("0 layers"), "{none}");
        let missing = Stack::new(&w, 2, 2, 4, 3).err().unwrap().to_string();
        assert!(missing.contains("lstm.1."), "{missing}");
    }

    #[test]
    fn the_stack_and_its_gradients_equal_candles_composed_recurrence() {
        // Two layers with dropout between them, and more rows than a chunk, so that the
        // chunks' gradients are summed.
        let (layers, units, steps, channels, rows) = (2, 5, 4, 3, CHUNK + 9);
        let dev = &Device::Cpu;
        let mut vars = Vec::new();
        for l in 0..layers {
            let inputs = if l == 0 { channels } else { units };
            for (k, (n, shape)) in [
                ("w_ih", vec![4 * units, inputs]),
                ("w_hh", vec![4 * units, units]),
                ("b_ih", vec![4 * units]),
                ("b_hh", vec![4 * units]),
            ]
            .into_iter()
            .enumerate()
            {
                let len = shape.iter().product();
                let v = Var::from_vec(filled(len, 10 * l + k), shape, dev).unwrap();
                vars.push((format!("lstm.{l}.{n}"), v));
            }
        }
        let w: Weights = vars
            .iter()
            .map(|(n, v)| (n.clone(), v.as_tensor().clone()))
            .collect();
        let x = filled(rows * steps * channels, 7);
        let mask: Vec<f32> = (0..rows * steps * units)
            .map(|i| if i % 3 == 0 { 0.0 } else { 1.5 })
            .collect();
        let masks = vec![Some(mask)];
        let k = Tensor::from_vec(filled(rows * units, 8), (rows, units), dev).unwrap();
        let xt = Tensor::from_slice(&x, (rows, steps * channels), dev).unwrap();
        let reference = composed(&xt, &w, (layers, units, steps), &masks).unwrap();
        let mut want = (&reference * &k)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();

        let stack = Stack::new(&w, layers, units, steps, channels).unwrap();
        assert!(
            max_diff(
                &Tensor::from_vec(stack.last_states(&x, &[]), (rows, units), dev).unwrap(),
                &composed(&xt, &w, (layers, units, steps), &[]).unwrap()
            ) < 1e-6
        );
        let trace = stack.traced(&x, masks).unwrap();
        assert!(max_diff(trace.last.as_tensor(), &reference) < 1e-6);
        let mut got = (trace.last.as_tensor() * &k)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        trace
            .backward(&mut got, |name| {
                vars.iter().find(|(n, _)| n == name).map(|(_, v)| v)
            })
            .unwrap();
        for (name, v) in &vars {
            let (g, r) = (
                got.remove(v.as_tensor()).unwrap(),
                want.remove(v.as_tensor()).unwrap(),
            );
            assert!(max_diff(&g, &r) < 1e-5, "{name}: {}", max_diff(&g, &r));
            // The gradients are not all zero: the test can fail.
            let size = r
                .abs()
                .unwrap()
                .sum_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            assert!(size > 0.01, "{name}: {size}");
        }
    }
}
