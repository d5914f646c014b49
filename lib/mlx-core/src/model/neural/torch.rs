//! The `torch` backend (`training.backend: torch`): the same networks trained by libtorch
//! through `tch`, on the CPU or a CUDA GPU. The layers are libtorch's own where it has
//! them (`conv1d`, the fused `lstm`, `layer_norm`) and its losses and optimizers are
//! PyTorch's, which the candle backend's are checked against. The trained weights go into
//! the same [`Network`], so predicting, explaining and serving need no libtorch.
//!
//! Built with the cargo feature `torch` against the libtorch of a PyTorch install
//! (`scripts/torch.sh` makes one and sets `LIBTORCH_USE_PYTORCH=1`).

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};

use mlx_contracts::config::{Loss, Optimizer as Kind};
use nalgebra::DMatrix;
use rand_pcg::Pcg64;
use tch::nn::{self, OptimizerConfig};
use tch::{Device, Reduction, Tensor};

use super::{mine, Activation, Arch, Epoch, Head, Job, Labels, Network, Weight};
use crate::error::{Error, Result};

type Weights = HashMap<String, Tensor>;

/// Makes libtorch's CUDA half known to it. Linkers drop `libtorch_cuda.so` from a
/// program that names none of its symbols, and without it libtorch sees no GPU, so it
/// is loaded by name (from beside `libtorch_cpu.so` on the library path) once.
fn load_cuda() {
    static LOADED: std::sync::Once = std::sync::Once::new();
    LOADED.call_once(|| {
        // SAFETY: loading libtorch's own CUDA library runs its static initialisers,
        // which only register CUDA with the libtorch already loaded; the library is
        // never unloaded (forgotten), so nothing it registered can dangle.
        #[allow(unsafe_code)]
        if let Ok(lib) = unsafe { libloading::Library::new("libtorch_cuda.so") } {
            std::mem::forget(lib);
        }
    });
}

/// The libtorch device that `device` (`cpu`, `cuda`, `cuda:N`, `auto`) names.
pub fn device(device: &str) -> Result<Device> {
    if device == "cpu" {
        return Ok(Device::Cpu);
    }
    load_cuda();
    let gpus = tch::Cuda::device_count().max(0) as usize;
    let index = match device {
        "auto" if gpus == 0 => return Ok(Device::Cpu),
        "auto" | "cuda" => 0,
        d => d
            .strip_prefix("cuda:")
            .and_then(|i| i.parse::<usize>().ok())
            .ok_or_else(|| {
                Error::Usage(format!(
                    "`training.device` must be cpu, cuda, cuda:N or auto, got `{d}`"
                ))
            })?,
    };
    if index >= gpus {
        return Err(Error::Runtime(format!(
            "`training.device: {device}` asks for GPU {index}, but libtorch sees {gpus} \
             (is this PyTorch a CUDA build, and is the driver loaded? `device: auto` falls \
             back to the CPU)"
        )));
    }
    Ok(Device::Cuda(index))
}

/// `x Wᵀ + b` over the last dimension.
fn linear(x: &Tensor, w: &Weights, name: &str) -> Tensor {
    x.matmul(&w[&format!("{name}.weight")].tr()) + &w[&format!("{name}.bias")]
}

fn layer_norm(x: &Tensor, w: &Weights, name: &str) -> Tensor {
    let d = x.size()[x.dim() - 1];
    x.layer_norm(
        [d],
        Some(&w[&format!("{name}.weight")]),
        Some(&w[&format!("{name}.bias")]),
        1e-5,
        false,
    )
}

