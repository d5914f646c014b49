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
