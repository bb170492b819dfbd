"""wordcount.mbps: the chapter's word count (SimpleMapReduce over a Pool, see
multiprocessing_wordcount.py), in MB of input per second (10^6 bytes/s).
wordcount.vs_wc: the same speed over that of `wc -w` on the same files, timed just before it in
the same run (x).

    python3 bench_wordcount.py wordcount.mbps|wordcount.vs_wc [--quick]
                               [--variant mapreduce|counter] [--corpus DIR] [--print-corpus]
                               [FILE ...]

Input: the FILEs given, or else a generated corpus of rst-like text (8 files, 16 MB in all,
4 MB with --quick), made once in DIR (default: a directory under the system temp dir) and
reused. `--print-corpus` makes the corpus and prints its file paths, one per line, instead of
measuring, so that other implementations can count the very same input.

Variants:
  mapreduce  (default) SimpleMapReduce(file_to_words, count_words) with the default number of
             workers, its result sorted by count as the chapter does. Timed from creating the
             SimpleMapReduce (which starts its Pool) to the sorted result.
  counter    one process: the same tokenisation fed to a collections.Counter, then
             most_common(). The single-process baseline.

Workers print "<name> reading <file>" as in the chapter; here that goes to stderr.
"""

import collections
import itertools
import operator
import os
import random
import subprocess
import sys
import tempfile

from benchlib import MB, emit, now, parse_args
from multiprocessing_mapreduce import SimpleMapReduce
from multiprocessing_wordcount import STOP_WORDS, TR, count_words, file_to_words

FIGURES = {"wordcount.mbps", "wordcount.vs_wc"}
FILES = 8
MB_FULL = 16
MB_QUICK = 4


def extra_args(parser):
    parser.add_argument("--variant", choices=["mapreduce", "counter"], default="mapreduce")
    parser.add_argument("--corpus", help="directory for the generated corpus")
    parser.add_argument("--print-corpus", action="store_true")
    parser.add_argument("files", nargs="*")


def make_corpus(directory, total_mb):
    """Writes FILES files of rst-like text, total_mb MB in all, unless they exist already."""
    os.makedirs(directory, exist_ok=True)
    paths = [os.path.join(directory, f"part{i:02}.rst") for i in range(FILES)]
    per_file = total_mb * 1_000_000 // FILES
    if all(os.path.exists(p) and os.path.getsize(p) >= per_file for p in paths):
        return paths
    rng = random.Random(20240611)
    letters = "abcdefghijklmnopqrstuvwxyz"
    vocabulary = [
        "".join(rng.choice(letters) for _ in range(rng.randint(2, 11))) for _ in range(20_000)
    ]
    vocabulary[:12] = ["process", "the", "worker", "multiprocessing", "a", "queue",
                       "pool", "and", "starting", "exiting", "of", "daemon"]
    cum_weights = list(itertools.accumulate(1.0 / (rank + 1) for rank in range(len(vocabulary))))
    punctuation = ["", "", "", "", ",", ".", ":", "()", "``"]
    for path in paths:
        tmp = path + ".tmp"
        written = 0
        with open(tmp, "w") as f:
            while written < per_file:
                if rng.random() < 0.05:
                    line = ".. {{{cog comment line, skipped by the word count\n"
                else:
                    words = rng.choices(vocabulary, cum_weights=cum_weights, k=rng.randint(4, 14))
                    line = " ".join(w + rng.choice(punctuation) for w in words) + "\n"
                    if rng.random() < 0.1:
                        line = "    " + line
                f.write(line)
                written += len(line)
        os.replace(tmp, path)
    return paths


def mapreduce(files):
    saved = sys.stdout
    sys.stdout = sys.stderr  # the workers' "reading" lines; the Pool forks after this
    try:
        mapper = SimpleMapReduce(file_to_words, count_words)
        word_counts = mapper(files)
        word_counts.sort(key=operator.itemgetter(1))
        word_counts.reverse()
        mapper.pool.close()
        mapper.pool.join()
    finally:
        sys.stdout = saved
    return word_counts


def counter(files):
    counts = collections.Counter()
    for filename in files:
        with open(filename, "rt") as f:
            for line in f:
                if line.lstrip().startswith(".."):
                    continue
                counts.update(
                    w for w in (word.lower() for word in line.translate(TR).split())
                    if w.isalpha() and w not in STOP_WORDS
                )
    return counts.most_common()


def wc_mbps(files, nbytes):
    """`wc -w` over the files, in MB/s."""
    t0 = now()
    subprocess.run(["wc", "-w", *files], stdout=subprocess.DEVNULL, check=True)
    return nbytes / MB / (now() - t0)


def main():
    args = parse_args(FIGURES, __doc__, extra_args)
    files = args.files
    if not files:
        total_mb = MB_QUICK if args.quick else MB_FULL
        directory = args.corpus or os.path.join(
            tempfile.gettempdir(), f"multiproc-bench-corpus-{total_mb}mb"
        )
        files = make_corpus(directory, total_mb)
    if args.print_corpus:
        for path in files:
            print(os.path.abspath(path))
        return
    nbytes = sum(os.path.getsize(p) for p in files)
    wc = wc_mbps(files, nbytes) if args.figure == "wordcount.vs_wc" else None
    t0 = now()
    word_counts = mapreduce(files) if args.variant == "mapreduce" else counter(files)
    elapsed = now() - t0
    if not word_counts:
        raise SystemExit("no words counted")
    print(f"top word: {word_counts[0][0]!r} x {word_counts[0][1]}", file=sys.stderr)
    mbps = nbytes / MB / elapsed
    if wc is None:
        emit(mbps, "MB/s")
    else:
        emit(mbps / wc, "x")


if __name__ == "__main__":
    main()
