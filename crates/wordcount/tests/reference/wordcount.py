#!/usr/bin/env python3
"""Reference word count: the chapter's ``file_to_words`` under real Python 3.

This is ``multiprocessing_wordcount.py`` from the multiprocessing chapter of
Python Module of the Week, ported to Python 3 and adapted to count: the same
line loop, the same ``translate``/``split``/``lower``/``isalpha``/stop-word
steps in the same order. It prints every word as ``word<TAB>count``, by count
descending then word ascending, which must match ``wordcount --format tsv``
byte for byte.

Usage: wordcount.py [--lossy] PATH...   (directories are walked recursively)
"""

import collections
import os
import string
import sys

STOP_WORDS = set([
    'a', 'an', 'and', 'are', 'as', 'be', 'by', 'for', 'if', 'in',
    'is', 'it', 'of', 'or', 'py', 'rst', 'that', 'the', 'to', 'with',
])
TR = str.maketrans(string.punctuation, ' ' * len(string.punctuation))


def file_to_words(filename, errors):
    """Count the words of one file, as the chapter's file_to_words does."""
    counts = collections.Counter()
    # Text mode with universal newlines, as open(filename, 'rt') in the
    # chapter, but with the encoding pinned to UTF-8.
    with open(filename, 'rt', encoding='utf-8', errors=errors) as f:
        for line in f:
            if line.lstrip().startswith('..'):  # Skip rst comment lines
                continue
            line = line.translate(TR)  # Strip punctuation
            for word in line.split():
                word = word.lower()
                if word.isalpha() and word not in STOP_WORDS:
                    counts[word] += 1
    return counts


def files(paths):
    for path in paths:
        if os.path.isdir(path):
            for root, dirs, names in os.walk(path):
                dirs.sort()
                for name in sorted(names):
                    yield os.path.join(root, name)
        else:
            yield path


def main(argv):
    errors = 'strict'
    if argv and argv[0] == '--lossy':
        errors = 'replace'
        argv = argv[1:]
    total = collections.Counter()
    for filename in files(argv):
        total.update(file_to_words(filename, errors))
    out = sys.stdout.buffer
    for word, count in sorted(total.items(), key=lambda item: (-item[1], item[0])):
        out.write(f'{word}\t{count}\n'.encode('utf-8'))


if __name__ == '__main__':
    main(sys.argv[1:])
