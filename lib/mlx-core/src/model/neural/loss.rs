//! Loss functions on tensors, each the mean over the batch, differentiable through
//! candle's autodiff. The definitions are PyTorch's where PyTorch has one
//! (`BCEWithLogitsLoss`, `CrossEntropyLoss`, `MSELoss`, `L1Loss`, `HuberLoss`,
//! `TripletMarginLoss`) and torchvision's `sigmoid_focal_loss` for binary focal loss;
//! tests/oracles/neural_losses.py records them into the fixtures the tests compare with.

use candle_core::{DType, Tensor, D};

use crate::error::{Error, Result};

/// The `eps` PyTorch's `pairwise_distance` adds to each difference.
pub(crate) const PAIR_EPS: f64 = 1e-6;

/// Binary cross-entropy of each logit: `max(z, 0) − z·y + log(1 + e^−|z|)`, which never
/// overflows.
fn bce_elements(z: &Tensor, y: &Tensor) -> candle_core::Result<Tensor> {
    (z.relu()? - (z * y)?)? + ((z.abs()?.neg()?.exp()? + 1.0)?.log()?)
}

/// `log softmax` over the last dimension (the maximum subtracted first, outside the
/// gradient: it cancels).
pub fn log_softmax(z: &Tensor) -> candle_core::Result<Tensor> {
    let shifted = z.broadcast_sub(&z.max_keepdim(D::Minus1)?.detach())?;
    let lse = shifted.exp()?.sum_keepdim(D::Minus1)?.log()?;
    shifted.broadcast_sub(&lse)
}

/// The logistic function, `(1 + tanh(x / 2)) / 2`.
pub fn sigmoid(x: &Tensor) -> candle_core::Result<Tensor> {
    ((x * 0.5)?.tanh()? + 1.0)? * 0.5
}

/// Binary cross-entropy on logits `z` (`n × 1`) against 0/1 labels `y` (`n × 1`):
/// `max(z, 0) − z·y + log(1 + e^−|z|)`.
pub fn binary_cross_entropy(z: &Tensor, y: &Tensor) -> Result<Tensor> {
    bce_elements(z, y)
        .and_then(|t| t.mean_all())
        .map_err(Error::from)
}

/// Categorical cross-entropy on logits `z` (`n × k`) against class codes `y` (`n`,
/// `u32`): `−log softmax(z)[y]`.
pub fn cross_entropy(z: &Tensor, y: &Tensor) -> Result<Tensor> {
    (|| {
        let picked = log_softmax(z)?.gather(&y.unsqueeze(1)?, 1)?;
        picked.neg()?.mean_all()
    })()
    .map_err(Error::from)
}

/// Focal loss. Binary (`z` is `n × 1`, `y` 0/1 floats): torchvision's
/// `sigmoid_focal_loss`, `α_t (1 − p_t)^γ · BCE` with `α_t = α` for positives and
/// `1 − α` for negatives (no weighting when `α < 0`). Several classes (`y` codes):
/// `α (1 − p_t)^γ · CE`, where `p_t` is the true class's probability.
pub fn focal(z: &Tensor, y: &Tensor, alpha: f64, gamma: f64) -> Result<Tensor> {
    (|| {
        if y.dtype() == DType::U32 {
            let log_pt = log_softmax(z)?.gather(&y.unsqueeze(1)?, 1)?;
            let weight = (log_pt.exp()?.neg()? + 1.0)?.powf(gamma)?;
            return ((weight * log_pt)?.neg()? * alpha)?.mean_all();
        }
        let ce = bce_elements(z, y)?;
        let p = sigmoid(z)?;
        let p_t = ((&p * y)? + ((p.neg()? + 1.0)? * (y.neg()? + 1.0)?)?)?;
        let mut loss = (ce * (p_t.neg()? + 1.0)?.powf(gamma)?)?;
        if alpha >= 0.0 {
            let alpha_t = ((y * alpha)? + ((y.neg()? + 1.0)? * (1.0 - alpha))?)?;
            loss = (loss * alpha_t)?;
        }
        loss.mean_all()
    })()
    .map_err(Error::from)
}

/// Mean squared error.
pub fn mse(o: &Tensor, y: &Tensor) -> Result<Tensor> {
    (o - y)
        .and_then(|d| d.sqr())
        .and_then(|t| t.mean_all())
        .map_err(Error::from)
}

/// Mean absolute error.
pub fn mae(o: &Tensor, y: &Tensor) -> Result<Tensor> {
    (o - y)
        .and_then(|d| d.abs())
        .and_then(|t| t.mean_all())
        .map_err(Error::from)
}

