//! Neural networks: a multilayer perceptron, a 1-D CNN, an LSTM and a Transformer
//! encoder, trained by mini-batch gradient descent on the CPU (candle's tensors and
//! autodiff, in f32) with the loop of `training:`: optimizer, learning-rate schedule,
//! batches, epochs, early stopping on the validation loss, gradient clipping and a seed
//! that makes the run repeatable.
//!
//! Sequence models read each row's inputs as a sequence: `window` steps of
//! `inputs / window` channels, step after step (64 pixels of a digit with `window: 8` are
//! its 8 rows of 8 pixels). A network keeps its weights as plain numbers, so the model
//! file is mlx's JSON like every other family's.

pub mod loss;
mod lstm;
pub mod optim;
#[cfg(feature = "torch")]
pub mod torch;

/// Stands in for the `torch` backend in a build without it.
#[cfg(not(feature = "torch"))]
mod torch {
    use super::{Epoch, Job, Weight};
    use crate::error::{Error, Result};

    pub(super) fn train(
        _: &Job,
        _: Vec<Weight>,
        _: &mut rand_pcg::Pcg64,
    ) -> Result<(Vec<Weight>, Vec<Epoch>)> {
        Err(Error::Usage(NOT_BUILT.into()))
    }

    pub(super) const NOT_BUILT: &str =
        "`training.backend: torch` needs mlx built with the `torch` feature and a PyTorch \
         install (see docs/deep-learning.md, \"GPUs\"); use `backend: candle` or rebuild";
}

use std::collections::BTreeMap;

use candle_core::{Device, Tensor, Var, D};
use mlx_contracts::config::{
    Backend, Loss, ModelType, Optimizer as OptimizerKind, ParamValue, ScheduleKind, Training,
};
use nalgebra::DMatrix;
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::{Params, Target};

/// Whether a family is a neural network.
pub fn is_network(model: ModelType) -> bool {
    matches!(
        model,
        ModelType::Mlp | ModelType::Cnn1d | ModelType::Lstm | ModelType::Transformer
    )
}

/// The layers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Arch {
    /// Fully connected hidden layers.
    Mlp {
        /// Units of each hidden layer.
        hidden: Vec<usize>,
        /// Their activation.
        activation: Activation,
    },
    /// Convolutions over the sequence (zero padding of half the kernel, ReLU), flattened
    /// into the output layer (as Keras' `Conv1D` → `Flatten` → `Dense`).
    Cnn1d {
        /// Output channels of each convolution.
        channels: Vec<usize>,
        /// Kernel width.
        kernel_size: usize,
    },
    /// Stacked LSTM layers; the last step's hidden state is read out.
    Lstm {
        /// Hidden units per layer.
        units: usize,
        /// Layers.
        layers: usize,
    },
    /// A Transformer encoder (post-norm, as PyTorch's default) over the steps with a
    /// learned position embedding, then the mean over steps.
    Transformer {
        /// Width of the model.
        d_model: usize,
        /// Attention heads.
        heads: usize,
        /// Encoder layers.
        layers: usize,
        /// Width of each feed-forward block.
        feedforward: usize,
    },
}

/// Hidden-layer activations of the MLP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum Activation {
    Relu,
    Tanh,
    Gelu,
}

/// What the outputs mean.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Head {
    /// A number, learned standardised: the prediction is `output · std + mean`.
    Value {
        /// The training target's mean.
        mean: f64,
        /// The training target's standard deviation.
        std: f64,
    },
    /// The logit of the second of two classes.
    Binary,
    /// One logit per class.
    Classes,
    /// An embedding (contrastive or triplet loss): class probabilities are the softmax of
    /// minus the squared distances to each class's mean training embedding.
    Embedding {
        /// Each class's mean embedding.
        centroids: Vec<Vec<f32>>,
    },
}

/// One weight tensor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Weight {
    /// Its name (`hidden.0.weight`, `lstm.0.w_ih`, ...).
    pub name: String,
    /// Its shape.
    pub shape: Vec<usize>,
    /// Its values, row-major.
    pub values: Vec<f32>,
}

/// A trained network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Network {
    /// The layers.
    pub arch: Arch,
    /// Inputs per row.
    pub inputs: usize,
    /// Steps of a sequence model's sequence (1 for the MLP).
    pub window: usize,
    /// The inputs (by position) that make the sequence, oldest step first; the others
    /// are static inputs that join the output layer beside the sequence's summary.
    /// Empty: every input is part of the sequence.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sequence: Vec<usize>,
    /// Width of the output layer.
    pub outputs: usize,
    /// What the outputs mean.
    pub head: Head,
    /// Dropout rate used in training (kept for the record).
    pub dropout: f32,
    /// Each input's training mean, subtracted before the first layer.
    pub input_mean: Vec<f32>,
    /// Each input's training standard deviation (1 for constant inputs).
    pub input_std: Vec<f32>,
    /// The weights.
    pub weights: Vec<Weight>,
    /// The weights as tensors, built on the first prediction: explaining a row asks for
    /// thousands.
    #[serde(skip)]
    cache: TensorCache,
}

#[derive(Debug, Default)]
struct TensorCache(std::sync::OnceLock<Weights>);

impl Clone for TensorCache {
    fn clone(&self) -> Self {
        Self::default()
    }
}

