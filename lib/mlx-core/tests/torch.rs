//! The `torch` backend against the candle backend: from the same seed both start from the
//! same weights and see the same batches, so their epoch losses agree for every
//! architecture and loss; libtorch's forward pass on the exported weights equals the
//! network's own; and on digits it learns as well. The device is `MLX_TORCH_DEVICE`
//! (default `cpu`; `cuda` on a GPU machine). Run with `bash scripts/torch.sh cargo test
//! -p mlx-core --features torch --test torch`.
#![cfg(feature = "torch")]

use std::collections::BTreeMap;

use mlx_contracts::config::{ModelType, ParamValue};
use mlx_core::model::neural::{self, Network};
use mlx_core::model::Target;
use nalgebra::DMatrix;

fn device() -> String {
    std::env::var("MLX_TORCH_DEVICE").unwrap_or_else(|_| "cpu".into())
}

/// How far the backends' epoch losses (relative) and outputs (absolute) may differ: the
/// GPU's TF32 convolutions and cuDNN's LSTM round differently from the CPU.
fn tolerance() -> (f64, f32) {
    if device() == "cpu" {
        (2e-3, 1e-3)
    } else {
        (3e-2, 1e-2)
    }
}

/// The digits (8 × 8 pixels, 10 classes): features and class codes.
fn digits() -> (DMatrix<f64>, Vec<usize>) {
    let p = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../config/examples/data/digits.csv"
    );
    let text = std::fs::read_to_string(p).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let target = header.iter().position(|h| *h == "label").unwrap();
    let (mut x, mut y) = (Vec::new(), Vec::new());
    let mut n = 0;
    for line in lines {
        let v: Vec<f64> = line.split(',').map(|c| c.parse().unwrap()).collect();
        for (j, a) in v.iter().enumerate() {
            if j != target {
                x.push(*a);
            }
        }
        y.push(v[target] as usize);
        n += 1;
    }
    (DMatrix::from_row_slice(n, header.len() - 1, &x), y)
}

fn params(pairs: &[(&str, ParamValue)]) -> BTreeMap<String, ParamValue> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

fn s(v: &str) -> ParamValue {
    ParamValue::String(v.into())
}

fn i(v: i64) -> ParamValue {
    ParamValue::Int(v)
}

fn f(v: f64) -> ParamValue {
    ParamValue::Float(v)
}

fn fit(
    model: ModelType,
    p: &BTreeMap<String, ParamValue>,
    x: &DMatrix<f64>,
    y: Target,
    backend: &str,
) -> (Network, Vec<(f64, Option<f64>)>) {
    let mut p = p.clone();
    p.insert("backend".into(), s(backend));
    if backend == "torch" {
        p.insert("device".into(), s(&device()));
    }
    neural::fit(model, &p, x, y, None, 7).unwrap()
}

fn assert_close(what: &str, a: f64, b: f64) {
    let rel = (a - b).abs() / b.abs().max(1e-3);
    assert!(
        rel < tolerance().0,
        "{what}: candle {b}, torch {a} (relative difference {rel:.2e})"
    );
}