/// Huber loss: `½ r²` where `|r| ≤ δ`, `δ (|r| − ½ δ)` beyond, written as
/// `½ q² + δ (|r| − q)` with `q = min(|r|, δ)`.
pub fn huber(o: &Tensor, y: &Tensor, delta: f64) -> Result<Tensor> {
    (|| {
        let r = (o - y)?.abs()?;
        let q = r.clamp(0.0, delta)?;
        ((q.sqr()? * 0.5)? + ((r - &q)? * delta)?)?.mean_all()
    })()
    .map_err(Error::from)
}

/// Log-cosh loss, `log cosh(r) = |r| + log(1 + e^−2|r|) − log 2` (no overflow).
pub fn log_cosh(o: &Tensor, y: &Tensor) -> Result<Tensor> {
    (|| {
        let a = (o - y)?.abs()?;
        let tail = ((a.affine(-2.0, 0.0)?.exp()? + 1.0)?.log()? - std::f64::consts::LN_2)?;
        (a + tail)?.mean_all()
    })()
    .map_err(Error::from)
}

/// Euclidean distance between the rows of `a` and `b`, as PyTorch's
/// `pairwise_distance`: `‖a − b + ε‖₂`.
pub fn pairwise_distance(a: &Tensor, b: &Tensor) -> candle_core::Result<Tensor> {
    ((a - b)? + PAIR_EPS)?.sqr()?.sum(D::Minus1)?.sqrt()
}

/// Contrastive loss (Hadsell, Chopra and LeCun 2006) over pairs of embeddings:
/// `½ [s d² + (1 − s) max(0, m − d)²]`, `s` 1 for a pair of the same class.
pub fn contrastive(a: &Tensor, b: &Tensor, same: &Tensor, margin: f64) -> Result<Tensor> {
    (|| {
        let d = pairwise_distance(a, b)?;
        let pull = (same * d.sqr()?)?;
        let push = ((same.neg()? + 1.0)? * (d.neg()? + margin)?.relu()?.sqr()?)?;
        ((pull + push)? * 0.5)?.mean_all()
    })()
    .map_err(Error::from)
}