impl PartialEq for TensorCache {
    /// A cache is no part of what a network is.
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

/// The keys `training:` lends to a network's parameters, where the model does not set
/// them itself.
pub const TRAINING_KEYS: &[&str] = &[
    "optimizer",
    "learning_rate",
    "batch_size",
    "epochs",
    "loss",
    "momentum",
    "weight_decay",
    "schedule",
    "schedule_step",
    "schedule_gamma",
    "gradient_clip",
    "patience",
    "min_delta",
    "validation_split",
    "focal_alpha",
    "focal_gamma",
    "huber_delta",
    "margin",
    "backend",
    "device",
];

/// The config spelling of a unit variant (`adam`, `huber`).
fn name_of<T: Serialize>(v: T) -> Result<String> {
    match crate::json::value(&v)? {
        serde_json::Value::String(s) => Ok(s),
        other => Err(Error::Runtime(format!("not a unit variant: {other}"))),
    }
}

/// A network's parameters with `training:`'s settings filled in, so that the run record
/// shows the whole recipe and any refit (a backtest fold, a tuning trial) repeats it; a
/// `sequence` of feature names also gets their positions among `features` (the model
/// matrix's columns) as `sequence_index`.
pub fn with_training(
    model: ModelType,
    params: &BTreeMap<String, ParamValue>,
    t: &Training,
    features: &[String],
) -> Result<BTreeMap<String, ParamValue>> {
    let mut p = params.clone();
    if let Some(seq) = params.get("sequence") {
        let names: Vec<&str> = match seq {
            ParamValue::List(items) if !items.is_empty() => items
                .iter()
                .map(|i| match i {
                    ParamValue::String(s) => Some(s.as_str()),
                    _ => None,
                })
                .collect::<Option<_>>()
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        if names.is_empty() || model == ModelType::Mlp {
            return Err(Error::Usage(format!(
                "`{}` parameter `sequence` must list the features that make the sequence, \
                 oldest step first, such as [lag_3, lag_2, lag_1]{}",
                model.as_str(),
                if model == ModelType::Mlp {
                    "; only cnn1d, lstm and transformer read sequences"
                } else {
                    ""
                }
            )));
        }
        let index = names
            .iter()
            .map(|n| {
                features.iter().position(|f| f == n).ok_or_else(|| {
                    Error::Usage(format!(
                        "`{}` parameter `sequence` names `{n}`, which is not a model input; \
                         the inputs are {}",
                        model.as_str(),
                        features.join(", ")
                    ))
                })
            })
            .collect::<Result<Vec<usize>>>()?;
        if let Some(n) = names
            .iter()
            .enumerate()
            .find_map(|(i, n)| names[..i].contains(n).then_some(n))
        {
            return Err(Error::Usage(format!(
                "`{}` parameter `sequence` names `{n}` twice; each input is one step of the \
                 sequence",
                model.as_str()
            )));
        }
        p.insert(
            "sequence_index".into(),
            ParamValue::List(
                index
                    .into_iter()
                    .map(|i| ParamValue::Int(i as i64))
                    .collect(),
            ),
        );
    }
    let mut put = |k: &str, v: ParamValue| {
        p.entry(k.to_string()).or_insert(v);
    };
    put("optimizer", ParamValue::String(name_of(t.optimizer)?));
    put("learning_rate", ParamValue::Float(t.learning_rate));
    put("batch_size", ParamValue::Int(t.batch_size as i64));
    put("epochs", ParamValue::Int(t.epochs as i64));
    if let Some(l) = t.loss {
        put("loss", ParamValue::String(name_of(l)?));
    }
    if t.optimizer == OptimizerKind::Sgd {
        put("momentum", ParamValue::Float(t.momentum));
    }
    if let Some(w) = t.weight_decay {
        put("weight_decay", ParamValue::Float(w));
    }
    if t.schedule.kind != ScheduleKind::Constant {
        put("schedule", ParamValue::String(name_of(t.schedule.kind)?));
        put(
            "schedule_step",
            ParamValue::Int(t.schedule.step_size as i64),
        );
        put("schedule_gamma", ParamValue::Float(t.schedule.gamma));
    }
    if let Some(c) = t.gradient_clip {
        put("gradient_clip", ParamValue::Float(c));
    }
    if let Some(e) = &t.early_stopping {
        put("patience", ParamValue::Int(e.patience as i64));
        put("min_delta", ParamValue::Float(e.min_delta));
    }
    if let Some(v) = t.validation_split {
        put("validation_split", ParamValue::Float(v));
    }
    if t.backend == Backend::Torch {
        put("backend", ParamValue::String(name_of(t.backend)?));
        put("device", ParamValue::String(t.device.clone()));
    }
    match t.loss {
        Some(Loss::Focal) => {
            put("focal_alpha", ParamValue::Float(t.loss_params.alpha));
            put("focal_gamma", ParamValue::Float(t.loss_params.gamma));
        }
        Some(Loss::Huber) => put("huber_delta", ParamValue::Float(t.loss_params.delta)),
        Some(Loss::Contrastive | Loss::Triplet) => {
            put("margin", ParamValue::Float(t.loss_params.margin))
        }
        _ => {}
    }
    Ok(p)
}

/// The training loop's settings, read from a network's parameters.
#[derive(Debug, Clone)]
struct Recipe {
    optimizer: optim::Settings,
    learning_rate: f64,
    batch_size: usize,
    epochs: usize,
    loss: Loss,
    schedule: optim::Schedule,
    gradient_clip: Option<f64>,
    patience: Option<(usize, f64)>,
    validation_split: Option<f64>,
    focal: (f64, f64),
    huber_delta: f64,
    margin: f64,
    dropout: f64,
    backend: Backend,
    /// The torch backend's device (`cpu`, `cuda`, `cuda:N`, `auto`).
    #[cfg_attr(not(feature = "torch"), allow(dead_code))]
    device: String,
}

fn enum_param<T: for<'de> Deserialize<'de>>(
    model: ModelType,
    params: &BTreeMap<String, ParamValue>,
    name: &str,
    allowed: &str,
) -> Result<Option<T>> {
    match params.get(name) {
        None | Some(ParamValue::Null) => Ok(None),
        Some(ParamValue::String(s)) => serde_json::from_value(serde_json::Value::String(s.clone()))
            .map(Some)
            .map_err(|_| {
                Error::Usage(format!(
                    "`{}` parameter `{name}` must be one of {allowed}, got `{s}`",
                    model.as_str()
                ))
            }),
        Some(other) => Err(Error::Usage(format!(
            "`{}` parameter `{name}` must be one of {allowed}, got {}",
            model.as_str(),
            other
        ))),
    }
}

fn int_list(
    model: ModelType,
    name: &str,
    v: Option<&ParamValue>,
    default: &[usize],
) -> Result<Vec<usize>> {
    match v {
        None => Ok(default.to_vec()),
        Some(ParamValue::Int(i)) if *i >= 1 => Ok(vec![*i as usize]),
        Some(ParamValue::List(items)) if !items.is_empty() => items
            .iter()
            .map(|i| match i {
                ParamValue::Int(n) if *n >= 1 => Ok(*n as usize),
                other => Err(Error::Usage(format!(
                    "`{}` parameter `{name}` must list whole numbers of at least 1, got {}",
                    model.as_str(),
                    other
                ))),
            })
            .collect(),
        Some(other) => Err(Error::Usage(format!(
            "`{}` parameter `{name}` must be a list of layer sizes such as [64, 32], got {}",
            model.as_str(),
            other
        ))),
    }
}

/// The parameters every network takes besides its architecture's.
const COMMON: &[&str] = &["dropout", "embedding_dim"];

/// A network's parameters: its own, the common ones and those `training:` lends.
pub(crate) fn known_params(model: ModelType) -> Vec<&'static str> {
    let own: &[&'static str] = match model {
        ModelType::Mlp => &["hidden", "activation"],
        ModelType::Cnn1d => &["channels", "kernel_size", "window", SEQ, SEQ_INDEX],
        ModelType::Lstm => &["units", "layers", "window", SEQ, SEQ_INDEX],
        _ => &[
            "d_model",
            "heads",
            "layers",
            "feedforward",
            "window",
            SEQ,
            SEQ_INDEX,
        ],
    };
    own.iter()
        .chain(COMMON)
        .chain(TRAINING_KEYS)
        .copied()
        .collect()
}
/// The features that make a sequence model's sequence, by name.
const SEQ: &str = "sequence";
/// Their positions, filled in by `with_training`.
const SEQ_INDEX: &str = "sequence_index";

/// Reads the architecture, the window and the recipe from `params`.
fn read(
    model: ModelType,
    params: &BTreeMap<String, ParamValue>,
    inputs: usize,
) -> Result<(Arch, usize, Vec<usize>, Recipe, usize)> {
    let p = Params::of(model, params, false)?;
    let sequence = read_sequence(model, params, inputs)?;
    let length = if sequence.is_empty() {
        inputs
    } else {
        sequence.len()
    };
    let window = if model == ModelType::Mlp {
        1
    } else {
        let w = p.int("window", length)?;
        if !length.is_multiple_of(w) {
            return Err(Error::Usage(format!(
                "`{}` parameter `window` ({w}) must divide the {length} inputs of the \
                 sequence: each step gets {length} / window of them",
                model.as_str()
            )));
        }
        w
    };
    let arch = read_arch(model, params, &p)?;
    let recipe = read_recipe(model, params, &p)?;
    #[cfg(not(feature = "torch"))]
    if recipe.backend == Backend::Torch {
        return Err(Error::Usage(torch::NOT_BUILT.into()));
    }
    if recipe.backend == Backend::Candle && recipe.device.starts_with("cuda") {
        return Err(Error::Usage(format!(
            "`{}` parameter `device: {}` needs `backend: torch`: the default backend, \
             candle, trains on the CPU",
            model.as_str(),
            recipe.device
        )));
    }
    let embedding = p.int("embedding_dim", 16)?;
    Ok((arch, window, sequence, recipe, embedding))
}

/// The positions of the inputs that make a sequence model's sequence (`sequence_index`,
/// filled in from `sequence` by `with_training`); none for every input.
fn read_sequence(
    model: ModelType,
    params: &BTreeMap<String, ParamValue>,
    inputs: usize,
) -> Result<Vec<usize>> {
    Ok(match (params.get(SEQ_INDEX), params.get(SEQ)) {
        (Some(ParamValue::List(items)), _) => items
            .iter()
            .map(|i| match i {
                ParamValue::Int(j) if *j >= 0 && (*j as usize) < inputs => Ok(*j as usize),
                other => Err(Error::Usage(format!(
                    "`{}` parameter `{SEQ_INDEX}` holds input positions below {inputs}, got {}",
                    model.as_str(),
                    other
                ))),
            })
            .collect::<Result<Vec<usize>>>()
            .and_then(|seq| {
                let unique: std::collections::BTreeSet<_> = seq.iter().collect();
                if unique.len() == seq.len() {
                    Ok(seq)
                } else {
                    Err(Error::Usage(format!(
                        "`{}` parameter `{SEQ_INDEX}` repeats a position",
                        model.as_str()
                    )))
                }
            })?,
        (None, None) => Vec::new(),
        _ => {
            return Err(Error::Usage(format!(
                "`{}` parameter `sequence` names features, which mlx-train turns into their \
                 positions (`{SEQ_INDEX}`); give `{SEQ_INDEX}` when fitting without names",
                model.as_str()
            )))
        }
    })
}

/// The network's architecture from its family's parameters.
fn read_arch(model: ModelType, params: &BTreeMap<String, ParamValue>, p: &Params) -> Result<Arch> {
    Ok(match model {
        ModelType::Mlp => Arch::Mlp {
            hidden: int_list(model, "hidden", params.get("hidden"), &[64])?,
            activation: enum_param(model, params, "activation", "relu, tanh, gelu")?
                .unwrap_or(Activation::Relu),
        },
        ModelType::Cnn1d => Arch::Cnn1d {
            channels: int_list(model, "channels", params.get("channels"), &[32, 64])?,
            kernel_size: p.int("kernel_size", 3)?,
        },
        ModelType::Lstm => Arch::Lstm {
            units: p.int("units", 64)?,
            layers: p.int("layers", 1)?,
        },
        _ => {
            let d_model = p.int("d_model", 32)?;
            let heads = p.int("heads", 4)?;
            if d_model % heads != 0 {
                return Err(Error::Usage(format!(
                    "`transformer` parameter `d_model` ({d_model}) must be a multiple of \
                     `heads` ({heads})"
                )));
            }
            Arch::Transformer {
                d_model,
                heads,
                layers: p.int("layers", 2)?,
                feedforward: p.int("feedforward", 64)?,
            }
        }
    })
}

/// The training recipe: optimiser, schedule, loss, regularisation, backend and device.
fn read_recipe(
    model: ModelType,
    params: &BTreeMap<String, ParamValue>,
    p: &Params,
) -> Result<Recipe> {
    let kind: OptimizerKind =
        enum_param(model, params, "optimizer", "sgd, adam, adamw, rmsprop")?.unwrap_or_default();
    let fraction = |name: &str, default: f64| -> Result<f64> {
        let v = p.float(name, default)?;
        if (0.0..1.0).contains(&v) {
            Ok(v)
        } else {
            Err(Error::Usage(format!(
                "`{}` parameter `{name}` must be at least 0 and below 1, got {v}",
                model.as_str()
            )))
        }
    };
    let schedule = optim::Schedule {
        kind: enum_param(
            model,
            params,
            "schedule",
            "constant, step, exponential, cosine",
        )?
        .unwrap_or_default(),
        step_size: p.int("schedule_step", 10)?,
        gamma: p.positive("schedule_gamma", 0.1)?,
    };
    Ok(Recipe {
        optimizer: optim::Settings {
            kind,
            momentum: fraction(
                "momentum",
                if kind == OptimizerKind::Sgd { 0.9 } else { 0.0 },
            )?,
            weight_decay: {
                let w = p.float(
                    "weight_decay",
                    if kind == OptimizerKind::Adamw {
                        0.01
                    } else {
                        0.0
                    },
                )?;
                if w < 0.0 {
                    return Err(Error::Usage(format!(
                        "`{}` parameter `weight_decay` must be at least 0, got {w}",
                        model.as_str()
                    )));
                }
                w
            },
        },
        learning_rate: p.positive("learning_rate", 0.001)?,
        batch_size: p.int("batch_size", 32)?,
        epochs: p.int("epochs", 50)?,
        loss: enum_param(
            model,
            params,
            "loss",
            "binary_cross_entropy, categorical_cross_entropy, focal, mse, mae, huber, \
             log_cosh, contrastive, triplet",
        )?
        .unwrap_or(Loss::Mse),
        schedule,
        gradient_clip: match params.get("gradient_clip") {
            None | Some(ParamValue::Null) => None,
            Some(_) => Some(p.positive("gradient_clip", 1.0)?),
        },
        patience: match params.get("patience") {
            None | Some(ParamValue::Null) => None,
            Some(_) => Some((p.int("patience", 5)?, p.float("min_delta", 0.0)?.max(0.0))),
        },
        validation_split: match params.get("validation_split") {
            None | Some(ParamValue::Null) => None,
            Some(_) => Some(fraction("validation_split", 0.1)?).filter(|v| *v > 0.0),
        },
        focal: (p.float("focal_alpha", 0.25)?, p.float("focal_gamma", 2.0)?),
        huber_delta: p.positive("huber_delta", 1.0)?,
        margin: p.positive("margin", 1.0)?,
        dropout: fraction("dropout", 0.0)?,
        backend: enum_param(model, params, "backend", "candle, torch")?.unwrap_or_default(),
        device: match params.get("device") {
            None | Some(ParamValue::Null) => "auto".into(),
            Some(ParamValue::String(d))
                if matches!(d.as_str(), "cpu" | "cuda" | "auto")
                    || d.strip_prefix("cuda:")
                        .is_some_and(|i| i.parse::<usize>().is_ok()) =>
            {
                d.clone()
            }
            Some(other) => {
                return Err(Error::Usage(format!(
                    "`{}` parameter `device` must be cpu, cuda, cuda:N or auto, got {}",
                    model.as_str(),
                    other
                )))
            }
        },
    })
}

// ---------------------------------------------------------------------------------------
// layers

type Weights = BTreeMap<String, Tensor>;

fn get<'a>(w: &'a Weights, name: &str) -> candle_core::Result<&'a Tensor> {
    w.get(name)
        .ok_or_else(|| candle_core::Error::Msg(format!("the model file has no weight `{name}`")))
}