/// The output layer's activations for standardised inputs `x` (`batch × inputs`, in the
/// network's reading order): the candle backend's forward pass, in libtorch.
fn forward(net: &Network, w: &Weights, x: &Tensor, train: bool) -> Tensor {
    let b = x.size()[0];
    let (length, statics) = (net.sequence_length() as i64, net.statics() as i64);
    let steps = net.window as i64;
    let channels = length / steps;
    let rate = f64::from(net.dropout);
    let seq = x.narrow(1, 0, length);
    let h = match &net.arch {
        Arch::Mlp { hidden, activation } => (0..hidden.len()).fold(seq, |h, i| {
            let z = linear(&h, w, &format!("hidden.{i}"));
            match activation {
                Activation::Relu => z.relu(),
                Activation::Tanh => z.tanh(),
                Activation::Gelu => z.gelu("none"),
            }
            .dropout(rate, train)
        }),
        Arch::Cnn1d {
            channels: sizes,
            kernel_size,
        } => {
            let h =
                (0..sizes.len()).fold(seq.view([b, steps, channels]).transpose(1, 2), |h, i| {
                    h.conv1d(
                        &w[&format!("conv.{i}.weight")],
                        Some(&w[&format!("conv.{i}.bias")]),
                        [1],
                        [(kernel_size / 2) as i64],
                        [1],
                        1,
                    )
                    .relu()
                    .dropout(rate, train)
                });
            h.flatten(1, -1)
        }
        Arch::Lstm { units, layers } => {
            let params: Vec<&Tensor> = (0..*layers)
                .flat_map(|l| ["w_ih", "w_hh", "b_ih", "b_hh"].map(|n| format!("lstm.{l}.{n}")))
                .map(|n| &w[&n])
                .collect();
            let (layers, units) = (*layers as i64, *units as i64);
            let zeros = Tensor::zeros([layers, b, units], (tch::Kind::Float, x.device()));
            let (_, last, _) = seq.view([b, steps, channels]).lstm(
                &[&zeros, &zeros],
                &params,
                true,
                layers,
                rate,
                train,
                false,
                true,
            );
            last.get(layers - 1).dropout(rate, train)
        }
        Arch::Transformer {
            d_model,
            heads,
            layers,
            ..
        } => {
            let (d, heads) = (*d_model as i64, *heads as i64);
            let dh = d / heads;
            let mut h = linear(&seq.view([b, steps, channels]), w, "embed") + &w["position"];
            let split = |t: Tensor| t.view([b, steps, heads, dh]).transpose(1, 2);
            for l in 0..*layers {
                let at = |n: &str| format!("block.{l}.{n}");
                let q = split(linear(&h, w, &at("query")));
                let k = split(linear(&h, w, &at("key")));
                let v = split(linear(&h, w, &at("value")));
                let attention = (q.matmul(&k.transpose(-2, -1)) / (dh as f64).sqrt())
                    .softmax(-1, tch::Kind::Float);
                let mixed = attention
                    .matmul(&v)
                    .transpose(1, 2)
                    .contiguous()
                    .view([b, steps, d]);
                let a = linear(&mixed, w, &at("out")).dropout(rate, train);
                h = layer_norm(&(h + a), w, &at("norm1"));
                let f =
                    linear(&linear(&h, w, &at("ff1")).relu(), w, &at("ff2")).dropout(rate, train);
                h = layer_norm(&(h + f), w, &at("norm2"));
            }
            h.mean_dim([1i64].as_slice(), false, tch::Kind::Float)
        }
    };
    let h = if statics > 0 {
        Tensor::cat(&[h, x.narrow(1, length, statics)], 1)
    } else {
        h
    };
    linear(&h, w, "out")
}

/// Every row's label on the device, in each form a loss takes.
struct DeviceLabels {
    /// Standardised values or 0/1 classes, `n × 1` floats.
    floats: Tensor,
    /// Class codes (`int64`), for the categorical losses.
    codes: Option<Tensor>,
}

impl DeviceLabels {
    fn new(labels: &Labels, dev: Device) -> Self {
        match labels {
            Labels::Values(v) => Self {
                floats: Tensor::from_slice(v).view([-1, 1]).to(dev),
                codes: None,
            },
            Labels::Classes(c) => {
                let f: Vec<f32> = c.iter().map(|&k| k as f32).collect();
                let i: Vec<i64> = c.iter().map(|&k| i64::from(k)).collect();
                Self {
                    floats: Tensor::from_slice(&f).view([-1, 1]).to(dev),
                    codes: Some(Tensor::from_slice(&i).to(dev)),
                }
            }
        }
    }

    fn rows(&self, idx: &Tensor) -> Self {
        Self {
            floats: self.floats.index_select(0, idx),
            codes: self.codes.as_ref().map(|c| c.index_select(0, idx)),
        }
    }
}

