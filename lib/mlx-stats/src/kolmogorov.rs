//! Distribution of the two-sided one-sample Kolmogorov-Smirnov statistic `D_n`, used
//! for the asymptotic two-sample p-value (`scipy.stats.kstwo.sf`).
//!
//! The method per region follows Simard & L'Ecuyer (2011), "Computing the Two-Sided
//! Kolmogorov-Smirnov Distribution", J. Stat. Software 39(11), with the same region
//! boundaries scipy uses, so that each region is computed by the same algorithm:
//! Ruben-Gambino closed forms at the extremes, the Durbin matrix (Marsaglia, Tsang &
//! Wang 2003) or Pomeranz (1974) recursions for small `n x²`, twice the one-sided
//! Smirnov tail (Birnbaum & Tingey 1951) for large `n x²`, and the Pelz-Good (1976)
//! expansion for large `n`.

use std::f64::consts::PI;

const E128: i32 = 128;

fn two_pow(e: i32) -> f64 {
    2f64.powi(e)
}

/// `ln(n! / n^n)` by Stirling's series with the `n ln n` term removed up front.
fn log_nfactorial_div_n_pow_n(n: f64) -> f64 {
    // B_{2j} / (2j (2j-1)) for j = 8, 7, ..., 1 (highest power of 1/n² first).
    let coeffs = [
        -3617.0 / 122_400.0,
        1.0 / 156.0,
        -691.0 / 360_360.0,
        1.0 / 1188.0,
        -1.0 / 1680.0,
        1.0 / 1260.0,
        -1.0 / 360.0,
        1.0 / 12.0,
    ];
    let rn = 1.0 / n;
    let x = rn / n;
    let poly = coeffs.iter().fold(0.0, |acc, c| acc * x + c);
    n.ln() / 2.0 - n + (2.0 * PI).ln() / 2.0 + rn * poly
}

/// `P(D_n >= x)` for the two-sided statistic (`scipy.stats.kstwo.sf(x, n)`).
pub fn kolmogn_sf(n: u64, x: f64) -> f64 {
    let nf = n as f64;
    if x.is_nan() {
        return f64::NAN;
    }
    if x >= 1.0 {
        return 0.0;
    }
    if x <= 0.0 {
        return 1.0;
    }
    let t = nf * x;
    if t <= 1.0 {
        // Ruben-Gambino: for 1/(2n) < x <= 1/n, P(D_n <= x) = n!/n^n (2t - 1)^n.
        if t <= 0.5 {
            return 1.0;
        }
        let cdf = if n <= 140 {
            (1..=n).fold(1.0, |acc, i| {
                acc * (i as f64 * (1.0 / nf) * (2.0 * t - 1.0))
            })
        } else {
            (log_nfactorial_div_n_pow_n(nf) + nf * (2.0 * t - 1.0).ln()).exp()
        };
        return clip(1.0 - cdf);
    }
    if t >= nf - 1.0 {
        // Ruben-Gambino: P(D_n >= x) = 2 (1 - x)^n.
        return clip(2.0 * (1.0 - x).powf(nf));
    }
    if x >= 0.5 {
        // The one-sided tails cannot both be exceeded: exactly twice Smirnov's.
        return clip(2.0 * smirnov_sf(n, x));
    }
    let nx2 = t * x;
    if n <= 140 {
        if nx2 <= 0.754693 {
            return clip(1.0 - durbin_cdf(n, x));
        }
        if nx2 <= 4.0 {
            return clip(1.0 - pomeranz_cdf(n, x));
        }
        return clip(2.0 * smirnov_sf(n, x));
    }
    if nx2 >= 370.0 {
        return 0.0;
    }
    if nx2 >= 2.2 {
        return clip(2.0 * smirnov_sf(n, x));
    }
    let cdf = if n <= 100_000 && nf * x.powf(1.5) <= 1.4 {
        durbin_cdf(n, x)
    } else {
        pelz_good_cdf(n, x)
    };
    clip(1.0 - cdf)
}