/// `x Wᵀ + b` over the last dimension.
fn linear(x: &Tensor, w: &Weights, name: &str) -> candle_core::Result<Tensor> {
    let wt = get(w, &format!("{name}.weight"))?.t()?;
    x.broadcast_matmul(&wt)?
        .broadcast_add(get(w, &format!("{name}.bias"))?)
}

/// Normalises the last dimension, then scales and shifts it (PyTorch's `LayerNorm`).
fn layer_norm(x: &Tensor, w: &Weights, name: &str) -> candle_core::Result<Tensor> {
    let centred = x.broadcast_sub(&x.mean_keepdim(D::Minus1)?)?;
    let var = centred.sqr()?.mean_keepdim(D::Minus1)?;
    centred
        .broadcast_div(&(var + 1e-5)?.sqrt()?)?
        .broadcast_mul(get(w, &format!("{name}.weight"))?)?
        .broadcast_add(get(w, &format!("{name}.bias"))?)
}

/// A 1-D convolution (PyTorch's `conv1d` with stride 1 and `pad` zeros on each side) as
/// one matrix product over the unfolded windows. candle's own `conv1d` gets the kernel's
/// gradient wrong when there is padding (candle-core 0.11), which the `torch` backend's
/// test caught: the two backends trained the same CNN apart.
fn conv1d(x: &Tensor, kernel: &Tensor, pad: usize) -> candle_core::Result<Tensor> {
    let (b, c_in, len) = x.dims3()?;
    let (c_out, _, k) = kernel.dims3()?;
    let padded = x.pad_with_zeros(2, pad, pad)?;
    let out_len = len + 2 * pad + 1 - k;
    let windows = (0..k)
        .map(|j| padded.narrow(2, j, out_len))
        .collect::<candle_core::Result<Vec<_>>>()?;
    // (b, c_in, k, out_len), flattened to the kernel's (c_in, k) order.
    let unfolded = Tensor::stack(&windows, 2)?.reshape((b, c_in * k, out_len))?;
    kernel
        .reshape((c_out, c_in * k))?
        .broadcast_matmul(&unfolded)
}