/// The loss of a batch's outputs `o`: PyTorch's own functions where it has them, and
/// the candle backend's definitions (see `loss.rs`) for focal, log-cosh and contrastive.
fn batch_loss(job: &Job, o: &Tensor, y: &DeviceLabels, host: &Labels, rng: &mut Pcg64) -> Tensor {
    let r = &job.recipe;
    let t = &y.floats;
    let binary = matches!(job.net.head, Head::Binary);
    let ones = |x: &Tensor| x.ones_like();
    match (host, r.loss) {
        (Labels::Values(_), Loss::Mae) => o.l1_loss(t, Reduction::Mean),
        (Labels::Values(_), Loss::Huber) => o.huber_loss(t, Reduction::Mean, r.huber_delta),
        (Labels::Values(_), Loss::LogCosh) => {
            let a = (o - t).abs();
            (&a + (&a * -2.0).exp().log1p() - std::f64::consts::LN_2).mean(tch::Kind::Float)
        }
        (Labels::Values(_), _) => o.mse_loss(t, Reduction::Mean),
        (Labels::Classes(codes), Loss::Contrastive | Loss::Triplet) => {
            let (a, b, n, same) = mine(codes, r.loss == Loss::Triplet, rng);
            if a.is_empty() {
                return o.sum(tch::Kind::Float) * 0.0;
            }
            let pick = |idx: &[u32]| {
                let i: Vec<i64> = idx.iter().map(|&k| i64::from(k)).collect();
                o.index_select(0, &Tensor::from_slice(&i).to(o.device()))
            };
            let (ea, eb) = (pick(&a), pick(&b));
            if r.loss == Loss::Triplet {
                Tensor::triplet_margin_loss(
                    &ea,
                    &eb,
                    &pick(&n),
                    r.margin,
                    2.0,
                    super::loss::PAIR_EPS,
                    false,
                    Reduction::Mean,
                )
            } else {
                let s = Tensor::from_slice(&same).to(o.device());
                let d = Tensor::pairwise_distance(&ea, &eb, 2.0, super::loss::PAIR_EPS, false);
                let push = (-&d + r.margin).relu().square();
                ((&s * d.square() + (ones(&s) - &s) * push) * 0.5).mean(tch::Kind::Float)
            }
        }
        (Labels::Classes(_), Loss::Focal) if binary => {
            let ce = o.binary_cross_entropy_with_logits::<Tensor>(t, None, None, Reduction::None);
            let p = o.sigmoid();
            let p_t = &p * t + (ones(&p) - &p) * (ones(t) - t);
            let mut l = ce * (ones(&p_t) - p_t).pow_tensor_scalar(r.focal.1);
            if r.focal.0 >= 0.0 {
                l *= t * r.focal.0 + (ones(t) - t) * (1.0 - r.focal.0);
            }
            l.mean(tch::Kind::Float)
        }
        (Labels::Classes(_), Loss::Focal) => {
            let codes = y.codes.as_ref().expect("classes have codes");
            let log_pt = o
                .log_softmax(-1, tch::Kind::Float)
                .gather(1, &codes.unsqueeze(1), false);
            let weight = (ones(&log_pt) - log_pt.exp()).pow_tensor_scalar(r.focal.1);
            (weight * log_pt * -r.focal.0).mean(tch::Kind::Float)
        }
        (Labels::Classes(_), _) if binary => {
            o.binary_cross_entropy_with_logits::<Tensor>(t, None, None, Reduction::Mean)
        }
        (Labels::Classes(_), _) => {
            o.cross_entropy_for_logits(y.codes.as_ref().expect("classes have codes"))
        }
    }
}

fn optimizer(job: &Job, vs: &nn::VarStore) -> std::result::Result<nn::Optimizer, tch::TchError> {
    let s = job.recipe.optimizer;
    let lr = job.recipe.learning_rate;
    match s.kind {
        Kind::Sgd => nn::Sgd {
            momentum: s.momentum,
            wd: s.weight_decay,
            ..Default::default()
        }
        .build(vs, lr),
        Kind::Adam => nn::Adam {
            wd: s.weight_decay,
            ..Default::default()
        }
        .build(vs, lr),
        Kind::Adamw => nn::AdamW {
            wd: s.weight_decay,
            ..Default::default()
        }
        .build(vs, lr),
        Kind::Rmsprop => nn::RmsProp {
            wd: s.weight_decay,
            ..Default::default()
        }
        .build(vs, lr),
    }
}

/// A host matrix's standardised rows as a tensor on `dev`.
fn inputs(net: &Network, x: &DMatrix<f64>, dev: Device) -> Tensor {
    let rows: Vec<usize> = (0..x.nrows()).collect();
    Tensor::from_slice(&net.standardised(x, &rows))
        .view([x.nrows() as i64, net.inputs as i64])
        .to(dev)
}

/// The message of a libtorch failure (its errors arrive as panics of `tch`).
fn failure(p: Box<dyn std::any::Any + Send>) -> Error {
    let msg = p
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "unknown error".into());
    Error::Runtime(format!("libtorch failed: {msg}"))
}

/// Held while libtorch works: its random generator (dropout) and its pool of threads
/// are one per process, so networks that train at once (mlx-train fits candidates in
/// parallel) would draw from the generator in turns, and split their sums over the
/// threads in ways, that differ from run to run. libtorch spreads each operation over
/// every core (or the GPU) itself.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn turn() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Trains `job` from the weights `init` with libtorch on the recipe's device.
pub(super) fn train(
    job: &Job,
    init: Vec<Weight>,
    rng: &mut Pcg64,
) -> Result<(Vec<Weight>, Vec<Epoch>)> {
    let dev = device(&job.recipe.device)?;
    let _turn = turn();
    tch::manual_seed(job.seed as i64);
    catch_unwind(AssertUnwindSafe(|| run(job, init, rng, dev))).map_err(failure)?
}

