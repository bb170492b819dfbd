//! The async example (feature `tokio`): what it prints.

#![cfg(feature = "tokio")]

mod common;

use common::run_example;

#[test]
fn tokio_service() {
    let (out, err, code) = run_example("tokio_service", &[]);
    assert_eq!(code, Some(0), "stderr:\n{err}");
    assert_eq!(
        out,
        "service listening
ping: pong
client 1: primes below 10000: 1229
client 1: primes below 20000: 2262
client 2: primes below 20000: 2262
client 2: primes below 40000: 4203
client 3: primes below 30000: 3245
client 3: primes below 60000: 6057
bad requests: error: not a number: many; error: unknown request: fly
service stopped
"
    );
}