/// Inverted dropout with masks from the training seed (nothing at prediction time).
struct Dropout<'a> {
    rate: f64,
    rng: Option<&'a mut Pcg64>,
}

impl Dropout<'_> {
    /// The mask of `n` values in order (`1/keep` or 0), or none without dropout.
    fn mask(&mut self, n: usize) -> Option<Vec<f32>> {
        let rng = self.rng.as_deref_mut().filter(|_| self.rate > 0.0)?;
        let keep = 1.0 - self.rate;
        let scale = (1.0 / keep) as f32;
        Some(
            (0..n)
                .map(|_| {
                    if rng.random::<f64>() < keep {
                        scale
                    } else {
                        0.0
                    }
                })
                .collect(),
        )
    }

    fn apply(&mut self, h: &Tensor) -> candle_core::Result<Tensor> {
        match self.mask(h.elem_count()) {
            Some(mask) => h * Tensor::from_vec(mask, h.shape(), h.device())?,
            None => Ok(h.clone()),
        }
    }
}

impl Network {
    /// The output layer's activations for standardised inputs `x` (`batch × inputs`).
    fn forward(&self, w: &Weights, x: &Tensor, drop: &mut Dropout) -> candle_core::Result<Tensor> {
        self.forward_traced(w, x, drop, None)
    }

    /// The same; a training batch of an LSTM leaves in `trace` what the backward pass
    /// of its layers needs (see `lstm.rs`), since candle's graph ends at their output.
    fn forward_traced(
        &self,
        w: &Weights,
        x: &Tensor,
        drop: &mut Dropout,
        trace: Option<&mut Option<lstm::Trace>>,
    ) -> candle_core::Result<Tensor> {
        let b = x.dim(0)?;
        let steps = self.window;
        let (length, statics) = (self.sequence_length(), self.statics());
        let channels = length / steps;
        let whole = x;
        let x = &x.narrow(1, 0, length)?;
        let h = match &self.arch {
            Arch::Mlp { hidden, activation } => {
                let mut h = x.clone();
                for i in 0..hidden.len() {
                    let z = linear(&h, w, &format!("hidden.{i}"))?;
                    h = match activation {
                        Activation::Relu => z.relu()?,
                        Activation::Tanh => z.tanh()?,
                        Activation::Gelu => z.gelu_erf()?,
                    };
                    h = drop.apply(&h)?;
                }
                h
            }
            Arch::Cnn1d {
                channels: sizes,
                kernel_size,
            } => {
                let mut h = x
                    .reshape((b, steps, channels))?
                    .transpose(1, 2)?
                    .contiguous()?;
                for (i, size) in sizes.iter().enumerate() {
                    let k = get(w, &format!("conv.{i}.weight"))?;
                    let bias = get(w, &format!("conv.{i}.bias"))?.reshape((1, *size, 1))?;
                    h = conv1d(&h, k, kernel_size / 2)?
                        .broadcast_add(&bias)?
                        .relu()?;
                    h = drop.apply(&h)?;
                }
                let (_, c, l) = h.dims3()?;
                h.reshape((b, c * l))?
            }
            Arch::Lstm { layers, units } => {
                let stack = lstm::Stack::new(w, *layers, *units, steps, channels)?;
                let values = x.contiguous()?.flatten_all()?.to_vec1::<f32>()?;
                let masks = (1..*layers).map(|_| drop.mask(b * steps * units)).collect();
                let last = match trace {
                    Some(trace) => {
                        let t = stack.traced(&values, masks)?;
                        let last = t.last.as_tensor().clone();
                        *trace = Some(t);
                        last
                    }
                    None => {
                        let last = stack.last_states(&values, &masks);
                        Tensor::from_vec(last, (b, *units), x.device())?
                    }
                };
                drop.apply(&last)?
            }
            Arch::Transformer {
                d_model,
                heads,
                layers,
                ..
            } => {
                let seq = x.reshape((b, steps, channels))?;
                let mut h = linear(&seq, w, "embed")?.broadcast_add(get(w, "position")?)?;
                let dh = d_model / heads;
                let split = |t: Tensor| -> candle_core::Result<Tensor> {
                    t.reshape((b, steps, *heads, dh))?
                        .transpose(1, 2)?
                        .contiguous()
                };
                for l in 0..*layers {
                    let at = |n: &str| format!("block.{l}.{n}");
                    let q = split(linear(&h, w, &at("query"))?)?;
                    let k = split(linear(&h, w, &at("key"))?)?;
                    let v = split(linear(&h, w, &at("value"))?)?;
                    let scores = (q.matmul(&k.t()?.contiguous()?)? / (dh as f64).sqrt())?;
                    let attention = loss::log_softmax(&scores)?.exp()?;
                    let mixed = attention
                        .matmul(&v)?
                        .transpose(1, 2)?
                        .contiguous()?
                        .reshape((b, steps, *d_model))?;
                    let a = drop.apply(&linear(&mixed, w, &at("out"))?)?;
                    h = layer_norm(&(h + a)?, w, &at("norm1"))?;
                    let f = linear(&linear(&h, w, &at("ff1"))?.relu()?, w, &at("ff2"))?;
                    let f = drop.apply(&f)?;
                    h = layer_norm(&(h + f)?, w, &at("norm2"))?;
                }
                h.mean(1)?
            }
        };
        let h = if statics > 0 {
            Tensor::cat(&[&h, &whole.narrow(1, length, statics)?], 1)?
        } else {
            h
        };
        linear(&h, w, "out")
    }

    /// Inputs in the sequence.
    fn sequence_length(&self) -> usize {
        if self.sequence.is_empty() {
            self.inputs
        } else {
            self.sequence.len()
        }
    }

    /// Static inputs, beside the sequence.
    fn statics(&self) -> usize {
        self.inputs - self.sequence_length()
    }

    /// The input positions in the order the first layer reads them: the sequence, then
    /// the static inputs.
    fn input_order(&self) -> Vec<usize> {
        if self.sequence.is_empty() {
            return (0..self.inputs).collect();
        }
        let mut order = self.sequence.clone();
        order.extend((0..self.inputs).filter(|j| !self.sequence.contains(j)));
        order
    }