fn run(
    job: &Job,
    init: Vec<Weight>,
    rng: &mut Pcg64,
    dev: Device,
) -> Result<(Vec<Weight>, Vec<Epoch>)> {
    let (net, recipe) = (&job.net, &job.recipe);
    let vs = nn::VarStore::new(dev);
    let root = vs.root();
    // libtorch's variable names may not hold dots.
    let vars: Vec<(String, Tensor)> = init
        .iter()
        .map(|w| {
            let shape: Vec<i64> = w.shape.iter().map(|&d| d as i64).collect();
            let t = Tensor::from_slice(&w.values).view(shape.as_slice());
            (w.name.clone(), root.var_copy(&w.name.replace('.', "/"), &t))
        })
        .collect();
    let w: Weights = vars
        .iter()
        .map(|(n, t)| (n.clone(), t.shallow_clone()))
        .collect();
    let mut opt = optimizer(job, &vs).map_err(|e| Error::Runtime(format!("libtorch: {e}")))?;
    let x = inputs(net, job.x, dev);
    let y = DeviceLabels::new(&job.labels, dev);
    let validation = job
        .validation
        .as_ref()
        .map(|(vx, vl)| (inputs(net, vx, dev), DeviceLabels::new(vl, dev), vl));
    let (history, kept) = job.epochs(
        rng,
        |epoch, lr, batches, rng| {
            opt.set_lr(lr);
            // The epoch's loss is summed on the device and read once: reading each
            // batch's would make the CPU wait for the GPU at every step.
            let mut total = Tensor::zeros([], (tch::Kind::Float, dev));
            let mut seen = 0usize;
            for chunk in batches {
                let i: Vec<i64> = chunk.iter().map(|&r| r as i64).collect();
                let idx = Tensor::from_slice(&i).to(dev);
                let o = forward(net, &w, &x.index_select(0, &idx), true);
                let l = batch_loss(job, &o, &y.rows(&idx), &job.labels.subset(&chunk), rng);
                opt.zero_grad();
                l.backward();
                if let Some(max) = recipe.gradient_clip {
                    opt.clip_grad_norm(max);
                }
                opt.step();
                total += l.detach() * chunk.len() as f64;
                seen += chunk.len();
            }
            let train_loss = total.double_value(&[]) / seen.max(1) as f64;
            job.check(train_loss, epoch)?;
            let val_loss = validation.as_ref().map(|(vx, vy, host)| {
                tch::no_grad(|| {
                    let o = forward(net, &w, vx, false);
                    batch_loss(job, &o, vy, host, &mut job.validation_rng()).double_value(&[])
                })
            });
            Ok((train_loss, val_loss))
        },
        || {
            Ok(vars
                .iter()
                .map(|(_, t)| t.detach().copy())
                .collect::<Vec<_>>())
        },
    )?;
    if let Some(kept) = kept {
        tch::no_grad(|| {
            for ((_, t), k) in vars.iter().zip(kept) {
                let mut t = t.shallow_clone();
                t.copy_(&k);
            }
        });
    }
    vars.iter()
        .map(|(name, t)| {
            let host = t.detach().to(Device::Cpu).contiguous().view([-1]);
            Ok(Weight {
                name: name.clone(),
                shape: t.size().iter().map(|&d| d as usize).collect(),
                values: Vec::<f32>::try_from(&host)
                    .map_err(|e| Error::Runtime(format!("libtorch: {e}")))?,
            })
        })
        .collect::<Result<_>>()
        .map(|weights| (weights, history))
}

/// The output layer for every row of `x`, computed by libtorch on `device`: the same
/// numbers as the network's own (candle) forward pass, up to rounding.
pub fn outputs(net: &Network, x: &DMatrix<f64>, device_name: &str) -> Result<Vec<Vec<f32>>> {
    let dev = device(device_name)?;
    let _turn = turn();
    catch_unwind(AssertUnwindSafe(|| {
        let w: Weights = net
            .weights
            .iter()
            .map(|wt| {
                let shape: Vec<i64> = wt.shape.iter().map(|&d| d as i64).collect();
                (
                    wt.name.clone(),
                    Tensor::from_slice(&wt.values)
                        .view(shape.as_slice())
                        .to(dev),
                )
            })
            .collect();
        let o = tch::no_grad(|| forward(net, &w, &inputs(net, x, dev), false));
        Vec::<Vec<f32>>::try_from(&o.to(Device::Cpu))
            .map_err(|e| Error::Runtime(format!("libtorch: {e}")))
    }))
    .map_err(failure)?
}
