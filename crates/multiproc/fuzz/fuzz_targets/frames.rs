//! Arbitrary bytes, cut into reads the way an exact reader or a reader that reads ahead would
//! (the first byte chooses which, and the read size), through a connection's frame decoder and
//! typed-message decoding: errors are fine; panics, memory past the growth rule, and an exact
//! reader holding a byte past its frame are not.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    multiproc::__private::fuzz_frames(data);
});
