#!/usr/bin/env python3
"""Generate ``src/unicode/tables.rs``: the Unicode tables wordcount needs, taken from
the running Python's own ``str`` methods so that the Rust side reproduces
Python 3 semantics exactly.

Usage (from the crate directory)::

    python3 tools/gen_tables.py            # writes src/unicode/tables.rs, runs rustfmt
    python3 tools/gen_tables.py --check    # exit 1 if src/unicode/tables.rs is stale

The committed table was generated with Python 3.11 (Unicode 14.0.0); the
script refuses any other Unicode version unless ``--any-version`` is given.

Tables:

* ``SPACE_*``: ``str.isspace()`` of each code point (two-level bitmap).
* ``ALPHA_*``: ``str.isalpha()`` of each code point (two-level bitmap).
* ``KEEP_*``: ``c.lower().isalpha()`` of each code point (two-level bitmap);
  a token survives the chapter's ``word.lower().isalpha()`` test exactly when
  every one of its characters has this property (the final-sigma variant of
  U+03A3 is a letter too, which the generator asserts).
* ``LOWER_*``: ``c.lower()`` of each code point that lowers to one code
  point, as the difference of the two (two-level table of deltas), and
  ``LOWER_MULTI`` for the code points that lower to several.
* ``SIGMA_CASED`` / ``SIGMA_IGNORABLE``: how CPython's final-sigma rule treats
  a code point while scanning around U+03A3 (skipped as case-ignorable,
  stops the scan as cased, or stops it as uncased).  These are probed through
  ``str.lower()`` itself, since Python exposes neither property directly.
"""

import argparse
import os
import subprocess
import sys
import unicodedata

EXPECTED_UNICODE = "14.0.0"
MAX_CP = 0x110000
SIGMA = "\u03a3"
FINAL = "\u03c2"
BLOCK = 64

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, os.pardir, "src", "unicode", "tables.rs")


def code_points():
    for cp in range(MAX_CP):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        yield cp


def ranges(pred):
    """Inclusive ranges of code points where pred holds."""
    out = []
    start = None
    prev = None
    for cp in code_points():
        if pred(cp):
            if start is None:
                start = cp
            elif prev != cp - 1:
                out.append((start, prev))
                start = cp
            prev = cp
    if start is not None:
        out.append((start, prev))
    return out


