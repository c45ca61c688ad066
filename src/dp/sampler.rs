//! Exact samplers for discrete Laplace and discrete Gaussian noise, after Canonne, Kamath
//! and Steinke, "The Discrete Gaussian for Differential Privacy" (NeurIPS 2020),
//! Algorithms 1–3.
//!
//! Written by hand because no maintained Rust crate implements these samplers exactly:
//! `rand_distr` and friends draw floating-point noise, which leaks the true value through
//! the doubles that can occur (Mironov 2012).
//!
//! Invariants: only integer and rational arithmetic (arbitrary precision, `num-bigint`);
//! parameters given as floats are converted to the exact rational the float denotes;
//! randomness comes only from `RandomBits`, which is the OS CSPRNG outside tests.

use num_bigint::{BigInt, BigUint};
use num_traits::{One, Signed, Zero};

/// A source of uniformly random bytes.
pub trait RandomBits {
    fn fill(&mut self, buf: &mut [u8]);
}

/// The operating system's CSPRNG, read 4 KiB at a time (the bytes are the OS's; the
/// buffer only saves a system call per draw).
pub struct OsBits {
    buf: Box<[u8; 4096]>,
    pos: usize,
}

impl Default for OsBits {
    fn default() -> Self {
        OsBits {
            buf: Box::new([0; 4096]),
            pos: 4096,
        }
    }
}

impl RandomBits for OsBits {
    fn fill(&mut self, out: &mut [u8]) {
        use rand::TryRngCore;
        let mut done = 0;
        while done < out.len() {
            if self.pos == self.buf.len() {
                rand::rngs::OsRng
                    .try_fill_bytes(&mut self.buf[..])
                    .expect("the operating system's random source failed");
                self.pos = 0;
            }
            let n = (out.len() - done).min(self.buf.len() - self.pos);
            out[done..done + n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
            // Bytes handed out are never handed out again.
            self.buf[self.pos..self.pos + n].fill(0);
            self.pos += n;
            done += n;
        }
    }
}

/// A positive rational `num / den`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ratio {
    pub num: BigUint,
    pub den: BigUint,
}

impl Ratio {
    pub fn new(num: impl Into<BigUint>, den: impl Into<BigUint>) -> Self {
        Ratio {
            num: num.into(),
            den: den.into(),
        }
    }

    /// The exact value of a positive finite float (every float is a dyadic rational).
    pub fn from_f64(x: f64) -> Option<Ratio> {
        if !(x.is_finite() && x > 0.0) {
            return None;
        }
        let bits = x.to_bits();
        let exp = ((bits >> 52) & 0x7ff) as i64;
        let frac = bits & ((1u64 << 52) - 1);
        let (mant, e) = if exp == 0 {
            (frac, -1074)
        } else {
            (frac | (1u64 << 52), exp - 1075)
        };
        let (num, den) = if e >= 0 {
            (BigUint::from(mant) << (e as usize), BigUint::one())
        } else {
            (BigUint::from(mant), BigUint::one() << ((-e) as usize))
        };
        let g = num_integer::Integer::gcd(&num, &den);
        Some(Ratio::new(num / &g, den / g))
    }

    pub fn to_f64(&self) -> f64 {
        // For reports only; never used to draw noise.
        let bits = self.num.bits().max(self.den.bits());
        let shift = bits.saturating_sub(60) as usize;
        let n = (&self.num >> shift)
            .to_string()
            .parse::<f64>()
            .unwrap_or(f64::INFINITY);
        let d = (&self.den >> shift)
            .to_string()
            .parse::<f64>()
            .unwrap_or(f64::INFINITY);
        n / d
    }
}

pub struct Sampler<R: RandomBits> {
    rng: R,
}

impl<R: RandomBits> Sampler<R> {
    pub fn new(rng: R) -> Self {
        Sampler { rng }
    }

