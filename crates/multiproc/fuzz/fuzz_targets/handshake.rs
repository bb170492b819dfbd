//! Arbitrary peer messages through the authkey handshake's parsers (challenge, answer and
//! digest prefix): they must be refused or accepted, never panic.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    multiproc::__private::fuzz_handshake(data);
});
