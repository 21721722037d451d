//! GF(2^8) arithmetic (polynomial 0x11D) and the systematic Reed-Solomon encoding matrix,
//! written from the specification in FORMAT.md §8.
//!
//! Encoding and rebuilding use this instead of `reed-solomon-erasure`'s per-byte table loop
//! (measured: 168 MB/s of data at k = 200, m = 20) so that they can use a vectorised
//! multiply-accumulate (AVX2 nibble shuffles, detected at run time; about 800 MB/s) on
//! x86_64; everywhere else (wasm included) a portable table loop runs. The code is the same
//! as `reed-solomon-erasure`'s `galois_8`: the tests check matrices, parity bytes and
//! rebuilt shards against that crate.

/// The field's reduction polynomial `x^8 + x^4 + x^3 + x^2 + 1`.
const POLY: u16 = 0x11D;

const fn tables() -> ([u8; 512], [u8; 256]) {
    let mut exp = [0u8; 512];
    let mut log = [0u8; 256];
    let mut x: u16 = 1;
    let mut i = 0;
    while i < 255 {
        exp[i] = x as u8;
        log[x as usize] = i as u8;
        x <<= 1;
        if x & 0x100 != 0 {
            x ^= POLY;
        }
        i += 1;
    }
    while i < 512 {
        exp[i] = exp[i - 255];
        i += 1;
    }
    (exp, log)
}

const TABLES: ([u8; 512], [u8; 256]) = tables();
static EXP: [u8; 512] = TABLES.0;
static LOG: [u8; 256] = TABLES.1;

/// `a * b` in GF(2^8).
pub(crate) fn mul(a: u8, b: u8) -> u8 {
    if a == 0 || b == 0 {
        0
    } else {
        EXP[LOG[a as usize] as usize + LOG[b as usize] as usize]
    }
}

/// `1 / a` (`a != 0`).
fn inv(a: u8) -> u8 {
    debug_assert!(a != 0);
    EXP[255 - LOG[a as usize] as usize]
}

/// `a ^ n`, with `0 ^ 0 = 1`.
fn pow(a: u8, n: usize) -> u8 {
    if n == 0 {
        1
    } else if a == 0 {
        0
    } else {
        EXP[(LOG[a as usize] as usize * n) % 255]
    }
}

/// Invert a `k x k` matrix (row-major) by Gauss-Jordan elimination; `None` if singular.
fn invert(mut a: Vec<u8>, k: usize) -> Option<Vec<u8>> {
    let mut r = vec![0u8; k * k];
    for i in 0..k {
        r[i * k + i] = 1;
    }
    for col in 0..k {
        let pivot = (col..k).find(|&row| a[row * k + col] != 0)?;
        if pivot != col {
            for c in 0..k {
                a.swap(pivot * k + c, col * k + c);
                r.swap(pivot * k + c, col * k + c);
            }
        }
        let f = inv(a[col * k + col]);
        for c in 0..k {
            a[col * k + c] = mul(a[col * k + c], f);
            r[col * k + c] = mul(r[col * k + c], f);
        }
        for row in 0..k {
            let g = a[row * k + col];
            if row != col && g != 0 {
                for c in 0..k {
                    a[row * k + c] ^= mul(g, a[col * k + c]);
                    r[row * k + c] ^= mul(g, r[col * k + c]);
                }
            }
        }
    }
    Some(r)
}

/// The parity rows of `E = V * T^-1`: `m` rows of `k` coefficients, row-major.
pub(crate) fn parity_rows(k: usize, m: usize) -> Vec<u8> {
    let v = |r: usize, c: usize| pow(r as u8, c);
    let top: Vec<u8> = (0..k * k).map(|i| v(i / k, i % k)).collect();
    let t_inv = invert(top, k).expect("a Vandermonde matrix with distinct rows is invertible");
    let mut rows = vec![0u8; m * k];
    for j in 0..m {
        for c in 0..k {
            let mut acc = 0u8;
            for x in 0..k {
                acc ^= mul(v(k + j, x), t_inv[x * k + c]);
            }
            rows[j * k + c] = acc;
        }
    }
    rows
}