fn clip(p: f64) -> f64 {
    p.clamp(0.0, 1.0)
}

/// `P(D_n <= d)` by Durbin's matrix method as arranged by Marsaglia, Tsang & Wang:
/// with `d = (k - h)/n`, the `(k, k)` entry of `H^n` times `n!/n^n`, where `H` is
/// `(2k-1)²`. Powers are rescaled by `2^128` to stay in range.
fn durbin_cdf(n: u64, d: f64) -> f64 {
    if d >= 1.0 {
        return 1.0;
    }
    let nd = n as f64 * d;
    if nd <= 0.5 {
        return 0.0;
    }
    let k = nd.ceil() as usize;
    let h = k as f64 - nd;
    let m = 2 * k - 1;

    // v[j] = (1 - h^(j+1)) / (j+1)!,  w[j] = 1 / j!
    let mut v = vec![0.0; m];
    let mut w = vec![0.0; m];
    let mut fac = 1.0;
    for j in 1..=m {
        w[j - 1] = fac;
        fac /= j as f64;
        v[j - 1] = (1.0 - h.powi(j as i32)) * fac;
    }
    let tt = (2.0 * h - 1.0).max(0.0).powi(m as i32) - 2.0 * h.powi(m as i32);
    v[m - 1] = (1.0 + tt) * fac;

    let mut hm = vec![0.0; m * m];
    for col in 1..m {
        for row in (col - 1)..m {
            hm[row * m + col] = w[row - (col - 1)];
        }
    }
    for row in 0..m {
        hm[row * m] = v[row];
    }
    for col in 0..m {
        hm[(m - 1) * m + col] = v[m - 1 - col];
    }

    let mut pwr = identity(m);
    let mut nn = n;
    let mut expnt: i32 = 0;
    let mut h_expnt: i32 = 0;
    while nn > 0 {
        if nn % 2 == 1 {
            pwr = matmul(&pwr, &hm, m);
            expnt += h_expnt;
        }
        hm = matmul(&hm, &hm, m);
        h_expnt *= 2;
        if hm[(k - 1) * m + (k - 1)].abs() > two_pow(E128) {
            let s = two_pow(-E128);
            hm.iter_mut().for_each(|x| *x *= s);
            h_expnt += E128;
        }
        nn /= 2;
    }
    let mut p = pwr[(k - 1) * m + (k - 1)];
    let nf = n as f64;
    for i in 1..=n {
        p = i as f64 * p / nf;
        if p.abs() < two_pow(-E128) {
            p *= two_pow(E128);
            expnt -= E128;
        }
    }
    if expnt != 0 {
        p *= 2f64.powi(expnt);
    }
    p.clamp(0.0, 1.0)
}

fn identity(m: usize) -> Vec<f64> {
    let mut out = vec![0.0; m * m];
    for i in 0..m {
        out[i * m + i] = 1.0;
    }
    out
}

fn matmul(a: &[f64], b: &[f64], m: usize) -> Vec<f64> {
    let mut out = vec![0.0; m * m];
    for i in 0..m {
        for l in 0..m {
            let x = a[i * m + l];
            if x == 0.0 {
                continue;
            }
            let row = &b[l * m..(l + 1) * m];
            for (o, y) in out[i * m..(i + 1) * m].iter_mut().zip(row) {
                *o += x * y;
            }
        }
    }
    out
}

/// Interval `[j1, j2]` of possibly non-zero entries of row `i` in Pomeranz's recursion
/// (`j2 < j1` when the row is empty).
fn pomeranz_bounds(i: usize, n: i64, ll: i64, ceilf: i64, roundf: i64) -> (i64, i64) {
    let (j1, j2) = if i == 0 {
        (-ll - ceilf - 1, ll + ceilf - 1)
    } else {
        let half = (i + 1).div_euclid(2) as i64;
        if (i + 1).is_multiple_of(2) {
            if half == n + 1 {
                (n - ll - ceilf - 1, n + ll + ceilf - 1)
            } else {
                (half - 1 - ll - roundf - 1, half + ll - 1 + ceilf - 1)
            }
        } else {
            (half - 1 - ll - 1, half + ll + roundf - 1)
        }
    };
    ((j1 + 2).max(0), j2.min(n))
}