    /// Standardised inputs of rows `rows` of `x` in reading order, row-major.
    fn standardised(&self, x: &DMatrix<f64>, rows: &[usize]) -> Vec<f32> {
        let order = self.input_order();
        let mut v = Vec::with_capacity(rows.len() * order.len());
        for &r in rows {
            for &j in &order {
                v.push((x[(r, j)] as f32 - self.input_mean[j]) / self.input_std[j]);
            }
        }
        v
    }

    /// Weight shapes and PyTorch's default initialisation bound of each (uniform in
    /// `±1/√fan_in`; layer norms start at 1 and 0).
    fn shapes(&self) -> Vec<(String, Vec<usize>, Init)> {
        fn lin(out: &mut Vec<(String, Vec<usize>, Init)>, name: &str, inp: usize, outp: usize) {
            let bound = 1.0 / (inp as f64).sqrt();
            out.push((
                format!("{name}.weight"),
                vec![outp, inp],
                Init::Uniform(bound),
            ));
            out.push((format!("{name}.bias"), vec![outp], Init::Uniform(bound)));
        }
        let mut out = Vec::new();
        let channels = self.sequence_length() / self.window;
        let last = match &self.arch {
            Arch::Mlp { hidden, .. } => {
                let mut inp = self.inputs;
                for (i, &h) in hidden.iter().enumerate() {
                    lin(&mut out, &format!("hidden.{i}"), inp, h);
                    inp = h;
                }
                inp
            }
            Arch::Cnn1d {
                channels: sizes,
                kernel_size,
            } => {
                let mut inp = channels;
                let mut steps = self.window;
                let mut convs = Vec::new();
                for (i, &c) in sizes.iter().enumerate() {
                    steps = steps + 2 * (kernel_size / 2) + 1 - kernel_size;
                    let bound = 1.0 / ((inp * kernel_size) as f64).sqrt();
                    convs.push((
                        format!("conv.{i}.weight"),
                        vec![c, inp, *kernel_size],
                        Init::Uniform(bound),
                    ));
                    convs.push((format!("conv.{i}.bias"), vec![c], Init::Uniform(bound)));
                    inp = c;
                }
                out.extend(convs);
                inp * steps
            }
            Arch::Lstm { units, layers } => {
                let bound = 1.0 / (*units as f64).sqrt();
                let mut inp = channels;
                for l in 0..*layers {
                    for (n, shape) in [
                        ("w_ih", vec![4 * units, inp]),
                        ("w_hh", vec![4 * units, *units]),
                        ("b_ih", vec![4 * units]),
                        ("b_hh", vec![4 * units]),
                    ] {
                        out.push((format!("lstm.{l}.{n}"), shape, Init::Uniform(bound)));
                    }
                    inp = *units;
                }
                inp
            }
            Arch::Transformer {
                d_model,
                layers,
                feedforward,
                ..
            } => {
                let d = *d_model;
                lin(&mut out, "embed", channels, d);
                let mut rest = vec![(
                    "position".to_string(),
                    vec![self.window, d],
                    Init::Uniform(0.02 * 3f64.sqrt()),
                )];
                for l in 0..*layers {
                    for n in ["query", "key", "value", "out"] {
                        lin(&mut out, &format!("block.{l}.{n}"), d, d);
                    }
                    lin(&mut out, &format!("block.{l}.ff1"), d, *feedforward);
                    lin(&mut out, &format!("block.{l}.ff2"), *feedforward, d);
                    for n in ["norm1", "norm2"] {
                        rest.push((format!("block.{l}.{n}.weight"), vec![d], Init::Ones));
                        rest.push((format!("block.{l}.{n}.bias"), vec![d], Init::Zeros));
                    }
                }
                out.extend(rest);
                d
            }
        };
        lin(&mut out, "out", last + self.statics(), self.outputs);
        out
    }

    /// The weights as tensors, built once.
    fn tensors(&self) -> Result<&Weights> {
        if let Some(w) = self.cache.0.get() {
            return Ok(w);
        }
        let built = self
            .weights
            .iter()
            .map(|wt| {
                Tensor::from_slice(&wt.values, wt.shape.as_slice(), &Device::Cpu)
                    .map(|t| (wt.name.clone(), t))
            })
            .collect::<candle_core::Result<Weights>>()?;
        Ok(self.cache.0.get_or_init(|| built))
    }

    /// Standardised inputs of rows `rows` of `x`, as a `rows × inputs` tensor.
    fn batch(&self, x: &DMatrix<f64>, rows: &[usize]) -> Result<Tensor> {
        Tensor::from_vec(
            self.standardised(x, rows),
            (rows.len(), self.inputs),
            &Device::Cpu,
        )
        .map_err(Error::from)
    }

    /// The output layer for every row of `x`, in batches.
    fn outputs_of(&self, w: &Weights, x: &DMatrix<f64>) -> Result<Vec<Vec<f32>>> {
        let mut out = Vec::with_capacity(x.nrows());
        let rows: Vec<usize> = (0..x.nrows()).collect();
        for chunk in rows.chunks(1024) {
            let xb = self.batch(x, chunk)?;
            let o = self
                .forward(
                    w,
                    &xb,
                    &mut Dropout {
                        rate: 0.0,
                        rng: None,
                    },
                )
                .and_then(|o| o.to_vec2::<f32>())?;
            out.extend(o);
        }
        Ok(out)
    }

    /// The output layer's activations for every row of `x`: logits, an embedding or a
    /// standardised value.
    pub fn outputs(&self, x: &DMatrix<f64>) -> Result<Vec<Vec<f32>>> {
        self.outputs_of(self.tensors()?, x)
    }

    /// Values (`n × 1`) or class probabilities (`n × classes`).
    pub fn predict(&self, x: &DMatrix<f64>) -> Result<DMatrix<f64>> {
        if x.ncols() != self.inputs {
            return Err(Error::Runtime(format!(
                "the network takes {} inputs, the rows have {}",
                self.inputs,
                x.ncols()
            )));
        }
        let out = self.outputs_of(self.tensors()?, x)?;
        let n = x.nrows();
        Ok(match &self.head {
            Head::Value { mean, std } => {
                DMatrix::from_fn(n, 1, |i, _| out[i][0] as f64 * std + mean)
            }
            Head::Binary => DMatrix::from_fn(n, 2, |i, j| {
                let p = 1.0 / (1.0 + (-(out[i][0] as f64)).exp());
                if j == 1 {
                    p
                } else {
                    1.0 - p
                }
            }),
            Head::Classes => {
                let k = self.outputs;
                DMatrix::from_fn(n, k, |i, j| {
                    softmax_row(&out[i].iter().map(|v| *v as f64).collect::<Vec<_>>())[j]
                })
            }
            Head::Embedding { centroids } => {
                let k = centroids.len();
                let mut m = DMatrix::zeros(n, k);
                for i in 0..n {
                    let neg: Vec<f64> = centroids
                        .iter()
                        .map(|c| {
                            -c.iter()
                                .zip(&out[i])
                                .map(|(a, b)| ((a - b) as f64).powi(2))
                                .sum::<f64>()
                        })
                        .collect();
                    for (j, p) in softmax_row(&neg).into_iter().enumerate() {
                        m[(i, j)] = p;
                    }
                }
                m
            }
        })
    }

    /// Parameters in the network.
    pub fn parameter_count(&self) -> usize {
        self.weights.iter().map(|w| w.values.len()).sum()
    }
}

