//! Optimizers with PyTorch's update rules (`torch.optim.SGD`, `Adam`, `AdamW`,
//! `RMSprop`), learning-rate schedules and gradient clipping by global norm.

use candle_core::{backprop::GradStore, DType, Tensor, Var};

use crate::error::Result;
use mlx_contracts::config::{Optimizer as Kind, ScheduleKind};

/// An optimizer's settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    /// Which update rule.
    pub kind: Kind,
    /// SGD's momentum (0: plain SGD).
    pub momentum: f64,
    /// L2 penalty added to the gradient (SGD, Adam, RMSprop) or decoupled decay (AdamW).
    pub weight_decay: f64,
}

const BETA1: f64 = 0.9;
const BETA2: f64 = 0.999;
const EPS: f64 = 1e-8;
const RMS_ALPHA: f64 = 0.99;

/// An optimizer and its per-parameter state, kept in f64 whatever the weights' type.
pub struct Optimizer {
    settings: Settings,
    /// First moments (momentum buffers for SGD); empty before the first step.
    m: Vec<Vec<f64>>,
    /// Second moments; empty before the first step.
    v: Vec<Vec<f64>>,
    steps: i32,
}

fn values(t: &Tensor) -> candle_core::Result<Vec<f64>> {
    t.flatten_all()?.to_dtype(DType::F64)?.to_vec1::<f64>()
}

/// `state = decay · state + (1 − decay) · f(g)` elementwise, from zeros the first time.
fn average(state: &mut Vec<f64>, g: &[f64], decay: f64, f: impl Fn(f64) -> f64) {
    if state.is_empty() {
        state.resize(g.len(), 0.0);
    }
    state
        .iter_mut()
        .zip(g)
        .for_each(|(s, g)| *s = decay * *s + (1.0 - decay) * f(*g));
}

impl Optimizer {
    /// A fresh optimizer for `n` parameters.
    pub fn new(settings: Settings, n: usize) -> Self {
        Self {
            settings,
            m: vec![Vec::new(); n],
            v: vec![Vec::new(); n],
            steps: 0,
        }
    }

    /// One update of `vars` with their gradients at learning rate `lr`. The arithmetic
    /// is done on the values, off the tensors, rather than as a dozen small tensor
    /// operations per weight.
    pub fn step(&mut self, vars: &[Var], grads: &GradStore, lr: f64) -> Result<()> {
        self.steps += 1;
        let s = self.settings;
        let t = self.steps;
        for (i, var) in vars.iter().enumerate() {
            let Some(g) = grads.get(var.as_tensor()) else {
                continue;
            };
            let p = var.as_tensor();
            let mut g = values(g)?;
            let mut w = values(p)?;
            if s.weight_decay > 0.0 && s.kind != Kind::Adamw {
                g.iter_mut()
                    .zip(&w)
                    .for_each(|(g, w)| *g += s.weight_decay * w);
            }
            match s.kind {
                Kind::Sgd => {
                    if s.momentum > 0.0 {
                        let buf = &mut self.m[i];
                        if buf.is_empty() {
                            buf.clone_from(&g);
                        } else {
                            buf.iter_mut()
                                .zip(&g)
                                .for_each(|(b, g)| *b = s.momentum * *b + g);
                        }
                        g.clone_from(buf);
                    }
                    w.iter_mut().zip(&g).for_each(|(w, g)| *w -= lr * g);
                }
                Kind::Adam | Kind::Adamw => {
                    if s.kind == Kind::Adamw {
                        w.iter_mut().for_each(|w| *w *= 1.0 - lr * s.weight_decay);
                    }
                    average(&mut self.m[i], &g, BETA1, |g| g);
                    average(&mut self.v[i], &g, BETA2, |g| g * g);
                    let (c1, c2) = (1.0 - BETA1.powi(t), 1.0 - BETA2.powi(t));
                    for ((w, m), v) in w.iter_mut().zip(&self.m[i]).zip(&self.v[i]) {
                        *w -= lr * (m / c1) / ((v / c2).sqrt() + EPS);
                    }
                }
                Kind::Rmsprop => {
                    average(&mut self.v[i], &g, RMS_ALPHA, |g| g * g);
                    for ((w, g), v) in w.iter_mut().zip(&g).zip(&self.v[i]) {
                        *w -= lr * g / (v.sqrt() + EPS);
                    }
                }
            }
            let next = Tensor::from_vec(w, p.shape(), p.device())?.to_dtype(p.dtype())?;
            var.set(&next)?;
        }
        Ok(())
    }
}

/// Scales the gradients so that their global L2 norm is at most `max_norm`
/// (`torch.nn.utils.clip_grad_norm_`); returns the norm before clipping.
pub fn clip_grad_norm(vars: &[Var], grads: &mut GradStore, max_norm: f64) -> Result<f64> {
    let mut total = 0.0;
    for v in vars {
        if let Some(g) = grads.get(v.as_tensor()) {
            let sq = g
                .sqr()
                .and_then(|s| s.sum_all())
                .and_then(|s| s.to_dtype(DType::F64))
                .and_then(|s| s.to_scalar::<f64>())?;
            total += sq;
        }
    }
    let norm = total.sqrt();
    let scale = max_norm / (norm + 1e-6);
    if scale < 1.0 {
        for v in vars {
            if let Some(g) = grads.get(v.as_tensor()) {
                let clipped = (g * scale)?;
                grads.insert(v.as_tensor(), clipped);
            }
        }
    }
    Ok(norm)
}