/// `P(D_n <= x)` by Pomeranz's recursion: rows of Poisson-weighted convolutions over
/// the `2n + 2` breakpoints; `n!` times the last entry. Only two rows are kept, each
/// as a window starting at a known column.
fn pomeranz_cdf(n: u64, x: f64) -> f64 {
    let ni = n as i64;
    let nf = n as f64;
    let t = nf * x;
    let ll = t.floor() as i64;
    let f = t - ll as f64;
    let g = f.min(1.0 - f);
    let ceilf = i64::from(f > 0.0);
    let roundf = i64::from(f > 0.5);
    let npwrs = 2 * (ll as usize + 1);
    // (g/n)^m / m!, (2g/n)^m / m!, ((1-2g)/n)^m / m!
    let mut gp = vec![1.0; npwrs];
    let mut twogp = vec![1.0; npwrs];
    let mut onem2gp = vec![1.0; npwrs];
    let (a, b, c) = (g / nf, 2.0 * g / nf, (1.0 - 2.0 * g) / nf);
    for m in 1..npwrs {
        gp[m] = gp[m - 1] * a / m as f64;
        twogp[m] = twogp[m - 1] * b / m as f64;
        onem2gp[m] = onem2gp[m - 1] * c / m as f64;
    }
    let mut v0 = vec![0.0; npwrs];
    let mut v1 = vec![0.0; npwrs];
    v1[0] = 1.0;
    let (mut v0s, mut v1s) = (0i64, 0i64);
    let mut expnt: i32 = 0;
    let (mut j1, _) = pomeranz_bounds(0, ni, ll, ceilf, roundf);
    let rows = 2 * n as usize + 2;
    for i in 1..rows {
        let k1 = j1;
        std::mem::swap(&mut v0, &mut v1);
        std::mem::swap(&mut v0s, &mut v1s);
        v1.iter_mut().for_each(|x| *x = 0.0);
        let (nj1, nj2) = pomeranz_bounds(i, ni, ll, ceilf, roundf);
        j1 = nj1;
        let pw = if i == 1 || i == rows - 1 {
            &gp
        } else if i % 2 == 1 {
            &twogp
        } else {
            &onem2gp
        };
        let ln2 = nj2 - k1 + 1;
        if ln2 > 0 {
            let ln2 = ln2 as usize;
            let from = (k1 - v0s).max(0) as usize;
            let src = &v0[from.min(npwrs)..(from + ln2).min(npwrs)];
            let kernel = &pw[..ln2.min(npwrs)];
            // Entries conv_start .. conv_start + conv_len of the full convolution.
            let conv_start = (j1 - k1) as usize;
            let conv_len = (nj2 - j1 + 1).max(0) as usize;
            for (out_idx, slot) in v1.iter_mut().take(conv_len).enumerate() {
                let kk = conv_start + out_idx;
                let mut s = 0.0;
                for (q, &sv) in src.iter().enumerate().take(kk + 1) {
                    if let Some(&kv) = kernel.get(kk - q) {
                        s += sv * kv;
                    }
                }
                *slot = s;
            }
            let vmax = v1.iter().copied().fold(0.0, f64::max);
            if vmax > 0.0 && vmax < two_pow(-E128) {
                v1.iter_mut().for_each(|x| *x *= two_pow(E128));
                expnt -= E128;
            }
            v1s = v0s + j1 - k1;
        }
    }
    let mut ans = v1[(ni - v1s) as usize];
    for m in 1..=n {
        if ans.abs() > two_pow(E128) {
            ans *= two_pow(-E128);
            expnt += E128;
        }
        ans *= m as f64;
    }
    if expnt != 0 {
        ans *= 2f64.powi(expnt);
    }
    ans.clamp(0.0, 1.0)
}

