//! The x86-64 intrinsics wordcount uses: the AVX2 and AVX-512 byte
//! classifiers of the tokenizer, and a cache prefetch for the count table.
//! This is the only `unsafe` code of wordcount.
//!
//! Three kinds of operations need it: loading a vector from a byte array
//! (the intrinsics take a raw pointer), calling a function compiled for
//! instructions that the processor may lack, and calling an intrinsic of the
//! x86-64 baseline (SSE) from code not marked with that feature. The second
//! is made safe by tokens: [`Avx2`] and [`Avx512`] can only be made by
//! `detect`, which asks the processor, so holding one proves that its
//! instructions run here.

use std::arch::x86_64::{
    __m256i, __m512i, _MM_HINT_T0, _mm_prefetch, _mm256_add_epi8, _mm256_andnot_si256,
    _mm256_cmpeq_epi8, _mm256_cmpgt_epi8, _mm256_loadu_si256, _mm256_movemask_epi8,
    _mm256_or_si256, _mm256_set1_epi8, _mm512_cmpeq_epi8_mask, _mm512_cmplt_epu8_mask,
    _mm512_loadu_si512, _mm512_movepi8_mask, _mm512_or_si512, _mm512_set1_epi8, _mm512_sub_epi8,
};

use crate::tokenize::classify::{BLOCK, Classify, Masks, WithClassifier};

/// Asks the processor to start loading the cache line of `item` into the L1
/// cache, without waiting for it.
#[inline(always)]
pub(crate) fn prefetch<T>(item: &T) {
    // SAFETY: SSE, the only feature `_mm_prefetch` needs, is part of the
    // x86-64 baseline; a prefetch reads nothing and never faults.
    unsafe { _mm_prefetch::<_MM_HINT_T0>(std::ptr::from_ref(item).cast()) }
}

/// Proof that the processor has AVX2 and the bit instructions (BMI1, BMI2,
/// LZCNT, POPCNT) that the AVX2 path is compiled with.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Avx2 {
    _private: (),
}

/// Proof that the processor has AVX-512F and AVX-512BW, and what [`Avx2`]
/// needs.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Avx512 {
    _private: (),
}

impl Avx2 {
    /// The token, if this processor has the instructions.
    #[inline]
    pub(crate) fn detect() -> Option<Avx2> {
        let ok = is_x86_feature_detected!("avx2")
            && is_x86_feature_detected!("bmi1")
            && is_x86_feature_detected!("bmi2")
            && is_x86_feature_detected!("lzcnt")
            && is_x86_feature_detected!("popcnt");
        ok.then_some(Avx2 { _private: () })
    }

    /// Runs `work` compiled for AVX2.
    #[inline]
    pub(crate) fn dispatch<W: WithClassifier>(self, work: W) -> W::Output {
        // SAFETY: `self` exists, so `detect` found every feature that
        // `run_avx2` enables.
        unsafe { run_avx2(self, work) }
    }
}

impl Avx512 {
    /// The token, if this processor has the instructions.
    #[inline]
    pub(crate) fn detect() -> Option<Avx512> {
        let ok = Avx2::detect().is_some()
            && is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx512bw");
        ok.then_some(Avx512 { _private: () })
    }

    /// Runs `work` compiled for AVX-512.
    #[inline]
    pub(crate) fn dispatch<W: WithClassifier>(self, work: W) -> W::Output {
        // SAFETY: `self` exists, so `detect` found every feature that
        // `run_avx512` enables.
        unsafe { run_avx512(self, work) }
    }
}

#[target_feature(enable = "avx2,bmi1,bmi2,lzcnt,popcnt")]
fn run_avx2<W: WithClassifier>(avx2: Avx2, work: W) -> W::Output {
    work.run(avx2)
}

#[target_feature(enable = "avx512f,avx512bw,avx2,bmi1,bmi2,lzcnt,popcnt")]
fn run_avx512<W: WithClassifier>(avx512: Avx512, work: W) -> W::Output {
    work.run(avx512)
}

impl Classify for Avx2 {
    #[inline(always)]
    fn classify(self, block: &[u8; BLOCK]) -> Masks {
        // SAFETY: `self` proves AVX2 (see `Avx2::detect`).
        unsafe { classify_avx2(block) }
    }
}

impl Classify for Avx512 {
    #[inline(always)]
    fn classify(self, block: &[u8; BLOCK]) -> Masks {
        // SAFETY: `self` proves AVX-512F and AVX-512BW (see `Avx512::detect`).
        unsafe { classify_avx512(block) }
    }
}

