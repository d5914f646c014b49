//! The baseline forecasters every forecasting leaderboard carries: naive (the last
//! value), seasonal naive (the value one season back) and drift (the line through the
//! first and last values), with the prediction variances of Hyndman & Athanasopoulos,
//! *Forecasting: Principles and Practice*, §5.5: `h σ²`, `(⌊(h−1)/m⌋ + 1) σ²` and
//! `h σ² (1 + h/T)`, where `σ²` is the mean squared one-step residual (drift: of the
//! residuals about the slope, over `T − 2`).

use crate::arima::Forecast;

/// A baseline method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// The last value.
    Naive,
    /// The value of the same season in the last full season; `m` the season length.
    SeasonalNaive(usize),
    /// The last value plus the average change per step.
    Drift,
}

/// Forecasts `h` steps of `y`; `None` when `y` is too short for the method (one value;
/// one season and one more value; two values).
pub fn forecast(y: &[f64], method: Method, h: usize) -> Option<Forecast> {
    let n = y.len();
    let (mean, var): (Vec<f64>, Vec<f64>) = match method {
        Method::Naive => {
            if n < 2 {
                return None;
            }
            let s2 = y.windows(2).map(|w| (w[1] - w[0]).powi(2)).sum::<f64>() / (n - 1) as f64;
            (1..=h).map(|k| (y[n - 1], k as f64 * s2)).unzip()
        }
        Method::SeasonalNaive(m) => {
            if m == 0 || n <= m {
                return None;
            }
            let s2 = (m..n).map(|t| (y[t] - y[t - m]).powi(2)).sum::<f64>() / (n - m) as f64;
            (1..=h)
                .map(|k| {
                    let seasons = (k - 1) / m + 1;
                    (y[n + k - 1 - m * seasons], seasons as f64 * s2)
                })
                .unzip()
        }
        Method::Drift => {
            if n < 3 {
                return None;
            }
            let slope = (y[n - 1] - y[0]) / (n - 1) as f64;
            let s2 = y
                .windows(2)
                .map(|w| (w[1] - w[0] - slope).powi(2))
                .sum::<f64>()
                / (n - 2) as f64;
            (1..=h)
                .map(|k| {
                    let k = k as f64;
                    (y[n - 1] + k * slope, k * s2 * (1.0 + k / n as f64))
                })
                .unzip()
        }
    };
    Some(Forecast { mean, var })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_baselines() {
        let y = [10.0, 12.0, 11.0, 15.0, 14.0, 16.0];
        // Naive: 16 for every step; steps 2, −1, 4, −1, 2: σ² = (4+1+16+1+4)/5 = 5.2.
        let f = forecast(&y, Method::Naive, 3).unwrap();
        assert_eq!(f.mean, vec![16.0; 3]);
        assert!((f.var[0] - 5.2).abs() < 1e-12 && (f.var[2] - 15.6).abs() < 1e-12);
        // Seasonal naive, m = 2: 14, 16, 14, 16; residuals 1, 3, 3, 1: σ² = 5;
        // steps 1-2 one season back (σ²), 3-4 two (2σ²).
        let f = forecast(&y, Method::SeasonalNaive(2), 4).unwrap();
        assert_eq!(f.mean, vec![14.0, 16.0, 14.0, 16.0]);
        assert_eq!(f.var, vec![5.0, 5.0, 10.0, 10.0]);
        // Drift: slope (16 − 10)/5 = 1.2; residuals 0.8, −2.2, 2.8, −2.2, 0.8:
        // σ² = (0.64+4.84+7.84+4.84+0.64)/4 = 4.7; h = 2: 2 · 4.7 · (1 + 2/6).
        let f = forecast(&y, Method::Drift, 2).unwrap();
        assert!((f.mean[0] - 17.2).abs() < 1e-12 && (f.mean[1] - 18.4).abs() < 1e-12);
        assert!((f.var[1] - 2.0 * 4.7 * (1.0 + 2.0 / 6.0)).abs() < 1e-12);
        assert!(forecast(&y[..2], Method::SeasonalNaive(2), 1).is_none());
    }
}
