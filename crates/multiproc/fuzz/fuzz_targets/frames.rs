//! Arbitrary bytes, cut into reads of a size chosen by the first byte, through a connection's
//! frame decoder and typed-message decoding: errors are fine, panics and over-allocation are
//! not.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    multiproc::__private::fuzz_frames(data);
});