#[test]
fn every_architecture_and_loss_trains_as_on_candle() {
    let (x, y) = digits();
    let (x, y) = (x.rows(0, 240).into_owned(), &y[..240]);
    let names: Vec<String> = (0..10).map(|k| k.to_string()).collect();
    let binary: Vec<usize> = y.iter().map(|&k| usize::from(k % 2 == 1)).collect();
    let two = vec!["even".to_string(), "odd".to_string()];
    let values: Vec<f64> = y.iter().map(|&k| k as f64 * 1.5 + 2.0).collect();
    let archs = [
        (
            ModelType::Mlp,
            vec![("hidden", ParamValue::List(vec![i(16)]))],
        ),
        (
            ModelType::Cnn1d,
            vec![("channels", ParamValue::List(vec![i(4)])), ("window", i(8))],
        ),
        (ModelType::Lstm, vec![("units", i(8)), ("window", i(8))]),
        (
            ModelType::Transformer,
            vec![
                ("d_model", i(8)),
                ("heads", i(2)),
                ("layers", i(1)),
                ("feedforward", i(16)),
                ("window", i(8)),
            ],
        ),
    ];
    let losses: [(&str, &str); 10] = [
        ("categorical_cross_entropy", "digits"),
        ("focal", "digits"),
        ("triplet", "digits"),
        ("contrastive", "digits"),
        ("binary_cross_entropy", "odd"),
        ("focal", "odd"),
        ("mse", "value"),
        ("mae", "value"),
        ("huber", "value"),
        ("log_cosh", "value"),
    ];
    let optimizers = ["sgd", "adam", "adamw", "rmsprop"];
    let mut checked = 0;
    for (a, (model, own)) in archs.iter().enumerate() {
        for (l, (loss, target)) in losses.iter().enumerate() {
            let mut p = params(own);
            p.extend(params(&[
                ("loss", s(loss)),
                ("epochs", i(2)),
                ("batch_size", i(32)),
                ("learning_rate", f(0.01)),
                ("optimizer", s(optimizers[(a + l) % 4])),
                ("embedding_dim", i(4)),
            ]));
            let t = || match *target {
                "digits" => Target::Classes(y, &names),
                "odd" => Target::Classes(&binary, &two),
                _ => Target::Values(&values),
            };
            let (net, candle) = fit(*model, &p, &x, t(), "candle");
            // libtorch's forward pass on the network's weights is the network's own.
            let ours = net.outputs(&x).unwrap();
            let theirs = neural::torch::outputs(&net, &x, &device()).unwrap();
            let worst = ours
                .iter()
                .flatten()
                .zip(theirs.iter().flatten())
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(
                worst < tolerance().1,
                "{} {loss}: outputs differ by {worst}",
                model.as_str()
            );
            let (_, torch) = fit(*model, &p, &x, t(), "torch");
            for (e, (c, t)) in candle.iter().zip(&torch).enumerate() {
                assert_close(
                    &format!("{} {loss} ({target}) epoch {}", model.as_str(), e + 1),
                    t.0,
                    c.0,
                );
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 40);
}

#[test]
fn an_lstm_learns_digits_and_keeps_the_best_epoch() {
    let (x, y) = digits();
    // Every fifth image is held out (the file's last images are another set of writers).
    let (train, test): (Vec<usize>, Vec<usize>) = (0..x.nrows()).partition(|r| r % 5 != 0);
    let pick = |r: &[usize]| x.select_rows(r);
    let train_y: Vec<usize> = train.iter().map(|&r| y[r]).collect();
    let names: Vec<String> = (0..10).map(|k| k.to_string()).collect();
    let p = params(&[
        ("units", i(32)),
        ("window", i(8)),
        ("epochs", i(40)),
        ("optimizer", s("adamw")),
        ("learning_rate", f(0.002)),
        ("batch_size", i(64)),
        ("patience", i(5)),
        ("validation_split", f(0.1)),
    ]);
    let (net, history) = fit(
        ModelType::Lstm,
        &p,
        &pick(&train),
        Target::Classes(&train_y, &names),
        "torch",
    );
    let proba = net.predict(&pick(&test)).unwrap();
    let right = (0..test.len())
        .filter(|&r| proba.row(r).transpose().argmax().0 == y[test[r]])
        .count();
    let accuracy = right as f64 / test.len() as f64;
    assert!(accuracy >= 0.9, "LSTM digits accuracy {accuracy:.3}");
    // Every epoch watched the validation rows, and the best of them was good.
    let best = history
        .iter()
        .filter_map(|h| h.1)
        .fold(f64::INFINITY, f64::min);
    assert!(
        history.iter().all(|h| h.1.is_some()) && best < 0.5,
        "{history:?}"
    );
}

#[test]
fn a_missing_gpu_is_a_clear_error() {
    if device() != "cpu" {
        return;
    }
    let gpus = neural::torch::device("cuda:7");
    let err = gpus.unwrap_err().to_string();
    assert!(err.contains("GPU 7") && err.contains("auto"), "{err}");
}

#[test]
fn the_cpu_repeats_a_run_with_a_fixed_seed() {
    if device() != "cpu" {
        return;
    }
    let (x, y) = digits();
    let (x, y) = (x.rows(0, 300).into_owned(), &y[..300]);
    let names: Vec<String> = (0..10).map(|k| k.to_string()).collect();
    let p = params(&[
        ("channels", ParamValue::List(vec![i(4)])),
        ("window", i(8)),
        ("dropout", f(0.2)),
        ("epochs", i(3)),
    ]);
    let run = || {
        fit(
            ModelType::Cnn1d,
            &p,
            &x,
            Target::Classes(y, &names),
            "torch",
        )
    };
    let (a, b) = (run(), run());
    assert_eq!(a.0.weights, b.0.weights);
    assert_eq!(a.1, b.1);
}
