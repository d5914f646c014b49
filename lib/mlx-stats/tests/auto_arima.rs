//! Automatic order selection against pmdarima and statsmodels
//! (tests/oracles/auto_arima.py -> tests/fixtures/ts/auto_arima.json): the KPSS
//! statistics and seasonal strengths exactly, the differences pmdarima chose where the
//! tests agree, and a selected model at least as good as pmdarima's on its criterion.

use std::path::Path;

use mlx_stats::arima::auto::{self, Options};
use mlx_stats::arima::{self, Data, Order};
use serde_json::Value;

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

#[test]
fn selection_agrees_with_pmdarima() {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/ts/auto_arima.json");
    let f: Value = serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
    for c in f["cases"].as_array().unwrap() {
        let name = c["name"].as_str().unwrap();
        let y = floats(&c["y"]);
        let m = c["m"].as_u64().unwrap() as usize;

        let mut x = y.clone();
        for (k, want) in floats(&c["kpss"]).into_iter().enumerate() {
            let got = auto::kpss(&x);
            assert!(
                (got - want).abs() < 1e-9 * want.abs().max(1.0),
                "{name}: KPSS after {k} differences {got} vs {want}"
            );
            x = x.windows(2).map(|w| w[1] - w[0]).collect();
        }
        if m > 1 {
            let want = c["seasonal_strength"].as_f64().unwrap();
            let got = auto::seasonal_strength(&y, m);
            assert!(
                (got - want).abs() < 1e-9,
                "{name}: seasonal strength {got} vs {want}"
            );
        }

        let sel = auto::auto_arima(
            &Data { y: &y, x: &[] },
            &Options {
                m,
                ..Options::default()
            },
        )
        .unwrap();
        let o = sel.fit.order;
        let want_o: Vec<usize> = c["order"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as usize)
            .collect();
        let want_s: Vec<usize> = c["seasonal_order"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as usize)
            .collect();
        let same_differences = o.sd == want_s[1];
        if same_differences {
            // The same differencing: the criteria are comparable.
            assert_eq!(o.d, want_o[1], "{name}: d");
            let aic = c["aic"].as_f64().unwrap();
            assert!(
                sel.fit.aic() <= aic + 1e-3,
                "{name}: selected {o} with AIC {} above pmdarima's {aic}",
                sel.fit.aic()
            );
            // pmdarima's model, fitted here, scores what pmdarima says.
            let theirs = Order::sarima(
                want_o[0],
                want_o[1],
                want_o[2],
                want_s[0],
                want_s[1],
                want_s[2],
                want_s[3].max(1),
            );
            let refit =
                arima::fit(&Data { y: &y, x: &[] }, theirs, c["with_intercept"] == true).unwrap();
            assert!(
                (refit.aic() - aic).abs() < 1e-2,
                "{name}: pmdarima's {theirs}: AIC {} vs {aic}",
                refit.aic()
            );
        } else {
            // The seasonal-strength rule (F_s above 0.64) seasonally differences a
            // series whose weekly pattern pmdarima's OCSB regression does not.
            assert!(
                c["seasonal_strength"].as_f64().unwrap() > 0.64 && o.sd == 1,
                "{name}"
            );
        }
        assert!(
            sel.tried.len() >= 4,
            "{name}: {} models tried",
            sel.tried.len()
        );
    }
}