fn softmax_row(z: &[f64]) -> Vec<f64> {
    let max = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = z.iter().map(|v| (v - max).exp()).collect();
    let s: f64 = e.iter().sum();
    e.into_iter().map(|v| v / s).collect()
}

#[derive(Debug, Clone, Copy)]
enum Init {
    Uniform(f64),
    Ones,
    Zeros,
}

// ---------------------------------------------------------------------------------------
// training

/// Labels in the form the loss takes.
enum Labels {
    /// Standardised values.
    Values(Vec<f32>),
    /// Class codes.
    Classes(Vec<u32>),
}

impl Labels {
    fn subset(&self, rows: &[usize]) -> Labels {
        match self {
            Labels::Values(v) => Labels::Values(rows.iter().map(|&r| v[r]).collect()),
            Labels::Classes(c) => Labels::Classes(rows.iter().map(|&r| c[r]).collect()),
        }
    }
}

/// The loss of a batch's outputs `o`; embedding losses pair or group the batch's rows
/// with `rng`.
fn batch_loss(
    net: &Network,
    r: &Recipe,
    o: &Tensor,
    y: &Labels,
    rng: &mut Pcg64,
) -> Result<Tensor> {
    let dev = &Device::Cpu;
    match (y, r.loss) {
        (Labels::Values(v), loss) => {
            let t = Tensor::from_slice(v, (v.len(), 1), dev)?;
            match loss {
                Loss::Mae => loss::mae(o, &t),
                Loss::Huber => loss::huber(o, &t, r.huber_delta),
                Loss::LogCosh => loss::log_cosh(o, &t),
                _ => loss::mse(o, &t),
            }
        }
        (Labels::Classes(c), Loss::Contrastive | Loss::Triplet) => {
            let (a, b, c3, same) = mine(c, r.loss == Loss::Triplet, rng);
            if a.is_empty() {
                return Tensor::new(0f32, dev).map_err(Error::from);
            }
            let pick = |idx: &[u32]| {
                Tensor::from_slice(idx, idx.len(), dev).and_then(|i| o.index_select(&i, 0))
            };
            let (ea, eb) = (pick(&a)?, pick(&b)?);
            if r.loss == Loss::Triplet {
                loss::triplet(&ea, &eb, &pick(&c3)?, r.margin)
            } else {
                let s = Tensor::from_slice(&same, same.len(), dev)?;
                loss::contrastive(&ea, &eb, &s, r.margin)
            }
        }
        (Labels::Classes(c), loss) => {
            let binary = matches!(net.head, Head::Binary);
            let t = if binary {
                let f: Vec<f32> = c.iter().map(|&k| k as f32).collect();
                Tensor::from_slice(&f, (f.len(), 1), dev)
            } else {
                Tensor::from_slice(c, c.len(), dev)
            }?;
            match (loss, binary) {
                (Loss::Focal, _) => loss::focal(o, &t, r.focal.0, r.focal.1),
                (_, true) => loss::binary_cross_entropy(o, &t),
                (_, false) => loss::cross_entropy(o, &t),
            }
        }
    }
}

/// Pairs (contrastive: `a`, `b` and whether they share a class, half of them same-class
/// where the batch allows) or triplets (anchor, positive, negative) from a batch's codes.
fn mine(
    codes: &[u32],
    triplets: bool,
    rng: &mut Pcg64,
) -> (Vec<u32>, Vec<u32>, Vec<u32>, Vec<f32>) {
    let (mut a, mut b, mut n, mut same) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (i, &ci) in codes.iter().enumerate() {
        let pos: Vec<usize> = (0..codes.len())
            .filter(|&j| j != i && codes[j] == ci)
            .collect();
        let neg: Vec<usize> = (0..codes.len()).filter(|&j| codes[j] != ci).collect();
        if triplets {
            if pos.is_empty() || neg.is_empty() {
                continue;
            }
            a.push(i as u32);
            b.push(pos[rng.random_range(0..pos.len())] as u32);
            n.push(neg[rng.random_range(0..neg.len())] as u32);
        } else {
            let want_same = rng.random::<bool>();
            let pick = if (want_same && !pos.is_empty()) || neg.is_empty() {
                pos.get(rng.random_range(0..pos.len().max(1))).copied()
            } else {
                Some(neg[rng.random_range(0..neg.len())])
            };
            if let Some(j) = pick {
                a.push(i as u32);
                b.push(j as u32);
                same.push(if codes[j] == ci { 1.0 } else { 0.0 });
            }
        }
    }
    (a, b, n, same)
}

/// One epoch's summary, for the run history.
pub type Epoch = (f64, Option<f64>);

/// What a training loop works on: the network to fill in, its recipe and its rows.
struct Job<'a> {
    model: ModelType,
    net: Network,
    recipe: Recipe,
    x: &'a DMatrix<f64>,
    /// Rows of `x` that train.
    train_rows: Vec<usize>,
    /// Every row's label.
    labels: Labels,
    /// The rows that watch the validation loss.
    validation: Option<(DMatrix<f64>, Labels)>,
    /// Classes of the target (0 for numbers).
    classes: usize,
    seed: u64,
}

/// Early stopping: the best watched loss so far and the epochs since it.
struct Watch {
    patience: Option<(usize, f64)>,
    best: Option<f64>,
    waited: usize,
}

/// What an epoch's loss means for the loop.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    /// The best epoch yet: keep its weights.
    Best,
    /// Not better; go on.
    Worse,
    /// Patience ran out: stop.
    Stop,
}

impl Watch {
    fn new(patience: Option<(usize, f64)>) -> Self {
        Self {
            patience,
            best: None,
            waited: 0,
        }
    }

    fn see(&mut self, loss: f64) -> Verdict {
        let Some((patience, min_delta)) = self.patience else {
            return Verdict::Worse;
        };
        if self.best.is_none_or(|b| loss < b - min_delta) {
            self.best = Some(loss);
            self.waited = 0;
            Verdict::Best
        } else {
            self.waited += 1;
            if self.waited >= patience {
                Verdict::Stop
            } else {
                Verdict::Worse
            }
        }
    }
}

