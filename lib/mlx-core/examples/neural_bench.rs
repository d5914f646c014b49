//! Training throughput of mlx's networks, for bench/neural/run.sh: trains one network on
//! a CSV file (numeric columns, the last one the class) and prints one JSON line with the
//! seconds spent in training and the samples per second.
//!
//!   neural_bench <mlp|lstm> <data.csv> <epochs> <batch_size> [candle|torch:<device>]
//!
//! The last argument picks the backend (default candle); `torch:cuda` trains on the GPU
//! in a build with the `torch` feature.

use std::collections::BTreeMap;
use std::time::Instant;

use mlx_contracts::config::{ModelType, ParamValue};
use mlx_core::model::neural;
use mlx_core::model::Target;
use nalgebra::DMatrix;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if !(5..=6).contains(&args.len()) {
        eprintln!(
            "usage: neural_bench <mlp|lstm> <data.csv> <epochs> <batch_size> [candle|torch:<device>]"
        );
        std::process::exit(2);
    }
    let text = std::fs::read_to_string(&args[2]).expect("read the data");
    let rows: Vec<Vec<f64>> = text
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(|v| v.parse().expect("a number")).collect())
        .collect();
    let p = rows[0].len() - 1;
    let x = DMatrix::from_fn(rows.len(), p, |i, j| rows[i][j]);
    let codes: Vec<usize> = rows.iter().map(|r| r[p] as usize).collect();
    let classes: Vec<String> = (0..=*codes.iter().max().unwrap())
        .map(|k| k.to_string())
        .collect();
    let epochs: i64 = args[3].parse().expect("epochs");
    let batch: i64 = args[4].parse().expect("batch size");
    let mut params: BTreeMap<String, ParamValue> = [
        ("optimizer", ParamValue::String("adam".into())),
        ("learning_rate", ParamValue::Float(0.001)),
        ("epochs", ParamValue::Int(epochs)),
        ("batch_size", ParamValue::Int(batch)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    if let Some(device) = args.get(5).and_then(|b| b.strip_prefix("torch:")) {
        params.insert("backend".into(), ParamValue::String("torch".into()));
        params.insert("device".into(), ParamValue::String(device.into()));
    }
    let model = match args[1].as_str() {
        "mlp" => {
            params.insert(
                "hidden".into(),
                ParamValue::List(vec![ParamValue::Int(128), ParamValue::Int(64)]),
            );
            ModelType::Mlp
        }
        _ => {
            params.insert("units".into(), ParamValue::Int(64));
            params.insert("window".into(), ParamValue::Int(16));
            ModelType::Lstm
        }
    };
    let started = Instant::now();
    let (net, history) = neural::fit(
        model,
        &params,
        &x,
        Target::Classes(&codes, &classes),
        None,
        0,
    )
    .expect("training");
    let seconds = started.elapsed().as_secs_f64();
    let accuracy = {
        let proba = net.predict(&x).expect("prediction");
        let right = (0..x.nrows())
            .filter(|&i| {
                let row = proba.row(i);
                let best = (0..row.len())
                    .max_by(|&a, &b| row[a].total_cmp(&row[b]))
                    .unwrap();
                best == codes[i]
            })
            .count();
        right as f64 / x.nrows() as f64
    };
    println!(
        "{{\"seconds\": {seconds}, \"samples_per_s\": {}, \"final_loss\": {}, \"train_accuracy\": {accuracy}}}",
        (x.nrows() as f64 * history.len() as f64) / seconds,
        history.last().map_or(f64::NAN, |h| h.0)
    );
}