/// Rebuild erased shards of one stripe in place.
///
/// `rows` are the code's parity rows (`m x k`); the stripe has `data.len() = k_s <= k` real
/// data shards (the others are zeros) and `parity.len() = m_s <= m` stored parity shards, all
/// of equal length. Shards whose `*_ok` flag is false are erasures and are overwritten.
/// Returns `false` (nothing touched) when more shards are erased than parity is stored.
///
/// With `M` the erased data shards and `P` as many intact parity shards, the syndromes
/// `s_j = p_j + sum_{i not in M} R[j][i] d_i` (j in P) satisfy `s = B d_M` with
/// `B[j][i] = R[j][i]`, a square submatrix of the parity part of a systematic MDS code, hence
/// invertible.
pub(crate) fn reconstruct(
    rows: &[u8],
    k: usize,
    data: &mut [Vec<u8>],
    data_ok: &[bool],
    parity: &mut [Vec<u8>],
    parity_ok: &[bool],
) -> bool {
    let ks = data.len();
    let missing: Vec<usize> = (0..ks).filter(|&i| !data_ok[i]).collect();
    let e = missing.len();
    let usable: Vec<usize> = (0..parity.len())
        .filter(|&j| parity_ok[j])
        .take(e)
        .collect();
    if usable.len() < e || ks > k || rows.len() < parity.len() * k {
        return false;
    }
    let len = data.first().map_or(0, |d| d.len());
    if e > 0 {
        // Syndromes: s_j = p_j + sum over intact data shards of R[j][i] d_i.
        let present: Vec<usize> = (0..ks).filter(|&i| data_ok[i]).collect();
        let mut syn: Vec<Vec<u8>> = usable.iter().map(|&j| parity[j].clone()).collect();
        let coefs: Vec<u8> = usable
            .iter()
            .flat_map(|&j| present.iter().map(move |&i| rows[j * k + i]))
            .collect();
        let inputs: Vec<&[u8]> = present.iter().map(|&i| &data[i][..]).collect();
        combine(&mut syn, &coefs, &inputs);
        let b: Vec<u8> = (0..e * e)
            .map(|x| rows[usable[x / e] * k + missing[x % e]])
            .collect();
        let Some(b_inv) = invert(b, e) else {
            return false;
        };
        let mut solved = vec![vec![0u8; len]; e];
        let inputs: Vec<&[u8]> = syn.iter().map(|v| &v[..]).collect();
        combine(&mut solved, &b_inv, &inputs);
        for (&i, d) in missing.iter().zip(solved) {
            data[i] = d;
        }
    }
    let lost: Vec<usize> = (0..parity.len()).filter(|j| !parity_ok[*j]).collect();
    if !lost.is_empty() {
        let mut fresh = vec![vec![0u8; len]; lost.len()];
        let coefs: Vec<u8> = lost
            .iter()
            .flat_map(|&j| (0..ks).map(move |i| rows[j * k + i]))
            .collect();
        let inputs: Vec<&[u8]> = data.iter().map(|d| &d[..]).collect();
        combine(&mut fresh, &coefs, &inputs);
        for (&j, p) in lost.iter().zip(fresh) {
            parity[j] = p;
        }
    }
    true
}

/// `outs[o] ^= sum_x coefs[o * n + x] * inputs[x]` (`n = inputs.len()`, all slices of one
/// length), in cache-sized blocks and groups of inputs, as the encoder does.
fn combine(outs: &mut [Vec<u8>], coefs: &[u8], inputs: &[&[u8]]) {
    const GROUP: usize = 4;
    const BLOCK: usize = 32 << 10;
    let n = inputs.len();
    let len = outs.first().map_or(0, |o| o.len());
    let tabs: Vec<MulTable> = coefs.iter().map(|&c| MulTable::new(c)).collect();
    let mut at = 0;
    while at < len {
        let end = (at + BLOCK).min(len);
        let mut g = 0;
        while g < n {
            let ge = (g + GROUP).min(n);
            let ins: Vec<&[u8]> = inputs[g..ge].iter().map(|i| &i[at..end]).collect();
            for (o, out) in outs.iter_mut().enumerate() {
                mul_add_many(&tabs[o * n + g..o * n + ge], &ins, &mut out[at..end]);
            }
            g = ge;
        }
        at = end;
    }
}