impl Job<'_> {
    /// The seeded initial weights: PyTorch's default initialisation.
    fn initial_weights(&self, rng: &mut Pcg64) -> Vec<Weight> {
        self.net
            .shapes()
            .into_iter()
            .map(|(name, shape, init)| {
                let len: usize = shape.iter().product();
                let values: Vec<f32> = match init {
                    Init::Uniform(b) => (0..len)
                        .map(|_| ((rng.random::<f64>() * 2.0 - 1.0) * b) as f32)
                        .collect(),
                    Init::Ones => vec![1.0; len],
                    Init::Zeros => vec![0.0; len],
                };
                Weight {
                    name,
                    shape,
                    values,
                }
            })
            .collect()
    }

    /// The error for a loss that is no longer a number.
    fn check(&self, value: f64, epoch: usize) -> Result<()> {
        if value.is_finite() {
            return Ok(());
        }
        Err(Error::Runtime(format!(
            "training diverged at epoch {} (loss {value}); lower `learning_rate` (now {}) \
             or set `gradient_clip`",
            epoch + 1,
            self.recipe.learning_rate
        )))
    }

    /// The epoch loop both backends share: the learning rate of each epoch, its shuffled
    /// batches, the history and progress bar, and early stopping. `epoch` trains one
    /// epoch (its number, rate and batches) and returns its training and validation
    /// loss; `snapshot` copies the weights of the best epoch so far, which come back
    /// with the history.
    fn epochs<S>(
        &self,
        rng: &mut Pcg64,
        mut epoch: impl FnMut(usize, f64, Vec<Vec<usize>>, &mut Pcg64) -> Result<Epoch>,
        mut snapshot: impl FnMut() -> Result<S>,
    ) -> Result<(Vec<Epoch>, Option<S>)> {
        let r = &self.recipe;
        let name = self.model.as_str();
        let bar = crate::progress::count_bar(r.epochs as u64, &format!("{name} epochs"));
        let mut history = Vec::new();
        let mut kept = None;
        let mut watch = Watch::new(r.patience);
        let mut rows = self.train_rows.clone();
        for e in 0..r.epochs {
            let lr = r.schedule.rate(r.learning_rate, e, r.epochs);
            let batches = self.batches(&mut rows, rng);
            let (train, val) = epoch(e, lr, batches, rng)?;
            history.push((train, val));
            bar.set_message(format!(
                "{name} epochs, loss {train:.4}{}",
                val.map(|v| format!(", validation {v:.4}"))
                    .unwrap_or_default()
            ));
            bar.inc(1);
            match watch.see(val.unwrap_or(train)) {
                Verdict::Best => kept = Some(snapshot()?),
                Verdict::Worse => {}
                Verdict::Stop => break,
            }
        }
        bar.finish_and_clear();
        Ok((history, kept))
    }

    /// The training rows of each batch of an epoch, shuffled by `rng`; a lone last row
    /// is left out (a noisy step, and no pair for the embedding losses).
    fn batches(&self, rows: &mut [usize], rng: &mut Pcg64) -> Vec<Vec<usize>> {
        rows.shuffle(rng);
        let mut out: Vec<Vec<usize>> = rows
            .chunks(self.recipe.batch_size)
            .map(<[usize]>::to_vec)
            .collect();
        if out.len() > 1 && out.last().is_some_and(|b| b.len() < 2) {
            out.pop();
        }
        out
    }

    /// Seeds the pairs the validation loss is measured on: the same every epoch, so that
    /// epochs compare.
    fn validation_rng(&self) -> Pcg64 {
        Pcg64::seed_from_u64(self.seed ^ 0x9e37_79b9)
    }
}

/// Trains with candle on the CPU.
fn train_candle(
    job: &Job,
    init: Vec<Weight>,
    rng: &mut Pcg64,
) -> Result<(Vec<Weight>, Vec<Epoch>)> {
    let (net, recipe) = (&job.net, &job.recipe);
    let vars: Vec<(String, Var)> = init
        .into_iter()
        .map(|w| {
            Tensor::from_vec(w.values, w.shape.as_slice(), &Device::Cpu)
                .and_then(|t| Var::from_tensor(&t))
                .map(|v| (w.name, v))
                .map_err(Error::from)
        })
        .collect::<Result<_>>()?;
    let weights_now = || -> Weights {
        vars.iter()
            .map(|(k, v)| (k.clone(), v.as_tensor().clone()))
            .collect()
    };
    let just_vars: Vec<Var> = vars.iter().map(|(_, v)| v.clone()).collect();
    let mut opt = optim::Optimizer::new(recipe.optimizer, just_vars.len());
    let (history, kept) = job.epochs(
        rng,
        |epoch, lr, batches, rng| {
            let (mut total, mut seen) = (0.0, 0usize);
            for chunk in batches {
                let w = weights_now();
                let xb = net.batch(job.x, &chunk)?;
                let yb = job.labels.subset(&chunk);
                let mut trace = None;
                let o = net.forward_traced(
                    &w,
                    &xb,
                    &mut Dropout {
                        rate: recipe.dropout,
                        rng: Some(rng),
                    },
                    Some(&mut trace),
                )?;
                let l = batch_loss(net, recipe, &o, &yb, rng)?;
                let value = l.to_scalar::<f32>()? as f64;
                job.check(value, epoch)?;
                let mut grads = l.backward()?;
                if let Some(trace) = trace {
                    trace.backward(&mut grads, |name| {
                        vars.iter().find(|(n, _)| n == name).map(|(_, v)| v)
                    })?;
                }
                if let Some(max) = recipe.gradient_clip {
                    optim::clip_grad_norm(&just_vars, &mut grads, max)?;
                }
                opt.step(&just_vars, &grads, lr)?;
                total += value * chunk.len() as f64;
                seen += chunk.len();
            }
            let val_loss = match &job.validation {
                Some((vx, vl)) => {
                    let rows: Vec<usize> = (0..vx.nrows()).collect();
                    let o = net.forward(
                        &weights_now(),
                        &net.batch(vx, &rows)?,
                        &mut Dropout {
                            rate: 0.0,
                            rng: None,
                        },
                    )?;
                    let l = batch_loss(net, recipe, &o, vl, &mut job.validation_rng())?;
                    Some(l.to_scalar::<f32>()? as f64)
                }
                None => None,
            };
            Ok((total / seen.max(1) as f64, val_loss))
        },
        || {
            just_vars
                .iter()
                .map(|v| v.as_tensor().copy())
                .collect::<candle_core::Result<Vec<_>>>()
                .map_err(Error::from)
        },
    )?;
    // Early stopping keeps the best epoch's weights.
    if let Some(kept) = kept {
        for (v, t) in just_vars.iter().zip(kept) {
            v.set(&t)?;
        }
    }
    let weights = vars
        .iter()
        .map(|(name, v)| {
            let t = v.as_tensor();
            Ok(Weight {
                name: name.clone(),
                shape: t.dims().to_vec(),
                values: t.flatten_all().and_then(|f| f.to_vec1::<f32>())?,
            })
        })
        .collect::<Result<_>>()?;
    Ok((weights, history))
}