/// Triplet margin loss: `max(0, d(a, p) − d(a, n) + m)`.
pub fn triplet(a: &Tensor, p: &Tensor, n: &Tensor, margin: f64) -> Result<Tensor> {
    (|| {
        let gap = ((pairwise_distance(a, p)? - pairwise_distance(a, n)?)? + margin)?;
        gap.relu()?.mean_all()
    })()
    .map_err(Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    fn t(v: &[f64], rows: usize) -> Tensor {
        Tensor::from_slice(v, (rows, v.len() / rows), &Device::Cpu).unwrap()
    }

    fn scalar(x: Result<Tensor>) -> f64 {
        x.unwrap().to_scalar::<f64>().unwrap()
    }

    /// Values worked by hand.
    #[test]
    fn losses_equal_hand_computed_values() {
        let o = t(&[0.0, 2.0, -1.0], 3);
        let y = t(&[1.0, 0.5, 2.0], 3);
        // Residuals -1, 1.5, -3.
        assert!((scalar(mse(&o, &y)) - (1.0 + 2.25 + 9.0) / 3.0).abs() < 1e-12);
        assert!((scalar(mae(&o, &y)) - 5.5 / 3.0).abs() < 1e-12);
        // δ = 1: ½, 1.5 − ½, 3 − ½.
        assert!((scalar(huber(&o, &y, 1.0)) - (0.5 + 1.0 + 2.5) / 3.0).abs() < 1e-12);
        let lc = (1f64.cosh().ln() + 1.5f64.cosh().ln() + 3f64.cosh().ln()) / 3.0;
        assert!((scalar(log_cosh(&o, &y)) - lc).abs() < 1e-12);
        // BCE of logit 0 is log 2 whatever the label; of logit ln 3 and label 1, log(4/3).
        let z = t(&[0.0, 3f64.ln()], 2);
        let b = t(&[0.0, 1.0], 2);
        let want = (2f64.ln() + (4.0f64 / 3.0).ln()) / 2.0;
        assert!((scalar(binary_cross_entropy(&z, &b)) - want).abs() < 1e-12);
        // CE of equal logits over 4 classes is log 4.
        let z = t(&[1.0; 8], 2);
        let codes = Tensor::new(&[0u32, 3], &Device::Cpu).unwrap();
        assert!((scalar(cross_entropy(&z, &codes)) - 4f64.ln()).abs() < 1e-12);
        // Focal with γ = 0 and no α weighting is cross-entropy; with γ = 2 and p_t = ½
        // it is a quarter of it.
        let z = t(&[0.0, 3f64.ln()], 2);
        assert!((scalar(focal(&z, &b, -1.0, 0.0)) - want).abs() < 1e-12);
        let z0 = t(&[0.0], 1);
        let one = t(&[1.0], 1);
        let f = scalar(focal(&z0, &one, 0.25, 2.0));
        assert!((f - 0.25 * 0.25 * 2f64.ln()).abs() < 1e-12, "{f}");
        // Triplet: d(a, p) = 0, d(a, n) = 5, margin 1: nothing; swapped: 6.
        let a = t(&[0.0, 0.0], 1);
        let n = t(&[3.0, 4.0], 1);
        assert!(scalar(triplet(&a, &a, &n, 1.0)) < 1e-5);
        assert!((scalar(triplet(&a, &n, &a, 1.0)) - 6.0).abs() < 1e-5);
        // Contrastive: a same-class pair 5 apart costs ½ · 25; a different-class pair 1
        // apart with margin 2 costs ½ · 1.
        let same = Tensor::new(&[1.0f64], &Device::Cpu).unwrap();
        assert!((scalar(contrastive(&a, &n, &same, 2.0)) - 12.5).abs() < 1e-4);
        let b1 = t(&[0.0, 1.0], 1);
        let diff = Tensor::new(&[0.0f64], &Device::Cpu).unwrap();
        assert!((scalar(contrastive(&a, &b1, &diff, 2.0)) - 0.5).abs() < 1e-4);
    }

    /// Each loss's gradient (by autodiff) equals central finite differences.
    #[test]
    fn gradients_match_finite_differences() {
        let dev = Device::Cpu;
        let out = [0.3, -1.2, 2.5, 0.7, -0.4, 1.9];
        let y = t(&[0.5, -1.0, 0.2, 0.9, 0.1, -2.0], 6);
        let labels = t(&[1.0, 0.0, 1.0, 1.0, 0.0, 0.0], 6);
        let codes = Tensor::new(&[2u32, 0], &dev).unwrap();
        let same = Tensor::new(&[1.0f64, 0.0], &dev).unwrap();
        type LossOf = Box<dyn Fn(&Tensor) -> Result<Tensor>>;
        let (y2, l2, c2, s2) = (y.clone(), labels.clone(), codes.clone(), same.clone());
        let (y3, y4, l3) = (y.clone(), y.clone(), labels.clone());
        let cases: Vec<(&str, (usize, usize), LossOf)> = vec![
            ("mse", (6, 1), Box::new(move |o| mse(o, &y))),
            ("mae", (6, 1), Box::new(move |o| mae(o, &y2))),
            ("huber", (6, 1), Box::new(move |o| huber(o, &y3, 1.0))),
            ("log_cosh", (6, 1), Box::new(move |o| log_cosh(o, &y4))),
            (
                "bce",
                (6, 1),
                Box::new(move |o| binary_cross_entropy(o, &l2)),
            ),
            ("focal", (6, 1), Box::new(move |o| focal(o, &l3, 0.25, 2.0))),
            ("ce", (2, 3), Box::new(move |o| cross_entropy(o, &c2))),
            (
                "focal_k",
                (2, 3),
                Box::new(move |o| focal(o, &codes, 1.0, 2.0)),
            ),
            (
                "contrastive",
                (2, 3),
                // Row 0 against row 1 (same class) and against half of row 1 (not).
                Box::new(move |o| {
                    let a = o.narrow(0, 0, 1)?.repeat((2, 1))?;
                    let half = Tensor::new(&[[1.0f64], [0.5]], &Device::Cpu)?;
                    let b = o.narrow(0, 1, 1)?.repeat((2, 1))?.broadcast_mul(&half)?;
                    contrastive(&a, &b, &s2, 4.0)
                }),
            ),
            (
                "triplet",
                (2, 3),
                Box::new(move |o| {
                    let a = o.narrow(0, 0, 1)?;
                    let p = o.narrow(0, 1, 1)?;
                    triplet(&a, &p, &(&a * 0.2)?, 3.0)
                }),
            ),
        ];
        for (name, shape, f) in cases {
            let v = Var::from_tensor(&t(&out, shape.0).reshape(shape).unwrap()).unwrap();
            let loss = f(v.as_tensor()).unwrap();
            let grads = loss.backward().unwrap();
            let g: Vec<f64> = grads
                .get(v.as_tensor())
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap();
            let h = 1e-6;
            for (i, gi) in g.iter().enumerate() {
                let at = |d: f64| {
                    let mut w = out.to_vec();
                    w[i] += d;
                    let x = Tensor::from_slice(&w, shape, &Device::Cpu).unwrap();
                    f(&x).unwrap().to_scalar::<f64>().unwrap()
                };
                let numeric = (at(h) - at(-h)) / (2.0 * h);
                assert!(
                    (numeric - gi).abs() < 1e-6 * (1.0 + gi.abs()),
                    "{name}[{i}]: autodiff {gi}, finite differences {numeric}"
                );
            }
        }
    }
}