    /// Uniform on `{0, …, n−1}` by rejection sampling on n's bit length (n > 0).
    pub fn uniform_below(&mut self, n: &BigUint) -> BigUint {
        assert!(!n.is_zero(), "uniform_below(0)");
        let bits = n.bits();
        let bytes = bits.div_ceil(8) as usize;
        let extra = (bytes * 8) as u64 - bits;
        let mut buf = vec![0u8; bytes];
        loop {
            self.rng.fill(&mut buf);
            buf[0] &= 0xffu8 >> extra;
            let v = BigUint::from_bytes_be(&buf);
            if &v < n {
                return v;
            }
        }
    }

    /// Bernoulli(num / den), num ≤ den.
    pub fn bernoulli(&mut self, num: &BigUint, den: &BigUint) -> bool {
        &self.uniform_below(den) < num
    }

    /// Bernoulli(exp(−num/den)) for num/den in [0, 1] (Algorithm 1).
    fn bernoulli_exp_le1(&mut self, num: &BigUint, den: &BigUint) -> bool {
        let mut k = BigUint::one();
        loop {
            // Bernoulli(γ / k)
            if !self.bernoulli(num, &(den * &k)) {
                break;
            }
            k += 1u32;
        }
        k.bit(0)
    }

    /// Bernoulli(exp(−num/den)) for any num/den ≥ 0 (Algorithm 1, extended).
    pub fn bernoulli_exp(&mut self, num: &BigUint, den: &BigUint) -> bool {
        let whole = num / den;
        let one = BigUint::one();
        let mut k = BigUint::zero();
        while k < whole {
            if !self.bernoulli_exp_le1(&one, &one) {
                return false;
            }
            k += 1u32;
        }
        let rest = num - &whole * den;
        self.bernoulli_exp_le1(&rest, den)
    }

    /// Discrete Laplace with scale `t / s`: P(z) ∝ exp(−|z|·s/t) (Algorithm 2).
    pub fn discrete_laplace(&mut self, scale: &Ratio) -> BigInt {
        let (t, s) = (&scale.num, &scale.den);
        let one = BigUint::one();
        loop {
            let u = self.uniform_below(t);
            if !self.bernoulli_exp(&u, t) {
                continue;
            }
            let mut v = BigUint::zero();
            while self.bernoulli_exp(&one, &one) {
                v += 1u32;
            }
            let x = u + t * v;
            let y = x / s;
            let negative = self.bernoulli(&one, &BigUint::from(2u32));
            if negative && y.is_zero() {
                continue;
            }
            let y = BigInt::from(y);
            return if negative { -y } else { y };
        }
    }

    /// Discrete Gaussian with variance parameter σ² (Algorithm 3).
    pub fn discrete_gaussian(&mut self, sigma2: &Ratio) -> BigInt {
        let (n, d) = (&sigma2.num, &sigma2.den);
        let t = (n / d).sqrt() + 1u32;
        let lap = Ratio::new(t.clone(), 1u32);
        let two_n_d_t2 = BigUint::from(2u32) * n * d * &t * &t;
        let t_d = BigInt::from(&t * d);
        let n_i = BigInt::from(n.clone());
        loop {
            let y = self.discrete_laplace(&lap);
            // γ = (|y| − σ²/t)² / (2σ²) = (|y|·t·d − n)² / (2·n·d·t²)
            let diff = y.abs() * &t_d - &n_i;
            let num = diff.magnitude() * diff.magnitude();
            if self.bernoulli_exp(&num, &two_n_d_t2) {
                return y;
            }
        }
    }
}

/// Smallest k with P(|Z| > k) ≤ 0.05 for discrete Laplace noise of scale b: the 95%
/// confidence half-width, in the noise's integer units. P(|Z| > k) = 2·q^(k+1) / (1 + q)
/// with q = exp(−1/b), solved for k.
pub fn laplace_ci95(scale: f64) -> u64 {
    let q = (-1.0 / scale).exp();
    let k = ((0.05 * (1.0 + q) / 2.0).ln() / q.ln()).ceil() - 1.0;
    let mut k = k.max(0.0) as u64;
    // Guard against rounding at the boundary: step to the exact smallest k.
    let tail = |k: u64| 2.0 * q.powf((k + 1) as f64) / (1.0 + q);
    while k > 0 && tail(k - 1) <= 0.05 {
        k -= 1;
    }
    while tail(k) > 0.05 {
        k += 1;
    }
    k
}