/// Reads the recipe, standardises, picks the head and sets the rows aside.
fn prepare<'a>(
    model: ModelType,
    params: &BTreeMap<String, ParamValue>,
    x: &'a DMatrix<f64>,
    y: Target,
    validation: Option<(&DMatrix<f64>, &Target)>,
    seed: u64,
) -> Result<Job<'a>> {
    let n = x.nrows();
    let p = x.ncols();
    if n < 2 || p == 0 {
        return Err(Error::Usage(format!(
            "a network needs at least 2 rows and 1 input, got {n} rows and {p} inputs"
        )));
    }
    let (arch, window, sequence, mut recipe, embedding) = read(model, params, p)?;
    let classes = match &y {
        Target::Classes(_, names) => names.len(),
        Target::Values(_) => 0,
    };
    let given_loss = params.contains_key("loss");
    let default_loss = match classes {
        0 => Loss::Mse,
        2 => Loss::BinaryCrossEntropy,
        _ => Loss::CategoricalCrossEntropy,
    };
    if !given_loss {
        recipe.loss = default_loss;
    }
    let regression_loss = matches!(
        recipe.loss,
        Loss::Mse | Loss::Mae | Loss::Huber | Loss::LogCosh
    );
    if classes == 0 && !regression_loss {
        return Err(Error::Usage(format!(
            "loss `{}` is for classes, but the target is numbers; use mse, mae, huber or \
             log_cosh",
            name_of(recipe.loss)?
        )));
    }
    if classes > 0 && regression_loss {
        return Err(Error::Usage(format!(
            "loss `{}` is for numbers, but the target is classes; use \
             categorical_cross_entropy, binary_cross_entropy, focal, contrastive or triplet",
            name_of(recipe.loss)?
        )));
    }
    if classes > 2 && recipe.loss == Loss::BinaryCrossEntropy {
        return Err(Error::Usage(format!(
            "binary_cross_entropy is for two classes, the target has {classes}; use \
             categorical_cross_entropy or focal"
        )));
    }
    let (head, outputs) = match (classes, recipe.loss) {
        (0, _) => {
            let Target::Values(v) = &y else {
                unreachable!()
            };
            let mean = v.iter().sum::<f64>() / n as f64;
            let var = v.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / n as f64;
            let std = if var > 0.0 { var.sqrt() } else { 1.0 };
            (Head::Value { mean, std }, 1)
        }
        (_, Loss::Contrastive | Loss::Triplet) => (
            Head::Embedding {
                centroids: Vec::new(),
            },
            embedding,
        ),
        (2, Loss::BinaryCrossEntropy | Loss::Focal) => (Head::Binary, 1),
        (k, _) => (Head::Classes, k),
    };
    let (mut input_mean, mut input_std) = (vec![0f32; p], vec![1f32; p]);
    for j in 0..p {
        let c = x.column(j);
        let mean = c.iter().sum::<f64>() / n as f64;
        let var = c.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / n as f64;
        input_mean[j] = mean as f32;
        input_std[j] = if var > 1e-24 { var.sqrt() as f32 } else { 1.0 };
    }
    let net = Network {
        arch,
        inputs: p,
        window,
        sequence,
        outputs,
        head,
        dropout: recipe.dropout as f32,
        input_mean,
        input_std,
        weights: Vec::new(),
        cache: TensorCache::default(),
    };
    let (y_mean, y_std) = match net.head {
        Head::Value { mean, std } => (mean, std),
        _ => (0.0, 1.0),
    };
    let labels_of = |t: &Target| match t {
        Target::Values(v) => {
            Labels::Values(v.iter().map(|a| ((a - y_mean) / y_std) as f32).collect())
        }
        Target::Classes(c, _) => Labels::Classes(c.iter().map(|&k| k as u32).collect()),
    };
    let all = labels_of(&y);
    // Rows that train and rows that watch: the split's validation rows, else the last
    // `validation_split` of the training rows.
    let mut train_rows: Vec<usize> = (0..n).collect();
    let (val_x, val_labels): (Option<DMatrix<f64>>, Option<Labels>) = match validation {
        Some((vx, vy)) if vx.nrows() > 0 => (Some(vx.clone()), Some(labels_of(vy))),
        _ => match recipe.validation_split {
            Some(f) if ((n as f64 * f) as usize) >= 1 && n - ((n as f64 * f) as usize) >= 2 => {
                let held = (n as f64 * f) as usize;
                let rows: Vec<usize> = (n - held..n).collect();
                train_rows.truncate(n - held);
                (Some(x.select_rows(&rows)), Some(all.subset(&rows)))
            }
            _ => (None, None),
        },
    };

    Ok(Job {
        model,
        net,
        recipe,
        x,
        train_rows,
        labels: all,
        validation: val_x.zip(val_labels),
        classes,
        seed,
    })
}

/// Trains a network of family `model` on `x` and `y` (validation rows watched for early
/// stopping when given) and returns it with its per-epoch training and validation loss.
pub fn fit(
    model: ModelType,
    params: &BTreeMap<String, ParamValue>,
    x: &DMatrix<f64>,
    y: Target,
    validation: Option<(&DMatrix<f64>, &Target)>,
    seed: u64,
) -> Result<(Network, Vec<Epoch>)> {
    let job = prepare(model, params, x, y, validation, seed)?;
    let mut rng = Pcg64::seed_from_u64(seed);
    let init = job.initial_weights(&mut rng);
    let (weights, history) = match job.recipe.backend {
        Backend::Candle => train_candle(&job, init, &mut rng)?,
        Backend::Torch => torch::train(&job, init, &mut rng)?,
    };
    let mut net = job.net;
    net.weights = weights;
    if let (Head::Embedding { .. }, Labels::Classes(codes)) = (&net.head, &job.labels) {
        let emb = net.outputs_of(net.tensors()?, x)?;
        let (k, width) = (job.classes, net.outputs);
        let mut sums = vec![vec![0f64; width]; k];
        let mut counts = vec![0usize; k];
        for (e, &c) in emb.iter().zip(codes) {
            counts[c as usize] += 1;
            for (s, v) in sums[c as usize].iter_mut().zip(e) {
                *s += *v as f64;
            }
        }
        net.head = Head::Embedding {
            centroids: sums
                .into_iter()
                .zip(counts)
                .map(|(s, c)| {
                    s.into_iter()
                        .map(|v| (v / c.max(1) as f64) as f32)
                        .collect()
                })
                .collect(),
        };
    }
    Ok((net, history))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The convolution by its definition, `o[b][c][t] = Σ k[c][i][j] · x[b][i][t + j − pad]`.
    fn direct(
        x: &[f64],
        k: &[f64],
        (b, ci, len, co, kw, pad): (usize, usize, usize, usize, usize, usize),
    ) -> Vec<f64> {
        let out_len = len + 2 * pad + 1 - kw;
        let mut o = vec![0.0; b * co * out_len];
        for n in 0..b {
            for c in 0..co {
                for t in 0..out_len {
                    let mut acc = 0.0;
                    for i in 0..ci {
                        for j in 0..kw {
                            let at = (t + j) as isize - pad as isize;
                            if at >= 0 && (at as usize) < len {
                                acc +=
                                    k[(c * ci + i) * kw + j] * x[(n * ci + i) * len + at as usize];
                            }
                        }
                    }
                    o[(n * co + c) * out_len + t] = acc;
                }
            }
        }
        o
    }

    #[test]
    fn the_convolution_and_its_kernel_gradient_match_the_definition() {
        let dims = (2, 3, 8, 4, 3, 1);
        let (b, ci, len, co, kw, _) = dims;
        let xs: Vec<f64> = (0..b * ci * len)
            .map(|i| ((i * 37 % 11) as f64 - 5.0) / 3.0)
            .collect();
        let ks: Vec<f64> = (0..co * ci * kw)
            .map(|i| ((i * 13 % 7) as f64 - 3.0) / 4.0)
            .collect();
        let weights: Vec<f64> = (0..b * co * len).map(|i| (i % 5) as f64 - 2.0).collect();
        let loss = |k: &[f64]| -> f64 {
            direct(&xs, k, dims)
                .iter()
                .zip(&weights)
                .map(|(o, w)| o * w)
                .sum()
        };
        let x = Tensor::from_slice(&xs, (b, ci, len), &Device::Cpu).unwrap();
        let k = Var::from_slice(&ks, (co, ci, kw), &Device::Cpu).unwrap();
        let o = conv1d(&x, k.as_tensor(), 1).unwrap();
        let got: Vec<f64> = o.flatten_all().unwrap().to_vec1().unwrap();
        for (g, want) in got.iter().zip(direct(&xs, &ks, dims)) {
            assert!((g - want).abs() < 1e-12, "{g} vs {want}");
        }
        let w = Tensor::from_slice(&weights, o.shape(), &Device::Cpu).unwrap();
        let grads = (o * w).unwrap().sum_all().unwrap().backward().unwrap();
        let gk: Vec<f64> = grads
            .get(k.as_tensor())
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        // The loss is linear in the kernel: central differences are exact up to rounding.
        for (i, g) in gk.iter().enumerate() {
            let (mut up, mut down) = (ks.clone(), ks.clone());
            up[i] += 0.5;
            down[i] -= 0.5;
            let fd = loss(&up) - loss(&down);
            assert!(
                (g - fd).abs() < 1e-9,
                "kernel gradient {i}: {g}, by differences {fd}"
            );
        }
    }
}