/// [`parity_rows`] for `(k, m)`, computed once per process and shared.
pub(crate) fn shared_parity_rows(k: usize, m: usize) -> std::sync::Arc<Vec<u8>> {
    use std::sync::{Arc, Mutex};
    type Cache = Vec<((usize, usize), Arc<Vec<u8>>)>;
    static CACHE: Mutex<Cache> = Mutex::new(Vec::new());
    let mut cache = CACHE.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, r)) = cache.iter().find(|(km, _)| *km == (k, m)) {
        return r.clone();
    }
    let r = Arc::new(parity_rows(k, m));
    if cache.len() >= 8 {
        cache.remove(0);
    }
    cache.push(((k, m), r.clone()));
    r
}

/// `out[i] ^= c * input[i]` for every `i` (equal lengths).
#[cfg(test)]
pub(crate) fn mul_add(c: u8, input: &[u8], out: &mut [u8]) {
    mul_add_many(&[MulTable::new(c)], &[input], out)
}

/// Multiplication by one constant, as two 16-entry nibble tables (each repeated twice for
/// the 32-byte shuffles).
#[derive(Clone)]
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub(crate) struct MulTable {
    c: u8,
    lo: [u8; 32],
    hi: [u8; 32],
}

impl MulTable {
    pub(crate) fn new(c: u8) -> Self {
        let mut lo = [0u8; 32];
        let mut hi = [0u8; 32];
        for x in 0..16u8 {
            lo[x as usize] = mul(c, x);
            lo[x as usize + 16] = lo[x as usize];
            hi[x as usize] = mul(c, x << 4);
            hi[x as usize + 16] = hi[x as usize];
        }
        MulTable { c, lo, hi }
    }
}

/// `out ^= sum_g tabs[g].c * inputs[g]` (all slices of `out`'s length): one pass over `out`
/// for several inputs, so the output stays in registers.
pub(crate) fn mul_add_many(tabs: &[MulTable], inputs: &[&[u8]], out: &mut [u8]) {
    debug_assert_eq!(tabs.len(), inputs.len());
    debug_assert!(inputs.iter().all(|i| i.len() == out.len()));
    #[allow(unused_mut)]
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") && inputs.iter().all(|i| i.len() >= out.len()) {
            // SAFETY: AVX2 is available (checked just above); inputs are at least as long as
            // `out` (checked just above).
            done = unsafe { x86::mul_add_many_avx2(tabs, inputs, out) };
        }
    }
    for (t, i) in tabs.iter().zip(inputs) {
        mul_add_scalar(t.c, &i[done..out.len()], &mut out[done..]);
    }
}

