#!/usr/bin/env python3
"""Compares Wisp's ratios to the C ceiling between two sets of Benchmarks/run.sh results.

    python3 Benchmarks/compare.py before-1.md before-2.md before-3.md -- after-1.md after-2.md after-3.md

For every scenario and role, each run's Wisp median divided by the same run's ceiling (wsload) median; then the
median of those ratios over each set's runs, and the change. Latency rows also compare p99 (Wisp / ceiling, lower
is better); the deflate and idle rows have no ceiling and compare absolute medians. Ratios within one run cancel
the drift of the machine between runs.
"""
import re
import statistics
import sys


def parse(path):
    rows = {}
    for line in open(path):
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 10 or cells[0] in ("scenario", "---"):
            continue
        scenario, role, impl = cells[0], cells[1], cells[2]
        number = lambda text: float(re.sub(r"[^0-9.]", "", text)) if re.search(r"[0-9]", text) else None
        rows[(scenario, role, impl)] = {"rate": number(cells[3]), "p99": number(cells[7]), "memory": number(cells[8])}
    return rows


def ratios(paths):
    result = {}
    for path in paths:
        rows = parse(path)
        for (scenario, role, impl), values in rows.items():
            if impl != "wisp":
                continue
            ceiling = rows.get((scenario, role, "ceiling" if role == "server" else "wsload"))
            key = (scenario, role)
            if ceiling and ceiling["rate"] and values["rate"]:
                result.setdefault(key + ("throughput / ceiling",), []).append(values["rate"] / ceiling["rate"])
                if scenario.startswith("latency") and ceiling["p99"] and values["p99"]:
                    result.setdefault(key + ("p99 / ceiling's",), []).append(values["p99"] / ceiling["p99"])
            elif values["rate"]:
                result.setdefault(key + ("msgs/s",), []).append(values["rate"])
            elif values["memory"]:
                result.setdefault(key + ("bytes per connection",), []).append(values["memory"])
    return result


def main():
    split = sys.argv.index("--")
    before, after = ratios(sys.argv[1:split]), ratios(sys.argv[split + 1:])
    print("| scenario | role | measure | before (median of runs) | after (median of runs) | change |")
    print("| --- | --- | --- | ---: | ---: | ---: |")
    for key in before:
        if key not in after:
            continue
        b, a = statistics.median(before[key]), statistics.median(after[key])
        relative = "%" if "ceiling" in key[2] and "p99" not in key[2] else ""
        fmt = (lambda v: f"{v * 100:.1f} %") if relative else (lambda v: f"{v:.2f}" if v < 100 else f"{v:.0f}")
        runs = lambda values: ", ".join(fmt(v) for v in values)
        print(f"| {key[0]} | {key[1]} | {key[2]} | {fmt(b)} ({runs(before[key])}) | {fmt(a)} ({runs(after[key])}) | "
              f"{(a / b - 1) * 100:+.1f} % |")


if __name__ == "__main__":
    main()
