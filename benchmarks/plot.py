"""Draws the wordcount throughput figure as an SVG bar chart (log scale), from the JSON lines
that the harness prints.

    cargo run --release -p multiproc-bench -- wordcount.mbps --json-only > out.jsonl
    python3 benchmarks/plot.py out.jsonl benchmarks/wordcount.svg

Standard library only.
"""

import json
import math
import sys

LABELS = {
    "multiproc": "wordcount (multiproc, 2 workers)",
    "python": "Python SimpleMapReduce (chapter)",
    "python_counter": "Python Counter, 1 process",
    "wc": "wc -w",
    "cat": "cat > /dev/null (reading speed)",
}


def main():
    src, dst = sys.argv[1], sys.argv[2]
    bars = []
    with open(src) as f:
        for line in f:
            line = line.strip()
            if not line.startswith("{"):
                continue
            r = json.loads(line)
            if r.get("figure") == "wordcount.mbps":
                bars.append((r["impl"], float(r["value"])))
    if not bars:
        raise SystemExit("no wordcount.mbps lines in " + src)
    bars.sort(key=lambda b: b[1])
    width, left, right, bar_h, gap, top = 820, 270, 90, 26, 12, 50
    height = top + len(bars) * (bar_h + gap) + 40
    lo = 10 ** math.floor(math.log10(min(v for _, v in bars)))
    hi = 10 ** math.ceil(math.log10(max(v for _, v in bars)))
    span = math.log10(hi) - math.log10(lo)
    scale = lambda v: (math.log10(v) - math.log10(lo)) / span * (width - left - right)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="sans-serif" font-size="13">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{width / 2}" y="24" text-anchor="middle" font-size="15">'
        "Word count throughput, MB/s (log scale), same machine, same run</text>",
    ]
    decade = lo
    while decade <= hi:
        x = left + scale(decade)
        out.append(f'<line x1="{x:.1f}" y1="{top - 6}" x2="{x:.1f}" y2="{height - 30}" stroke="#ddd"/>')
        out.append(f'<text x="{x:.1f}" y="{height - 12}" text-anchor="middle" fill="#555">{decade:g}</text>')
        decade *= 10
    for i, (impl, v) in enumerate(bars):
        y = top + i * (bar_h + gap)
        colour = "#d9534f" if impl == "multiproc" else "#5b8db8"
        out.append(f'<text x="{left - 8}" y="{y + bar_h * 0.68:.1f}" text-anchor="end">{LABELS.get(impl, impl)}</text>')
        out.append(f'<rect x="{left}" y="{y}" width="{max(scale(v), 1):.1f}" height="{bar_h}" fill="{colour}"/>')
        out.append(f'<text x="{left + max(scale(v), 1) + 6:.1f}" y="{y + bar_h * 0.68:.1f}">{v:,.1f}</text>')
    out.append("</svg>")
    with open(dst, "w") as f:
        f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
