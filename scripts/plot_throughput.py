#!/usr/bin/env python3
"""Throughput against record size, from `tidelog perf produce|consume --json`.

Usage:
    scripts/plot_throughput.py [BINARY] [OUTDIR]

    BINARY  the built CLI (default: $CARGO_TARGET_DIR/release/tidelog, or
            ./target/release/tidelog); build it with
            `cargo build --release --features cli --bin tidelog`
    OUTDIR  where to write throughput.json and throughput.svg (default: docs)

For each record size (10, 100, 1000, 10000 bytes) and codec (none, lz4) it runs
`perf produce` into a fresh temporary store, then `perf consume` of the same
records (one thread, one partition, batches of 200, page cache only), keeps every
JSON line in OUTDIR/throughput.json and draws OUTDIR/throughput.svg: MB/s of
keys and values (10^6 bytes) against record size on a log scale, one line per
(command, codec). Python 3 standard library only.
"""

import json
import math
import os
import platform
import subprocess
import sys
import tempfile

SIZES = [10, 100, 1000, 10000]
# Records per run: about 0.5-2 s each on a 2-core VM.
RECORDS = {10: 10_000_000, 100: 5_000_000, 1000: 1_500_000, 10000: 250_000}
CODECS = ["none", "lz4"]
COMMANDS = ["produce", "consume"]


def default_binary():
    target = os.environ.get("CARGO_TARGET_DIR", "target")
    return os.path.join(target, "release", "tidelog")


def machine():
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{os.cpu_count()} cores {cpu}, Linux {platform.release()}"


def run(binary, command, store, size, codec):
    args = [binary, "perf", command, "--dir", store, "--records", str(RECORDS[size]),
            "--record-size", str(size), "--codec", codec, "--json"]
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def measure(binary):
    results = []
    for codec in CODECS:
        for size in SIZES:
            with tempfile.TemporaryDirectory(prefix="tidelog-plot-") as store:
                for command in COMMANDS:
                    r = run(binary, command, store, size, codec)
                    print(f"{command:8} {codec:5} {size:6} B  {r['records_per_sec']:12.0f} rec/s"
                          f"  {r['mb_per_sec']:9.1f} MB/s", file=sys.stderr)
                    results.append(r)
    return results


def esc(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def nice_max(v):
    """A round axis maximum at or above v."""
    if v <= 0:
        return 1.0
    p = 10 ** math.floor(math.log10(v))
    for m in (1, 2, 2.5, 5, 10):
        if m * p >= v:
            return m * p
    return 10 * p


def svg(results, title):
    w, h = 760, 480
    left, right, top, bottom = 80, 200, 50, 60
    pw, ph = w - left - right, h - top - bottom
    xmin, xmax = math.log10(SIZES[0]), math.log10(SIZES[-1])
    ymax = nice_max(max(r["mb_per_sec"] for r in results) * 1.05)

    def x(size):
        return left + (math.log10(size) - xmin) / (xmax - xmin) * pw

    def y(mb):
        return top + ph - mb / ymax * ph

    o = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
         f'viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="12">',
         f'<rect width="{w}" height="{h}" fill="white"/>',
         f'<text x="{left + pw / 2}" y="22" text-anchor="middle" font-size="15" '
         f'font-weight="bold">tidelog perf: throughput against record size</text>',
         f'<text x="{left + pw / 2}" y="40" text-anchor="middle" font-size="11" '
         f'fill="#444">{esc(title)}</text>']
    # Grid and ticks.
    step = ymax / 5
    for i in range(6):
        v = step * i
        yy = y(v)
        o.append(f'<line x1="{left}" y1="{yy:.1f}" x2="{left + pw}" y2="{yy:.1f}" '
                 f'stroke="#ddd"/>')
        o.append(f'<text x="{left - 8}" y="{yy + 4:.1f}" text-anchor="end">{v:g}</text>')
    for s in SIZES:
        xx = x(s)
        o.append(f'<line x1="{xx:.1f}" y1="{top}" x2="{xx:.1f}" y2="{top + ph}" '
                 f'stroke="#ddd"/>')
        o.append(f'<text x="{xx:.1f}" y="{top + ph + 18}" text-anchor="middle">{s}</text>')
    o.append(f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" '
             f'stroke="#333"/>')
    o.append(f'<text x="{left + pw / 2}" y="{h - 15}" text-anchor="middle">'
             f'record size (bytes of value, log scale)</text>')
    o.append(f'<text transform="translate(22 {top + ph / 2}) rotate(-90)" '
             f'text-anchor="middle">MB/s (10^6 bytes of keys and values)</text>')
    # Lines.
    styles = {("produce", "none"): ("#1f77b4", ""), ("produce", "lz4"): ("#1f77b4", "6 4"),
              ("consume", "none"): ("#d62728", ""), ("consume", "lz4"): ("#d62728", "6 4")}
    ly = top + 10
    for (command, codec), (color, dash) in styles.items():
        pts = sorted((r["record_size"], r["mb_per_sec"]) for r in results
                     if r["command"] == command and r["codec"] == codec)
        if not pts:
            continue
        d = f' stroke-dasharray="{dash}"' if dash else ""
        path = " ".join(f"{x(s):.1f},{y(v):.1f}" for s, v in pts)
        o.append(f'<polyline points="{path}" fill="none" stroke="{color}" '
                 f'stroke-width="2"{d}/>')
        for s, v in pts:
            o.append(f'<circle cx="{x(s):.1f}" cy="{y(v):.1f}" r="3" fill="{color}"/>')
        lx = left + pw + 15
        o.append(f'<line x1="{lx}" y1="{ly}" x2="{lx + 30}" y2="{ly}" stroke="{color}" '
                 f'stroke-width="2"{d}/>')
        o.append(f'<text x="{lx + 38}" y="{ly + 4}">{command}, {codec}</text>')
        ly += 20
    o.append("</svg>")
    return "\n".join(o) + "\n"


def main():
    argv = sys.argv[1:]
    if argv and argv[0] in ("-h", "--help"):
        print(__doc__)
        return
    binary = argv[0] if len(argv) > 0 else default_binary()
    outdir = argv[1] if len(argv) > 1 else "docs"
    if not os.access(binary, os.X_OK):
        sys.exit(f"no executable at {binary}; build it with "
                 f"`cargo build --release --features cli --bin tidelog`")
    os.makedirs(outdir, exist_ok=True)
    results = measure(binary)
    title = machine()
    with open(os.path.join(outdir, "throughput.json"), "w") as f:
        json.dump({"machine": title, "results": results}, f, indent=1)
        f.write("\n")
    with open(os.path.join(outdir, "throughput.svg"), "w") as f:
        f.write(svg(results, title))
    print(f"wrote {outdir}/throughput.json and {outdir}/throughput.svg", file=sys.stderr)


if __name__ == "__main__":
    main()