/// Portable version of [`mul_add`].
pub(crate) fn mul_add_scalar(c: u8, input: &[u8], out: &mut [u8]) {
    if c == 0 || input.is_empty() {
        return;
    }
    let mut row = [0u8; 256];
    for (x, r) in row.iter_mut().enumerate() {
        *r = mul(c, x as u8);
    }
    for (o, i) in out.iter_mut().zip(input) {
        *o ^= row[*i as usize];
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    /// Multi-input multiply-accumulate over whole 32-byte blocks; returns the bytes done.
    ///
    /// # Safety
    /// The CPU must support AVX2, and every input must be at least `out.len()` bytes long.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn mul_add_many_avx2(
        tabs: &[super::MulTable],
        inputs: &[&[u8]],
        out: &mut [u8],
    ) -> usize {
        let n = out.len() / 32 * 32;
        let g = tabs.len().min(inputs.len());
        // SAFETY (whole block): loads read `inputs[x][i..i + 32]` and `out[i..i + 32]`, the
        // store writes `out[i..i + 32]`, with `i + 32 <= n <= out.len() <= inputs[x].len()`
        // (the caller's contract); tables are 32-byte arrays; unaligned accesses are used.
        unsafe {
            let mask = _mm256_set1_epi8(0x0F);
            let mut i = 0;
            while i < n {
                let o = out.as_mut_ptr().add(i) as *mut __m256i;
                let mut acc = _mm256_loadu_si256(o);
                for x in 0..g {
                    let t = &tabs[x];
                    let v = _mm256_loadu_si256(inputs[x].as_ptr().add(i) as *const __m256i);
                    let l = _mm256_and_si256(v, mask);
                    let h = _mm256_and_si256(_mm256_srli_epi64::<4>(v), mask);
                    let lo_t = _mm256_loadu_si256(t.lo.as_ptr() as *const __m256i);
                    let hi_t = _mm256_loadu_si256(t.hi.as_ptr() as *const __m256i);
                    acc = _mm256_xor_si256(acc, _mm256_shuffle_epi8(lo_t, l));
                    acc = _mm256_xor_si256(acc, _mm256_shuffle_epi8(hi_t, h));
                }
                _mm256_storeu_si256(o, acc);
                i += 32;
            }
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn field_axioms_on_every_pair() {
        for a in 0..=255u8 {
            assert_eq!(mul(a, 1), a);
            assert_eq!(mul(a, 0), 0);
            if a != 0 {
                assert_eq!(mul(a, inv(a)), 1, "{a}");
            }
            for b in 0..=255u8 {
                assert_eq!(mul(a, b), mul(b, a));
                // Reference: carry-less multiply reduced by 0x11D.
                let mut p: u16 = 0;
                for bit in 0..8 {
                    if b >> bit & 1 == 1 {
                        p ^= (a as u16) << bit;
                    }
                }
                for bit in (8..16).rev() {
                    if p >> bit & 1 == 1 {
                        p ^= POLY << (bit - 8);
                    }
                }
                assert_eq!(mul(a, b), p as u8, "{a} * {b}");
            }
        }
        // 2 generates the multiplicative group.
        let mut seen = std::collections::BTreeSet::new();
        for n in 0..255 {
            seen.insert(pow(2, n));
        }
        assert_eq!(seen.len(), 255);
    }

    #[test]
    fn encoding_matrix_is_systematic_mds_and_matches_the_crate() {
        use reed_solomon_erasure::galois_8::ReedSolomon;
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        for (k, m) in [
            (1, 1),
            (2, 1),
            (4, 2),
            (10, 3),
            (17, 5),
            (200, 20),
            (128, 128),
        ] {
            let rows = parity_rows(k, m);
            let len = 40;
            let data: Vec<Vec<u8>> = (0..k)
                .map(|_| (0..len).map(|_| rng.gen()).collect())
                .collect();
            let mut mine = vec![vec![0u8; len]; m];
            for (j, p) in mine.iter_mut().enumerate() {
                for (i, d) in data.iter().enumerate() {
                    mul_add(rows[j * k + i], d, p);
                }
            }
            let rs = ReedSolomon::new(k, m).unwrap();
            let mut theirs = vec![vec![0u8; len]; m];
            rs.encode_sep(&data, &mut theirs).unwrap();
            assert_eq!(mine, theirs, "k={k} m={m}");
        }
    }

    #[test]
    fn reconstruct_matches_the_crate_on_random_erasures() {
        use reed_solomon_erasure::galois_8::ReedSolomon;
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        for trial in 0..300 {
            let k = rng.gen_range(1..=30usize);
            let m = rng.gen_range(1..=8usize);
            let ks = rng.gen_range(1..=k);
            let ms = (ks * m).div_ceil(k);
            let len = rng.gen_range(1..100);
            let rows = parity_rows(k, m);
            let data: Vec<Vec<u8>> = (0..ks)
                .map(|_| (0..len).map(|_| rng.gen()).collect())
                .collect();
            let mut parity = vec![vec![0u8; len]; ms];
            for (j, p) in parity.iter_mut().enumerate() {
                for (i, d) in data.iter().enumerate() {
                    mul_add(rows[j * k + i], d, p);
                }
            }
            let erased = rng.gen_range(0..=ms + 1);
            let mut ok = vec![true; ks + ms];
            for _ in 0..erased {
                let x = rng.gen_range(0..ks + ms);
                ok[x] = false;
            }
            let lost = ok.iter().filter(|x| !**x).count();
            let mut d2: Vec<Vec<u8>> = data
                .iter()
                .zip(&ok)
                .map(|(d, o)| if *o { d.clone() } else { vec![0xAA; len] })
                .collect();
            let mut p2: Vec<Vec<u8>> = parity
                .iter()
                .zip(&ok[ks..])
                .map(|(p, o)| if *o { p.clone() } else { vec![0x55; len] })
                .collect();
            let done = reconstruct(&rows, k, &mut d2, &ok[..ks], &mut p2, &ok[ks..]);
            assert_eq!(done, lost <= ms, "trial {trial}");
            if done {
                assert_eq!(d2, data, "trial {trial}");
                assert_eq!(p2, parity, "trial {trial}");
            }
            // The crate agrees on what is recoverable and on the bytes.
            let rs = ReedSolomon::new(k, m).unwrap();
            let mut shards: Vec<Option<Vec<u8>>> = Vec::new();
            for i in 0..k {
                shards.push(match i < ks {
                    true if ok[i] => Some(data[i].clone()),
                    true => None,
                    false => Some(vec![0; len]),
                });
            }
            for j in 0..m {
                shards.push((j < ms && ok[ks + j]).then(|| parity[j].clone()));
            }
            let theirs = rs.reconstruct(&mut shards).is_ok();
            assert_eq!(theirs, done, "trial {trial}");
            if theirs {
                for i in 0..ks {
                    assert_eq!(shards[i].as_ref().unwrap(), &data[i]);
                }
            }
        }
    }

    #[test]
    fn many_input_kernel_agrees_with_single_input_scalar() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(4);
        for len in [0usize, 5, 32, 95, 1024, 4097] {
            for g in [1usize, 2, 8] {
                let inputs: Vec<Vec<u8>> = (0..g)
                    .map(|_| (0..len).map(|_| rng.gen()).collect())
                    .collect();
                let cs: Vec<u8> = (0..g).map(|x| if x == 1 { 0 } else { rng.gen() }).collect();
                let start: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
                let mut a = start.clone();
                let tabs: Vec<MulTable> = cs.iter().map(|&c| MulTable::new(c)).collect();
                let refs: Vec<&[u8]> = inputs.iter().map(|v| &v[..]).collect();
                mul_add_many(&tabs, &refs, &mut a);
                let mut b = start.clone();
                for (c, inp) in cs.iter().zip(&inputs) {
                    mul_add_scalar(*c, inp, &mut b);
                }
                assert_eq!(a, b, "len {len} g {g}");
            }
        }
    }

    #[test]
    fn vector_and_scalar_paths_agree() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(2);
        for len in [0usize, 1, 31, 32, 33, 64, 1000, 4099] {
            let input: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
            let start: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
            for c in [0u8, 1, 2, 0x8E, 0xFF, rng.gen()] {
                let mut a = start.clone();
                let mut b = start.clone();
                mul_add(c, &input, &mut a);
                mul_add_scalar(c, &input, &mut b);
                assert_eq!(a, b, "len {len} c {c}");
                for i in 0..len {
                    assert_eq!(b[i], start[i] ^ mul(c, input[i]));
                }
            }
        }
    }
}
