//! Deterministic data for tests that simulate a deployment: a generator with no
//! dependency (the same numbers everywhere) and the design documents' demand story.

/// A 64-bit linear congruential generator with Box-Muller normals.
pub struct Lcg(pub u64);

impl Lcg {
    /// Uniform on (0, 1).
    pub fn uniform(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    /// Standard normal.
    pub fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

/// Demand from two drivers and noise: stable until the relationship changes, then
/// `x1` matters more (the change monitoring must catch).
pub fn demand(x1: f64, x2: f64, noise: f64, changed: bool) -> f64 {
    100.0 + 10.0 * x1 + 5.0 * x2 + 5.0 * noise + if changed { 14.0 * x1 } else { 0.0 }
}

/// The prediction and feedback logs (NDJSON) `mlx-serve` would write for the scored
/// rows of `mlx-serve batch` over `x1,x2` (the `demand` model's version 1), `per_day`
/// requests a day from `start`, each actual arriving 20 hours after its prediction.
pub fn demand_logs(
    scored_csv: &str,
    actual: &[f64],
    start: chrono::DateTime<chrono::Utc>,
    per_day: usize,
) -> (String, String) {
    use mlx_contracts::serve::{FeedbackRecord, PredictionRecord, PREDICTION_LOG_VERSION};
    use serde_json::{json, Map};
    let (mut predictions, mut feedback) = (String::new(), String::new());
    for (i, line) in scored_csv.lines().skip(1).enumerate() {
        let f: Vec<f64> = line
            .split(',')
            .map(|v| v.parse().expect("a number"))
            .collect();
        let at = start
            + chrono::Duration::days((i / per_day) as i64)
            + chrono::Duration::seconds((i % per_day) as i64);
        let mut features = Map::new();
        features.insert("x1".into(), json!(f[0]));
        features.insert("x2".into(), json!(f[1]));
        let mut output = Map::new();
        output.insert("prediction".into(), json!(f[2]));
        let p = PredictionRecord {
            schema_version: PREDICTION_LOG_VERSION,
            request_id: format!("r{i}"),
            at,
            model: "demand".into(),
            version: Some(1),
            variant: "live".into(),
            features,
            output,
        };
        let fb = FeedbackRecord {
            schema_version: PREDICTION_LOG_VERSION,
            request_id: format!("r{i}"),
            at: at + chrono::Duration::hours(20),
            actual: json!(actual[i]),
        };
        predictions.push_str(&(serde_json::to_string(&p).expect("serialisable") + "\n"));
        feedback.push_str(&(serde_json::to_string(&fb).expect("serialisable") + "\n"));
    }
    (predictions, feedback)
}

/// A simulated deployment of the demand model: `config` trained and promoted on 2,000
/// rows of the stable relationship, then `days` days of `per_day` predictions (the
/// model's own, through `mlx-serve batch`) from 2026-01-01, with the relationship
/// changed from day `change_day`, written as mlx-serve's prediction log, and the
/// actuals as its feedback.
pub fn deployment(config: &str, days: i64, change_day: i64, per_day: usize) -> crate::Sandbox {
    use std::fmt::Write as _;

    use chrono::TimeZone;
    let run = |dir: &std::path::Path, bin: &str, args: &[&str]| {
        let out = crate::std_command(bin)
            .current_dir(dir)
            .env("MLX_ACTOR", "ci")
            .args(args)
            .output()
            .expect("running mlx");
        assert!(
            out.status.success(),
            "{bin} {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let mut rng = Lcg(42);
    let mut train = String::from("x1,x2,y\n");
    for _ in 0..2000 {
        let (x1, x2) = (rng.normal(), rng.normal());
        let _ = writeln!(train, "{x1},{x2},{}", demand(x1, x2, rng.normal(), false));
    }
    let s = crate::Sandbox::new();
    s.write("train.csv", &train);
    s.write("mlx.yaml", config);
    let d = s.path();
    run(d, "mlx", &["run"]);

    let mut live = String::from("x1,x2\n");
    let mut actual = Vec::new();
    for day in 0..days {
        for _ in 0..per_day {
            let (x1, x2) = (rng.normal(), rng.normal());
            let _ = writeln!(live, "{x1},{x2}");
            actual.push(demand(x1, x2, rng.normal(), day >= change_day));
        }
    }
    s.write("live.csv", &live);
    run(
        d,
        "mlx-serve",
        &["batch", "--input", "live.csv", "--output", "scored.csv"],
    );
    let scored = s.read("scored.csv");
    let start = chrono::Utc
        .with_ymd_and_hms(2026, 1, 1, 9, 0, 0)
        .single()
        .expect("a date");
    let (predictions, feedback) = demand_logs(&scored, &actual, start, per_day);
    s.write(
        ".mlx/predictions/predictions-20260101T000000-1-0001.ndjson",
        &predictions,
    );
    s.write(
        ".mlx/predictions/feedback-20260101T000000-1-0001.ndjson",
        &feedback,
    );
    s
}
