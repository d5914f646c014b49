//! The mlx side of bench/forecast: reads `series.json` (written by the Python side) and
//! prints, as JSON, the seconds of (1) the airline SARIMAX fit and a 12-step forecast
//! (median of `repeat` runs) and (2) automatic order selection on the daily series,
//! with what each found.
//!
//!   cargo run --release -p mlx-stats --example forecast_bench -- series.json

use std::time::Instant;

use mlx_stats::arima::auto::{self, Options};
use mlx_stats::arima::{self, Data, Order};

fn main() {
    let path = std::env::args()
        .nth(1)
        .expect("usage: forecast_bench SERIES.json");
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("series file")).expect("JSON");
    let floats = |k: &str| -> Vec<f64> {
        v[k].as_array()
            .expect(k)
            .iter()
            .map(|x| x.as_f64().expect("number"))
            .collect()
    };
    let air = floats("air_log");
    let daily = floats("daily");
    let repeat = v["repeat"].as_u64().unwrap_or(20) as usize;

    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..repeat {
        let t = Instant::now();
        let fit = arima::fit(
            &Data { y: &air, x: &[] },
            Order::sarima(0, 1, 1, 0, 1, 1, 12),
            false,
        )
        .expect("airline fit");
        let fc = fit.forecast_h(12).expect("forecast");
        times.push(t.elapsed().as_secs_f64());
        last = Some((fit, fc));
    }
    times.sort_by(f64::total_cmp);
    let (fit, fc) = last.expect("one run");

    let t = Instant::now();
    let sel = auto::auto_arima(
        &Data { y: &daily, x: &[] },
        &Options {
            m: 7,
            ..Options::default()
        },
    )
    .expect("auto-ARIMA");
    let auto_s = t.elapsed().as_secs_f64();
    println!(
        "{}",
        serde_json::json!({
            "airline_seconds": times[times.len() / 2],
            "airline_params": [fit.params.ma[0], fit.params.sma[0], fit.params.sigma2],
            "airline_llf": fit.llf,
            "airline_forecast_12": fc.mean[11],
            "auto_seconds": auto_s,
            "auto_order": sel.fit.order.to_string(),
            "auto_aic": sel.fit.aic(),
            "auto_fits": sel.tried.len(),
        })
    );
}