/// The 95% half-width of discrete Gaussian noise with variance parameter σ²: summed from
/// the probability mass function for σ ≤ 50, and ⌈1.96σ⌉ above (the discrete and the
/// continuous Gaussian then agree far below one unit).
pub fn gaussian_ci95(sigma2: f64) -> u64 {
    let sigma = sigma2.sqrt();
    if sigma > 50.0 {
        return (1.959964 * sigma).ceil() as u64;
    }
    let w = |z: f64| (-(z * z) / (2.0 * sigma2)).exp();
    let limit = (sigma * 40.0).ceil() as i64 + 10;
    let total: f64 = (-limit..=limit).map(|z| w(z as f64)).sum();
    let mut inside = w(0.0);
    let mut k = 0u64;
    while inside / total < 0.95 && (k as i64) < limit {
        k += 1;
        inside += 2.0 * w(k as f64);
    }
    k
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use rand::{RngCore, SeedableRng};

    /// Seeded bits: tests only.
    pub struct SeededBits(pub rand::rngs::StdRng);

    impl RandomBits for SeededBits {
        fn fill(&mut self, buf: &mut [u8]) {
            self.0.fill_bytes(buf)
        }
    }

    pub fn seeded(seed: u64) -> Sampler<SeededBits> {
        Sampler::new(SeededBits(rand::rngs::StdRng::seed_from_u64(seed)))
    }

    #[test]
    fn floats_convert_exactly() {
        assert_eq!(Ratio::from_f64(0.5).unwrap(), Ratio::new(1u32, 2u32));
        assert_eq!(Ratio::from_f64(3.0).unwrap(), Ratio::new(3u32, 1u32));
        let r = Ratio::from_f64(0.1).unwrap();
        assert_eq!(r.den, BigUint::one() << 55usize);
        assert!((r.to_f64() - 0.1).abs() < 1e-17);
        assert!(Ratio::from_f64(0.0).is_none() && Ratio::from_f64(f64::NAN).is_none());
    }

    /// Wilson–Hilferty approximation of the χ² critical value at α = 10⁻⁴.
    fn chi2_critical(df: f64) -> f64 {
        let z = 3.719;
        df * (1.0 - 2.0 / (9.0 * df) + z * (2.0 / (9.0 * df)).sqrt()).powi(3)
    }

    /// χ² statistic of `draws` against `pmf`, with the tails beyond the bins that expect
    /// at least 20 draws pooled into two bins. Returns (statistic, degrees of freedom).
    fn chi2(draws: &[i64], pmf: &dyn Fn(i64) -> f64) -> (f64, f64) {
        let n = draws.len() as f64;
        let mut k = 0i64;
        while pmf(k + 1) * n >= 20.0 {
            k += 1;
        }
        let mut observed = vec![0f64; (2 * k + 3) as usize];
        for &z in draws {
            let bin = if z < -k {
                0
            } else if z > k {
                2 * k + 2
            } else {
                z + k + 1
            };
            observed[bin as usize] += 1.0;
        }
        let mut expected = vec![0f64; observed.len()];
        let inner: f64 = (-k..=k).map(pmf).sum();
        for z in -k..=k {
            expected[(z + k + 1) as usize] = pmf(z) * n;
        }
        let tail = (1.0 - inner) / 2.0 * n;
        expected[0] = tail;
        expected[(2 * k + 2) as usize] = tail;
        let stat = observed
            .iter()
            .zip(&expected)
            .filter(|(_, e)| **e > 0.0)
            .map(|(o, e)| (o - e) * (o - e) / e)
            .sum();
        (stat, (observed.len() - 1) as f64)
    }

    fn draws(f: impl Fn(u64) -> Vec<i64> + Sync) -> Vec<i64> {
        // Four seeded streams in parallel: 10^6 draws in all.
        std::thread::scope(|s| {
            let hs: Vec<_> = (0..4)
                .map(|i| {
                    s.spawn({
                        let f = &f;
                        move || f(i)
                    })
                })
                .collect();
            hs.into_iter().flat_map(|h| h.join().unwrap()).collect()
        })
    }

    #[test]
    fn discrete_laplace_matches_its_pmf() {
        for scale in [0.7, 3.0, 25.0] {
            let r = Ratio::from_f64(scale).unwrap();
            let d = draws(|seed| {
                let mut s = seeded(seed * 7 + 1);
                (0..250_000)
                    .map(|_| i64::try_from(s.discrete_laplace(&r)).unwrap())
                    .collect()
            });
            let q = (-1.0 / scale).exp();
            let pmf = |z: i64| (1.0 - q) / (1.0 + q) * q.powi(z.unsigned_abs() as i32);
            let (stat, df) = chi2(&d, &pmf);
            assert!(
                stat < chi2_critical(df),
                "scale {scale}: χ² = {stat:.1} with {df} df"
            );
            let mean = d.iter().sum::<i64>() as f64 / d.len() as f64;
            assert!(
                mean.abs() < 0.05 * scale.max(1.0),
                "scale {scale}: mean {mean}"
            );
        }
    }

    #[test]
    fn discrete_gaussian_matches_its_pmf() {
        for sigma2 in [0.5, 4.0, 200.0] {
            let r = Ratio::from_f64(sigma2).unwrap();
            let d = draws(|seed| {
                let mut s = seeded(seed * 13 + 5);
                (0..250_000)
                    .map(|_| i64::try_from(s.discrete_gaussian(&r)).unwrap())
                    .collect()
            });
            let norm: f64 = (-2000..=2000)
                .map(|z: i64| (-((z * z) as f64) / (2.0 * sigma2)).exp())
                .sum();
            let pmf = |z: i64| (-((z * z) as f64) / (2.0 * sigma2)).exp() / norm;
            let (stat, df) = chi2(&d, &pmf);
            assert!(
                stat < chi2_critical(df),
                "σ² {sigma2}: χ² = {stat:.1} with {df} df"
            );
        }
    }

    #[test]
    fn bernoulli_exp_is_exp() {
        let mut s = seeded(3);
        let n = 200_000;
        for (num, den) in [(1u32, 2u32), (3, 1), (7, 4)] {
            let hits = (0..n)
                .filter(|_| s.bernoulli_exp(&BigUint::from(num), &BigUint::from(den)))
                .count() as f64;
            let p = (-(num as f64) / den as f64).exp();
            let sd = (p * (1.0 - p) / n as f64).sqrt();
            assert!((hits / n as f64 - p).abs() < 5.0 * sd, "{num}/{den}");
        }
    }

    #[test]
    fn confidence_half_widths() {
        // b = 1: P(|Z| > k) = 2e^{-(k+1)}/(1+e^{-1}) ≤ 0.05 first at k = 3.
        assert_eq!(laplace_ci95(1.0), 3);
        let g = gaussian_ci95(100.0);
        assert!((19..=21).contains(&g), "{g}");
        assert_eq!(
            laplace_ci95(6e6),
            (6e6 * (2.0f64 / 0.05 / (1.0 + (-1.0f64 / 6e6).exp())).ln()).ceil() as u64 - 1
        );
        assert_eq!(gaussian_ci95(1e8), 19600);
    }

    #[test]
    fn os_bits_fill_any_length() {
        let mut b = OsBits::default();
        let mut a = vec![0u8; 10_000];
        b.fill(&mut a);
        assert!(a.iter().any(|&x| x != 0));
    }
}