/// Bytes of `v` in `lo..lo + len` (unsigned), as a vector of 0xff/0x00.
#[target_feature(enable = "avx2")]
#[inline]
fn range_avx2(v: __m256i, lo: u8, len: u8) -> __m256i {
    // Unsigned `v - lo < len`, as a signed comparison of values shifted by
    // 0x80 (AVX2 has no unsigned byte comparison).
    let shifted = _mm256_add_epi8(v, _mm256_set1_epi8(0x80u8.wrapping_sub(lo) as i8));
    _mm256_cmpgt_epi8(_mm256_set1_epi8(len.wrapping_sub(0x80) as i8), shifted)
}

/// Bytes of `v` equal to `c`, as a vector of 0xff/0x00.
#[target_feature(enable = "avx2")]
#[inline]
fn equal_avx2(v: __m256i, c: u8) -> __m256i {
    _mm256_cmpeq_epi8(v, _mm256_set1_epi8(c as i8))
}

/// The masks of 32 bytes, in the low 32 bits of each field.
#[target_feature(enable = "avx2")]
#[inline]
fn half_avx2(v: __m256i) -> Masks {
    let bits = |x: __m256i| u64::from(_mm256_movemask_epi8(x) as u32);
    let space = _mm256_or_si256(range_avx2(v, 0x09, 5), range_avx2(v, 0x1c, 5));
    let letter = range_avx2(_mm256_or_si256(v, _mm256_set1_epi8(0x20)), b'a', 26);
    let digit = range_avx2(v, b'0', 10);
    let graphic = range_avx2(v, 0x21, 0x7e - 0x20);
    let punct = _mm256_andnot_si256(_mm256_or_si256(letter, digit), graphic);
    Masks {
        sep: bits(_mm256_or_si256(space, punct)),
        space: bits(space),
        eol: bits(_mm256_or_si256(equal_avx2(v, b'\n'), equal_avx2(v, b'\r'))),
        dot: bits(equal_avx2(v, b'.')),
        letter: bits(letter),
        high: bits(v),
    }
}

#[target_feature(enable = "avx2")]
#[inline]
fn classify_avx2(block: &[u8; BLOCK]) -> Masks {
    // SAFETY: `block` holds 64 bytes, the two 32-byte loads read within it,
    // and `loadu` accepts any alignment.
    let (lo, hi) = unsafe {
        let p = block.as_ptr().cast::<__m256i>();
        (_mm256_loadu_si256(p), _mm256_loadu_si256(p.add(1)))
    };
    let (lo, hi) = (half_avx2(lo), half_avx2(hi));
    Masks {
        sep: lo.sep | hi.sep << 32,
        space: lo.space | hi.space << 32,
        eol: lo.eol | hi.eol << 32,
        dot: lo.dot | hi.dot << 32,
        letter: lo.letter | hi.letter << 32,
        high: lo.high | hi.high << 32,
    }
}

/// Bytes of `v` in `lo..lo + len` (unsigned), as a mask.
#[target_feature(enable = "avx512f,avx512bw")]
#[inline]
fn range_avx512(v: __m512i, lo: u8, len: u8) -> u64 {
    let offset = _mm512_sub_epi8(v, _mm512_set1_epi8(lo as i8));
    _mm512_cmplt_epu8_mask(offset, _mm512_set1_epi8(len as i8))
}

#[target_feature(enable = "avx512f,avx512bw")]
#[inline]
fn classify_avx512(block: &[u8; BLOCK]) -> Masks {
    // SAFETY: `block` holds 64 bytes, and `loadu` accepts any alignment.
    let v = unsafe { _mm512_loadu_si512(block.as_ptr().cast::<__m512i>()) };
    let equal = |c: u8| _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8(c as i8));
    let space = range_avx512(v, 0x09, 5) | range_avx512(v, 0x1c, 5);
    let letter = range_avx512(_mm512_or_si512(v, _mm512_set1_epi8(0x20)), b'a', 26);
    let digit = range_avx512(v, b'0', 10);
    let graphic = range_avx512(v, 0x21, 0x7e - 0x20);
    Masks {
        sep: space | (graphic & !letter & !digit),
        space,
        eol: equal(b'\n') | equal(b'\r'),
        dot: equal(b'.'),
        letter,
        high: _mm512_movepi8_mask(v),
    }
}