/// A learning-rate schedule, stepped once per epoch (PyTorch's `StepLR`,
/// `ExponentialLR` and `CosineAnnealingLR` with `T_max` = the epochs).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Schedule {
    /// The rule.
    pub kind: ScheduleKind,
    /// Epochs between decays (`step`).
    pub step_size: usize,
    /// Decay factor (`step`, `exponential`).
    pub gamma: f64,
}

impl Schedule {
    /// The learning rate of epoch `epoch` (from 0) of `epochs`, from the base rate.
    pub fn rate(&self, base: f64, epoch: usize, epochs: usize) -> f64 {
        match self.kind {
            ScheduleKind::Constant => base,
            ScheduleKind::Step => base * self.gamma.powi((epoch / self.step_size.max(1)) as i32),
            ScheduleKind::Exponential => base * self.gamma.powi(epoch as i32),
            ScheduleKind::Cosine => {
                let t = epoch as f64 / epochs.max(1) as f64;
                base * 0.5 * (1.0 + (std::f64::consts::PI * t).cos())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    /// Two steps of each optimizer on `f(p) = ½ p²` (gradient `p`) from `p = 1`,
    /// worked by hand from PyTorch's update rules.
    #[test]
    fn updates_follow_pytorch_rules() {
        let run = |kind, momentum, weight_decay| {
            let p = Var::new(&[1.0f64], &Device::Cpu).unwrap();
            let mut o = Optimizer::new(
                Settings {
                    kind,
                    momentum,
                    weight_decay,
                },
                1,
            );
            let mut out = Vec::new();
            for _ in 0..2 {
                let loss = (p.as_tensor().sqr().unwrap() * 0.5)
                    .unwrap()
                    .sum_all()
                    .unwrap();
                let g = loss.backward().unwrap();
                o.step(std::slice::from_ref(&p), &g, 0.1).unwrap();
                out.push(p.as_tensor().to_vec1::<f64>().unwrap()[0]);
            }
            out
        };
        let close = |a: Vec<f64>, b: [f64; 2]| {
            assert!(
                (a[0] - b[0]).abs() < 1e-8 && (a[1] - b[1]).abs() < 1e-8,
                "{a:?} vs {b:?}"
            );
        };
        // SGD: 1 − 0.1 = 0.9; 0.9 − 0.1·0.9 = 0.81.
        close(run(Kind::Sgd, 0.0, 0.0), [0.9, 0.81]);
        // Momentum 0.9: buffer 1 → 0.9; buffer 0.9·1 + 0.9 = 1.8 → 0.9 − 0.18.
        close(run(Kind::Sgd, 0.9, 0.0), [0.9, 0.72]);
        // Adam's first steps move by lr·g/|g| (bias-corrected): 0.9, then m̂/√v̂ of
        // gradients 1 and 0.9.
        let m = 0.9 * 0.1 + 0.1 * 0.9;
        let v = 0.999 * 0.001 + 0.001 * 0.81;
        let second = 0.9 - 0.1 * (m / 0.19) / ((v / (1.0 - 0.999f64.powi(2))).sqrt() + 1e-8);
        close(
            run(Kind::Adam, 0.0, 0.0),
            [1.0 - 0.1 / (1.0 + 1e-8), second],
        );
        // AdamW decays first: 1·(1 − 0.1·0.1) − 0.1.
        let a = run(Kind::Adamw, 0.0, 0.1);
        assert!((a[0] - (0.99 - 0.1 / (1.0 + 1e-8))).abs() < 1e-12, "{a:?}");
        // RMSprop: v = 0.01, step 1/0.1 = 10 → 1 − 1 = 0.
        let r = run(Kind::Rmsprop, 0.0, 0.0);
        assert!((r[0] - (1.0 - 0.1 / (0.1 + 1e-8))).abs() < 1e-9, "{r:?}");
    }

    #[test]
    fn schedules_and_clipping() {
        let s = |kind| Schedule {
            kind,
            step_size: 2,
            gamma: 0.5,
        };
        assert_eq!(s(ScheduleKind::Step).rate(1.0, 3, 10), 0.5);
        assert_eq!(s(ScheduleKind::Exponential).rate(1.0, 3, 10), 0.125);
        assert!((s(ScheduleKind::Cosine).rate(1.0, 5, 10) - 0.5).abs() < 1e-12);
        assert_eq!(s(ScheduleKind::Constant).rate(0.3, 7, 10), 0.3);
        // Gradients (3, 4) have norm 5; clipped to 1 they become (0.6, 0.8).
        let p = Var::new(&[3.0f64, 4.0], &Device::Cpu).unwrap();
        let loss = (p.as_tensor().sqr().unwrap() * 0.5)
            .unwrap()
            .sum_all()
            .unwrap();
        let mut g = loss.backward().unwrap();
        let norm = clip_grad_norm(std::slice::from_ref(&p), &mut g, 1.0).unwrap();
        assert!((norm - 5.0).abs() < 1e-12);
        let c = g.get(p.as_tensor()).unwrap().to_vec1::<f64>().unwrap();
        assert!(
            (c[0] - 0.6).abs() < 1e-6 && (c[1] - 0.8).abs() < 1e-6,
            "{c:?}"
        );
    }
}
