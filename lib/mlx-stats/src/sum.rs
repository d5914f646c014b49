//! Summation in numpy's order.
//!
//! `numpy.sum` over a float array uses pairwise summation: below 8 elements a plain
//! loop, up to 128 elements eight interleaved accumulators combined as
//! `((r0+r1)+(r2+r3))+((r4+r5)+(r6+r7))` plus a sequential tail, and above that a
//! recursive split at `n/2` rounded down to a multiple of 8. Reproducing the order
//! makes sums of terms with cancellation (KL divergence of nearly equal
//! distributions) agree with scipy to the last bits rather than to 1e-13.

/// `numpy.sum(values)` for a contiguous float64 array.
pub fn np_sum(values: &[f64]) -> f64 {
    let n = values.len();
    if n < 8 {
        let mut s = -0.0;
        for &v in values {
            s += v;
        }
        s
    } else if n <= 128 {
        let mut r = [0.0f64; 8];
        r.copy_from_slice(&values[..8]);
        let mut i = 8;
        while i + 8 <= n {
            for (k, acc) in r.iter_mut().enumerate() {
                *acc += values[i + k];
            }
            i += 8;
        }
        let mut s = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for &v in &values[i..] {
            s += v;
        }
        s
    } else {
        let mut half = n / 2;
        half -= half % 8;
        np_sum(&values[..half]) + np_sum(&values[half..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_exact_sums() {
        assert_eq!(np_sum(&[]), 0.0);
        assert_eq!(np_sum(&[1.0, 2.0, 3.0]), 6.0);
        let v: Vec<f64> = (1..=1000).map(f64::from).collect();
        assert_eq!(np_sum(&v), 500_500.0);
    }
}