/// `P(D_n <= x)` by the Pelz-Good expansion of the Li-Chien/Korolyuk series
/// `K0(z) + K1(z)/√n + K2(z)/n + K3(z)/n^1.5`, `z = x √n`, via Jacobi theta identities.
fn pelz_good_cdf(n: u64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let nf = n as f64;
    let z = nf.sqrt() * x;
    let (z2, z3, z4, z6) = (z * z, z * z * z, z.powi(4), z.powi(6));
    let pi2 = PI * PI;
    let pi4 = pi2 * pi2;
    let pi6 = pi4 * pi2;
    let qlog = -pi2 / 8.0 / z2;
    if qlog < -708.0 {
        return 0.0;
    }
    let q = qlog.exp();
    let k1a = -z2;
    let k1b = pi2 / 4.0;
    let k2a = 6.0 * z6 + 2.0 * z4;
    let k2b = (2.0 * z4 - 5.0 * z2) * pi2 / 4.0;
    let k2c = pi4 * (1.0 - 2.0 * z2) / 16.0;
    let k3d = pi6 * (5.0 - 30.0 * z2) / 64.0;
    let k3c = pi4 * (-60.0 * z2 + 212.0 * z4) / 16.0;
    let k3b = pi2 * (135.0 * z4 - 96.0 * z6) / 4.0;
    let k3a = -30.0 * z6 - 90.0 * z.powi(8);

    let mut k = [0.0f64; 4];
    let maxk = (16.0 * z / PI).ceil() as i64;
    // Horner over odd m = 2k - 1 of c_m q^(m²).
    for kk in (1..=maxk).rev() {
        let m = (2 * kk - 1) as f64;
        let (m2, m4, m6) = (m * m, m.powi(4), m.powi(6));
        let qp = q.powf(8.0 * kk as f64);
        let c = [
            1.0,
            k1a + k1b * m2,
            k2a + k2b * m2 + k2c * m4,
            k3a + k3b * m2 + k3c * m4 + k3d * m6,
        ];
        for (acc, ci) in k.iter_mut().zip(c) {
            *acc = *acc * qp + ci;
        }
    }
    let sqrt2pi = (2.0 * PI).sqrt();
    let denom = [z, 6.0 * z4, 72.0 * z.powi(7), 6480.0 * z.powi(10)];
    for (acc, d) in k.iter_mut().zip(denom) {
        *acc = *acc * q * sqrt2pi / d;
    }
    // Terms over all integers k of K2 and K3.
    let q2 = (-pi2 / 2.0 / z2).exp();
    let sqrt3z = 3f64.sqrt() * z;
    let mut k2extra = 0.0;
    let mut k3extra = 0.0;
    for kk in (1..=maxk).rev() {
        let kf = kk as f64;
        let ks2 = kf * kf;
        let qp = q2.powf(ks2);
        k2extra += ks2 * qp;
        let kspi = PI * kf;
        k3extra += (sqrt3z + kspi) * (sqrt3z - kspi) * ks2 * qp;
    }
    k[2] += k2extra * pi2 * sqrt2pi / (-36.0 * z3);
    k[3] += k3extra * pi2 * sqrt2pi / (216.0 * z6);
    for (i, acc) in k.iter_mut().enumerate() {
        *acc /= nf.powf(i as f64 / 2.0);
    }
    k.iter().sum()
}

