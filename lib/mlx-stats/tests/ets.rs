//! Exponential smoothing against statsmodels' `ExponentialSmoothing`
//! (tests/oracles/ets.py -> tests/fixtures/ts/ets.json): the recursions at fixed
//! parameters and initial states exactly, and least-squares fits that reach
//! statsmodels' sum of squared errors.

use std::path::Path;

use mlx_stats::ets::{self, Params, Season, Spec};
use serde_json::Value;

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn spec(c: &Value) -> Spec {
    let m = c["seasonal_periods"].as_u64().unwrap_or(0) as usize;
    Spec {
        trend: c["trend"] == "add",
        damped: c["damped"] == true,
        season: match c["seasonal"].as_str() {
            Some("add") => Some((Season::Additive, m)),
            Some("mul") => Some((Season::Multiplicative, m)),
            _ => None,
        },
    }
}

fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs().max(1e-12)
}

#[test]
fn recursions_and_fits_agree_with_statsmodels() {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/ts/ets.json");
    let f: Value = serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
    let h = f["horizon"].as_u64().unwrap() as usize;
    for c in f["cases"].as_array().unwrap() {
        let name = c["name"].as_str().unwrap();
        let y = floats(&c["y"]);
        let s = spec(c);

        let fixed = &c["fixed"];
        let get = |k: &str| fixed["params"][k].as_f64();
        let init = &fixed["initial"];
        let params = Params {
            alpha: get("smoothing_level").unwrap(),
            beta: get("smoothing_trend").unwrap_or(0.0),
            gamma: get("smoothing_seasonal").unwrap_or(0.0),
            phi: get("damping_trend").unwrap_or(1.0),
            level: init["initial_level"].as_f64().unwrap(),
            trend: init["initial_trend"].as_f64().unwrap_or(0.0),
            season: init.get("initial_seasonal").map(floats).unwrap_or_default(),
        };
        let at = ets::with_params(&y, s, params).unwrap();
        for (t, (a, b)) in at.fitted.iter().zip(floats(&fixed["fitted"])).enumerate() {
            assert!(rel(*a, b) < 1e-12, "{name} t={t}: fitted {a} vs {b}");
        }
        // statsmodels' HoltWinters forecasts at multiples of the period read the seasonal
        // state of one period before its last (see tests/oracles/ets.py); there the
        // written-out recursions are the reference, elsewhere both.
        let m = s.season.map_or(0, |(_, m)| m);
        let ours = at.forecast(h);
        let quirk = |k: usize| m > 0 && (k + 1).is_multiple_of(m);
        for (k, (a, b)) in ours.iter().zip(floats(&fixed["forecast"])).enumerate() {
            if !quirk(k) {
                assert!(
                    rel(*a, b) < 1e-12,
                    "{name} h={}: forecast {a} vs {b}",
                    k + 1
                );
            }
        }
        for (k, (a, b)) in ours
            .iter()
            .zip(floats(&fixed["forecast_textbook"]))
            .enumerate()
        {
            assert!(
                rel(*a, b) < 1e-12,
                "{name} h={}: forecast {a} vs the recursions {b}",
                k + 1
            );
        }
        assert!(
            rel(at.sse, fixed["sse"].as_f64().unwrap()) < 1e-12,
            "{name}: sse"
        );

        let want = &c["fit"];
        let fit = ets::fit(&y, s).unwrap();
        let sm_sse = want["sse"].as_f64().unwrap();
        assert!(
            fit.sse <= sm_sse * (1.0 + 1e-6),
            "{name}: sse {} above statsmodels' {sm_sse}",
            fit.sse
        );
        assert!(
            (fit.aic() - want["aic"].as_f64().unwrap()).abs()
                < 1e-3 + (sm_sse - fit.sse).max(0.0) / sm_sse * y.len() as f64,
            "{name}: aic {} vs {}",
            fit.aic(),
            want["aic"]
        );
        for (k, (a, b)) in fit
            .forecast(h)
            .iter()
            .zip(floats(&want["forecast"]))
            .enumerate()
        {
            if !quirk(k) {
                assert!(
                    rel(*a, b) < 5e-3,
                    "{name} h={}: fitted forecast {a} vs statsmodels {b}",
                    k + 1
                );
            }
        }
    }
}
