//! Codec choice by measurement: postcard (multiproc's codec) against bitcode, rmp-serde
//! (MessagePack) and bincode 1.3, on the shapes of multiproc's messages.
//!
//! For each shape and format it measures an encode followed by a decode
//! (`roundtrip/<shape>`), and each alone (`encode/<shape>`, `decode/<shape>`); it prints the
//! encoded sizes first. Each format is called through its usual entry points (encode to a new
//! `Vec`, decode from a slice). `multiproc::codec` is postcard behind multiproc's own entry
//! points (which also collect descriptors), called as `Connection::send` calls it, so it shows
//! what the library adds to postcard.
//!
//! ```text
//! cargo bench -p multiproc-bench --bench codec               # everything, about 90 s
//! cargo bench -p multiproc-bench --bench codec -- roundtrip  # encode + decode only
//! ```

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use multiproc::Bytes;

/// A message of about 100 bytes: a header, a name and a few numbers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Record {
    id: u64,
    name: String,
    values: Vec<u64>,
}

fn record() -> Record {
    Record {
        id: 1_234_567,
        name: "Process-17 says hello".to_owned(),
        values: (0..9).map(|i| i * 1_000_003).collect(),
    }
}

/// Word counts as a map phase returns them: 10,000 (word, count) pairs.
fn word_counts() -> Vec<(String, u64)> {
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    (0..10_000)
        .map(|i| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = 3 + (seed % 9) as usize;
            let word: String = (0..len)
                .map(|k| char::from(b'a' + ((seed >> (k * 5)) % 26) as u8))
                .collect();
            (word, 1 + (seed >> 40) % (10_000 / (i + 1) + 1))
        })
        .collect()
}

fn blob() -> Bytes {
    Bytes(
        (0..1 << 20)
            .map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
            .collect(),
    )
}

/// A format under test, for values of type `T`: its name, encode and decode.
type Format<T> = (&'static str, fn(&T) -> Vec<u8>, fn(&[u8]) -> T);

/// The formats under test, for one value type.
trait Formats: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug + Sized {
    fn formats() -> Vec<Format<Self>> {
        vec![
            (
                "multiproc::codec",
                // As Connection::send calls it: into a buffer made with room for 128 bytes.
                |v| {
                    let mut buf = Vec::with_capacity(128);
                    multiproc::codec::encode_into(v, &mut buf).unwrap();
                    buf
                },
                |b| multiproc::codec::decode(b, Vec::new()).unwrap(),
            ),
            (
                "postcard",
                |v| postcard::to_allocvec(v).unwrap(),
                |b| postcard::from_bytes(b).unwrap(),
            ),
            (
                "bitcode",
                |v| bitcode::serialize(v).unwrap(),
                |b| bitcode::deserialize(b).unwrap(),
            ),
            (
                "rmp-serde",
                |v| rmp_serde::to_vec(v).unwrap(),
                |b| rmp_serde::from_slice(b).unwrap(),
            ),
            (
                "bincode-1.3",
                |v| bincode::serialize(v).unwrap(),
                |b| bincode::deserialize(b).unwrap(),
            ),
        ]
    }
}

impl<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug> Formats for T {}

fn shape<T: Formats>(c: &mut Criterion, name: &str, value: T, raw_bytes: u64) {
    let formats = T::formats();
    for (format, encode, decode) in &formats {
        let bytes = encode(&value);
        assert_eq!(decode(&bytes), value, "{format} does not round-trip {name}");
        println!("size {name:<12} {format:<18} {:>9} bytes", bytes.len());
    }
    let mut group = c.benchmark_group(format!("roundtrip/{name}"));
    group.throughput(Throughput::Bytes(raw_bytes));
    for (format, encode, decode) in &formats {
        group.bench_with_input(BenchmarkId::from_parameter(format), &value, |b, v| {
            b.iter(|| {
                let bytes = encode(black_box(v));
                black_box(decode(black_box(&bytes)))
            });
        });
    }
    group.finish();
    let mut group = c.benchmark_group(format!("encode/{name}"));
    group.throughput(Throughput::Bytes(raw_bytes));
    for (format, encode, _) in &formats {
        group.bench_with_input(BenchmarkId::from_parameter(format), &value, |b, v| {
            b.iter(|| encode(black_box(v)));
        });
    }
    group.finish();
    let mut group = c.benchmark_group(format!("decode/{name}"));
    group.throughput(Throughput::Bytes(raw_bytes));
    for (format, encode, decode) in &formats {
        let bytes = encode(&value);
        group.bench_with_input(BenchmarkId::from_parameter(format), &bytes, |b, bytes| {
            b.iter(|| decode(black_box(bytes)));
        });
    }
    group.finish();
}

fn codecs(c: &mut Criterion) {
    shape(c, "small_int", 42u64, 8);
    shape(c, "record", record(), 8 + 21 + 9 * 8);
    let counts = word_counts();
    let raw: usize = counts.iter().map(|(w, _)| w.len() + 8).sum();
    shape(c, "word_counts", counts, raw as u64);
    shape(c, "blob_1mib", blob(), 1 << 20);
}

/// criterion's generated entry point; the macro's `pub fn` cannot carry a doc comment.
mod group {
    #![allow(unreachable_pub)]
    use super::*;

    criterion_group! {
        name = benches;
        config = Criterion::default()
            .warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_secs(1))
            .sample_size(30);
        targets = codecs
    }
}
criterion_main!(group::benches);