/// `P(D_n^+ >= x)`, the one-sided Smirnov tail (`scipy.special.smirnov(n, x)`), by the
/// Birnbaum-Tingey sum
/// `x Σ_{j=0}^{⌊n(1-x)⌋} C(n, j) (1 - x - j/n)^(n-j) (x + j/n)^(j-1)`,
/// evaluated in logarithms with compensated summation (all terms are positive, so
/// the relative error stays near `n ε`). For `n > 10^6` the tail is approximated by
/// `exp(-(6nx + 1)² / 18n)`, as scipy does.
pub fn smirnov_sf(n: u64, x: f64) -> f64 {
    if x.is_nan() || !(0.0..=1.0).contains(&x) {
        return f64::NAN;
    }
    let nf = n as f64;
    if n == 1 {
        return 1.0 - x;
    }
    if x == 0.0 {
        return 1.0;
    }
    if x == 1.0 {
        return 0.0;
    }
    let nx = nf * x;
    let nxfl = nx.floor();
    let alpha = nx - nxfl;
    if nxfl == 0.0 || (nxfl == 1.0 && alpha == 0.0) {
        // x <= 1/n: P(D_n^+ <= x) = x (1 + x)^(n-1)
        return clip(1.0 - x * (1.0 + x).powf(nf - 1.0));
    }
    if -2.0 * nf * x * x < -708.396_418_532_264_1 {
        return 0.0;
    }
    if nxfl >= nf - 1.0 {
        return (1.0 - x).powf(nf);
    }
    if n > 1_000_000 {
        return (-(6.0 * nx + 1.0).powi(2) / 18.0 / nf).exp();
    }
    // j = 0 ..= n - ⌊nx⌋ - 1: the terms with a positive base 1 - x - j/n (when n x is
    // an integer the next term is exactly zero).
    let last = (nf - nxfl - 1.0) as u64;
    let mut ln_binom = 0.0f64;
    let (mut sum, mut comp) = (0.0f64, 0.0f64);
    for j in 0..=last {
        let jf = j as f64;
        if j > 0 {
            ln_binom += ((nf - jf + 1.0) / jf).ln();
        }
        // 1 - x - j/n and x + j/n, from the integer and fractional parts of n x.
        let lower = (nf - nxfl - jf - alpha) / nf;
        let upper = (nxfl + jf + alpha) / nf;
        let term = (ln_binom + (nf - jf) * lower.ln() + (jf - 1.0) * upper.ln()).exp();
        // Neumaier summation.
        let s = sum + term;
        if sum.abs() >= term.abs() {
            comp += (sum - s) + term;
        } else {
            comp += (term - s) + sum;
        }
        sum = s;
        if term != 0.0 && 4.0 * (last - j) as f64 * term < f64::EPSILON * sum && j != last {
            break;
        }
    }
    clip(x * (sum + comp))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closed_forms() {
        // n = 1: D_1 >= x with probability 1 - (2x - 1) for x in (1/2, 1).
        assert!((kolmogn_sf(1, 0.75) - 0.5).abs() < 1e-15);
        // x >= 1 - 1/n: 2 (1 - x)^n.
        assert!((kolmogn_sf(4, 0.8) - 2.0 * 0.2f64.powi(4)).abs() < 1e-15);
        assert_eq!(smirnov_sf(1, 0.3), 0.7);
        // smirnov(n, x) for x >= 1 - 1/n is (1 - x)^n.
        assert!((smirnov_sf(5, 0.9) - 0.1f64.powi(5)).abs() < 1e-18);
    }

    #[test]
    fn regions_agree_at_their_boundaries() {
        // Durbin and Pomeranz compute the same distribution: compare them directly.
        for (n, x) in [(10u64, 0.2), (50, 0.1), (100, 0.08), (140, 0.05)] {
            let a = durbin_cdf(n, x);
            let b = pomeranz_cdf(n, x);
            assert!(
                (a - b).abs() < 1e-12 * a.max(1e-300),
                "n={n} x={x}: {a} vs {b}"
            );
        }
        // Pelz-Good is an asymptotic approximation of the same: close for large n.
        let (n, x) = (2000u64, 0.02);
        let (a, b) = (durbin_cdf(n, x), pelz_good_cdf(n, x));
        assert!((a - b).abs() < 1e-5, "{a} vs {b}");
    }
}