def bitmap(pred):
    """Two-level bitmap: index of 64-code-point blocks into unique blocks."""
    bits = {}
    last = 0
    for cp in code_points():
        if pred(cp):
            bits[cp // BLOCK] = bits.get(cp // BLOCK, 0) | (1 << (cp % BLOCK))
            last = cp
    n_blocks = last // BLOCK + 1
    uniq = [0]
    where = {0: 0}
    index = []
    for b in range(n_blocks):
        word = bits.get(b, 0)
        if word not in where:
            where[word] = len(uniq)
            uniq.append(word)
        index.append(where[word])
    assert len(uniq) < 1 << 16
    return index, uniq


def delta_table(delta):
    """Two-level table: index of 64-code-point blocks into unique blocks of
    per-code-point deltas (delta(cp) for each code point)."""
    last = 0
    for cp in code_points():
        if delta(cp):
            last = cp
    n_blocks = last // BLOCK + 1
    uniq = [tuple([0] * BLOCK)]
    where = {uniq[0]: 0}
    index = []
    for b in range(n_blocks):
        block = tuple(
            0 if 0xD800 <= cp <= 0xDFFF else delta(cp)
            for cp in range(b * BLOCK, (b + 1) * BLOCK)
        )
        if block not in where:
            where[block] = len(uniq)
            uniq.append(block)
        index.append(where[block])
    assert len(uniq) <= 256
    return index, uniq


def sigma_class(cp):
    """'cased', 'ignorable' or 'other' as seen by CPython's final-sigma scan."""
    c = chr(cp)
    if (c + SIGMA).lower().endswith(FINAL):
        cls = "cased"
    elif ("A" + c + SIGMA).lower().endswith(FINAL):
        cls = "ignorable"
    else:
        cls = "other"
    # The forward scan must agree: a following char blocks the final form
    # exactly when it stops the scan as a cased char.
    forward_final = ("A" + SIGMA + c).lower()[1] == FINAL
    assert forward_final == (cls != "cased"), hex(cp)
    return cls


def emit_bitmap(name, doc, pred):
    index, uniq = bitmap(pred)
    idx_ty = "u8" if len(uniq) <= 256 else "u16"
    lines = [
        f"/// {doc}: block index (64 code points per block) into [`{name}_BLOCKS`].",
        f"pub(crate) static {name}_INDEX: [{idx_ty}; {len(index)}] = [",
        ", ".join(str(i) for i in index),
        "];",
        f"/// {doc}: distinct 64-bit blocks, bit `cp % 64` set when the property holds.",
        f"pub(crate) static {name}_BLOCKS: [u64; {len(uniq)}] = [",
        ", ".join(f"0x{w:016x}" for w in uniq),
        "];",
        "",
    ]
    return lines


def emit_ranges(name, doc, rs):
    lines = [
        f"/// {doc} (sorted inclusive ranges).",
        f"pub(crate) static {name}: [(u32, u32); {len(rs)}] = [",
        ", ".join(f"(0x{a:04x}, 0x{b:04x})" for a, b in rs),
        "];",
        "",
    ]
    return lines


def generate():
    ascii_space = [cp for cp in range(0x80) if chr(cp).isspace()]
    # The Rust byte classes hard-code the ASCII part; make sure it is right.
    assert ascii_space == [0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x1C, 0x1D, 0x1E, 0x1F, 0x20]
    assert [cp for cp in range(0x80) if chr(cp).isalpha()] == list(range(0x41, 0x5B)) + list(
        range(0x61, 0x7B)
    )
    assert all(c.isalpha() for c in ("\u03c3", FINAL))

    lower_multi = []
    for cp in code_points():
        low = chr(cp).lower()
        if len(low) > 1:
            lower_multi.append((cp, low))
    assert lower_multi, "expected U+0130 to lower to two code points"

    def lower_delta(cp):
        low = chr(cp).lower()
        return ord(low) - cp if len(low) == 1 else 0

    lower_index, lower_blocks = delta_table(lower_delta)

    classes = {cp: sigma_class(cp) for cp in code_points()}

    out = [
        "//! Unicode tables generated by `tools/gen_tables.py` from Python's own",
        f"//! `str` methods (Python {sys.version_info.major}.{sys.version_info.minor},"
        f" Unicode {unicodedata.unidata_version}). Do not edit by hand.",
        "",
        "/// Unicode version of the `unicodedata` module the tables come from.",
        f'pub(crate) const UNICODE_VERSION: &str = "{unicodedata.unidata_version}";',
        "",
    ]
    out += emit_bitmap("SPACE", "`str.isspace()`", lambda cp: chr(cp).isspace())
    out += emit_bitmap("ALPHA", "`str.isalpha()`", lambda cp: chr(cp).isalpha())
    out += emit_bitmap(
        "KEEP", "`c.lower().isalpha()`", lambda cp: chr(cp).lower().isalpha()
    )
    out += [
        "/// `str.lower()` of single code points, as `lower - c`: block index (64",
        "/// code points per block) into [`LOWER_BLOCKS`]; 0 past its end.",
        f"pub(crate) static LOWER_INDEX: [u8; {len(lower_index)}] = [",
        ", ".join(str(i) for i in lower_index),
        "];",
        "/// Distinct blocks of `str.lower()` deltas (0 for code points that",
        "/// lower to themselves or to several code points).",
        f"pub(crate) static LOWER_BLOCKS: [[i32; 64]; {len(lower_blocks)}] = [",
        ", ".join("[" + ", ".join(str(d) for d in block) + "]" for block in lower_blocks),
        "];",
        "",
        "/// `str.lower()` of code points that lower to several code points.",
        f"pub(crate) static LOWER_MULTI: [(u32, &str); {len(lower_multi)}] = [",
        ", ".join(
            "(0x{:04x}, \"{}\")".format(a, "".join(f"\\u{{{ord(ch):04x}}}" for ch in low))
            for a, low in lower_multi
        ),
        "];",
        "",
    ]
    out += emit_ranges(
        "SIGMA_CASED",
        "Code points that stop CPython's final-sigma scan as cased characters",
        ranges(lambda cp: classes[cp] == "cased"),
    )
    out += emit_ranges(
        "SIGMA_IGNORABLE",
        "Code points that CPython's final-sigma scan skips as case-ignorable",
        ranges(lambda cp: classes[cp] == "ignorable"),
    )
    return "\n".join(out)


def rustfmt(path):
    subprocess.run(["rustfmt", "--edition", "2024", path], check=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="only check that the file is current")
    ap.add_argument(
        "--any-version", action="store_true", help="accept a Unicode version other than 14.0.0"
    )
    ap.add_argument("--out", default=OUT, help="output file (default: src/unicode/tables.rs)")
    args = ap.parse_args()

    if unicodedata.unidata_version != EXPECTED_UNICODE and not args.any_version:
        sys.exit(
            f"Python's Unicode is {unicodedata.unidata_version}, expected "
            f"{EXPECTED_UNICODE} (Python 3.11); pass --any-version to override"
        )
    text = generate()
    target = args.out
    if args.check:
        target = args.out + ".check"
    with open(target, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
        f.write("\n")
    rustfmt(target)
    if args.check:
        with open(target, encoding="utf-8") as f:
            fresh = f.read()
        os.remove(target)
        with open(args.out, encoding="utf-8") as f:
            current = f.read()
        if fresh != current:
            sys.exit(f"{args.out} is stale; run tools/gen_tables.py")
        print(f"{args.out} is current")


if __name__ == "__main__":
    main()
