//! mlx's losses against PyTorch's: values and gradients on the inputs
//! tests/oracles/neural_losses.py recorded with them (float64).

use candle_core::{Device, Tensor, Var};
use mlx_core::model::neural::loss;
use serde_json::Value;

fn fixture() -> Value {
    let p = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/neural/losses.json"
    );
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn matrix(v: &Value) -> Vec<Vec<f64>> {
    serde_json::from_value(v.clone()).unwrap()
}

fn var(m: &[Vec<f64>]) -> Var {
    let flat: Vec<f64> = m.iter().flatten().copied().collect();
    Var::from_tensor(&Tensor::from_slice(&flat, (m.len(), m[0].len()), &Device::Cpu).unwrap())
        .unwrap()
}

fn tensor(m: &[Vec<f64>]) -> Tensor {
    var(m).as_tensor().detach()
}

#[test]
fn losses_and_gradients_equal_pytorch() {
    let f = fixture();
    let inputs = &f["inputs"];
    let out = matrix(&inputs["out"]);
    let target = tensor(&matrix(&inputs["target"]));
    let binary = tensor(&matrix(&inputs["binary"]));
    let logits = matrix(&inputs["logits"]);
    let codes: Vec<u32> = serde_json::from_value(inputs["codes"].clone()).unwrap();
    let codes = Tensor::new(codes.as_slice(), &Device::Cpu).unwrap();
    let emb: Vec<Vec<Vec<f64>>> = serde_json::from_value(inputs["embeddings"].clone()).unwrap();
    let same: Vec<f64> = serde_json::from_value(inputs["same"].clone()).unwrap();
    let same = Tensor::new(same.as_slice(), &Device::Cpu).unwrap();

    let mut checked = 0;
    for (name, case) in f["cases"].as_object().unwrap() {
        let (vars, loss): (Vec<Var>, _) = match name.as_str() {
            "contrastive" => {
                let (a, b) = (var(&emb[0]), var(&emb[1]));
                let l = loss::contrastive(&a, &b, &same, 1.0);
                (vec![a, b], l)
            }
            "triplet" => {
                let (a, p, n) = (var(&emb[0]), var(&emb[1]), var(&emb[2]));
                let l = loss::triplet(&a, &p, &n, 1.0);
                (vec![a, p, n], l)
            }
            "ce" | "focal_k" => {
                let z = var(&logits);
                let l = if name == "ce" {
                    loss::cross_entropy(&z, &codes)
                } else {
                    loss::focal(&z, &codes, 1.0, 2.0)
                };
                (vec![z], l)
            }
            _ => {
                let o = var(&out);
                let l = match name.as_str() {
                    "mse" => loss::mse(&o, &target),
                    "mae" => loss::mae(&o, &target),
                    "huber" => loss::huber(&o, &target, 1.0),
                    "huber_0.5" => loss::huber(&o, &target, 0.5),
                    "log_cosh" => loss::log_cosh(&o, &target),
                    "bce" => loss::binary_cross_entropy(&o, &binary),
                    "focal" => loss::focal(&o, &binary, 0.25, 2.0),
                    "focal_unweighted" => loss::focal(&o, &binary, -1.0, 1.5),
                    other => panic!("no mlx loss for the fixture's case `{other}`"),
                };
                (vec![o], l)
            }
        };
        let loss = loss.unwrap();
        let value = loss.to_scalar::<f64>().unwrap();
        let want = case["value"].as_f64().unwrap();
        assert!(
            (value - want).abs() < 1e-12 * (1.0 + want.abs()),
            "{name}: mlx {value}, PyTorch {want}"
        );
        let grads = loss.backward().unwrap();
        for (k, v) in vars.iter().enumerate() {
            let g = grads.get(v.as_tensor()).unwrap().to_vec2::<f64>().unwrap();
            let want = matrix(&case["grad"][k]);
            for (row, (a, b)) in g.iter().zip(&want).enumerate() {
                for (col, (x, y)) in a.iter().zip(b).enumerate() {
                    assert!(
                        (x - y).abs() < 1e-12 * (1.0 + y.abs()),
                        "{name}: gradient [{k}][{row}][{col}] mlx {x}, PyTorch {y}"
                    );
                }
            }
        }
        checked += 1;
    }
    assert_eq!(checked, 12);
}
