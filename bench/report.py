"""Write bench/results/REPORT.md and PNG plots from every bench/results/*.json.

Each benchmark area writes its own JSON shape; an adapter per known area turns
it into rows (metric, this project, peer(s), ratio) and target verdicts. An area
without an adapter, or whose JSON lacks a figure a target needs, is reported as
such ("not measured") instead of failing the report.

    .venv/bin/python bench/report.py [--results bench/results]
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["main", "write_report"]

RESULTS = Path(__file__).resolve().parent / "results"

Row = tuple[str, dict[str, Any]]
Target = tuple[str, Any, bool | None]


def _num(value: Any) -> float | None:
    """Return ``value`` as a finite float, or None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _dig(data: Any, *path: str) -> Any:
    """Return data[path[0]][path[1]]..., or None when any step is missing."""
    for step in path:
        if not isinstance(data, dict) or step not in data:
            return None
        data = data[step]
    return data


def _fmt(value: Any) -> str:
    number = _num(value)
    if number is None:
        return "-" if value is None else str(value)
    if number == 0 or abs(number) >= 100:
        return f"{number:,.0f}"
    if abs(number) >= 1:
        return f"{number:.2f}"
    return f"{number:.3g}"


def _target(
    name: str, value: Any, threshold: float, higher: bool = True, strict: bool = False
) -> Target:
    number = _num(value)
    if number is None:
        return (name, None, None)
    if higher:
        met = number > threshold if strict else number >= threshold
    else:
        met = number < threshold if strict else number <= threshold
    return (name, number, met)


# -- adapters: JSON of one area -> (columns, rows, targets) ---------------------------------


def adapt_inmemory(data: dict[str, Any]) -> tuple[list[str], list[Row], list[Target]]:
    """Return the in-memory layer's rows (no targets: the issue sets none)."""
    rows = [(k, v) for k, v in (data.get("results") or {}).items() if isinstance(v, dict)]
    return ["new", "legacy", "speedup", "unit"], rows, []


def adapt_redis(data: dict[str, Any]) -> tuple[list[str], list[Row], list[Target]]:
    """Return asgi_redis vs asgi_redis 1.4.3 rows and the Redis layer targets."""
    new, legacy = _dig(data, "result", "new") or {}, _dig(data, "result", "legacy") or {}
    new_unix = _dig(data, "result", "new-unix") or {}
    legacy_unix = _dig(data, "result", "legacy-unix") or {}
    sleeping = _dig(data, "result", "new-sleep") or {}
    rows = [
        (
            k,
            {
                "new": new.get(k),
                "new, no polling": sleeping.get(k),
                "legacy": legacy.get(k),
                "new unix": new_unix.get(k),
                "legacy unix": legacy_unix.get(k),
            },
        )
        for k in new
    ]
    # Context, not a result: each call replaced by one bare PING (see bench_redis.py).
    rows += [(f"round-trip floor {k}", {"new": v}) for k, v in (data.get("floor") or {}).items()]
    rows += [(f"polling floor {k}", {"new": v}) for k, v in (data.get("floor_poll") or {}).items()]
    ratios = data.get("ratios") or {}
    rows += [(f"ratio {k}", {"ratio": v}) for k, v in ratios.items()]
    targets = [
        _target("throughput >= 3x asgi_redis 1.4.3", ratios.get("throughput_x"), 3.0),
        _target(
            "lower round-trip p50 than 1.4.3 (x faster > 1)",
            ratios.get("round_trip_p50_x_faster"),
            1.0,
            strict=True,
        ),
        _target("1,000-member fan-out >= 10x faster", ratios.get("fanout_1000_x_faster"), 10.0),
        _target("fan-out loses nothing (lost messages)", new.get("lost"), 0, higher=False),
    ]
    if "unix_throughput_x" in ratios:
        # The same goal with both versions on the server's unix socket (one machine).
        targets.append(
            _target(
                "throughput >= 3x asgi_redis 1.4.3, both over a unix socket",
                ratios.get("unix_throughput_x"),
                3.0,
            )
        )
    columns = ["new", "new, no polling", "legacy", "new unix", "legacy unix", "ratio"]
    return columns, rows, targets


def adapt_ipc(data: dict[str, Any]) -> tuple[list[str], list[Row], list[Target]]:
    """Return asgi_ipc vs asgi_ipc 1.4.2 and vs asgi_redis rows and the IPC targets."""
    results = data.get("results") or {}
    rows = [(k, v) for k, v in results.items() if isinstance(v, dict)]
    targets: list[Target] = []
    for key, entry in rows:
        if key.endswith("msgs_per_s") or key.startswith("fanout."):
            targets.append(
                _target(f"{key}: >= 10x asgi_ipc 1.4.2", entry.get("speedup_vs_legacy"), 10.0)
            )
    for key, entry in rows:
        if key.endswith("msgs_per_s") or key.startswith("rtt.p50"):
            targets.append(
                _target(
                    f"{key}: faster than Redis", entry.get("speedup_vs_redis"), 1.0, strict=True
                )
            )
    pair = results.get("pair.msgs_per_s") or {}
    if pair.get("floor_vs_legacy") is not None:
        # Context, not a target: the pair loop with no store at all (see bench_ipc.py).
        rows.append(("pair floor (checks + msgpack + free lock, no store)", {**pair}))
    columns = ["new", "legacy", "redis", "floor", "speedup_vs_legacy", "speedup_vs_redis"]
    return [*columns, "floor_vs_legacy"], rows, targets


def adapt_rabbitmq(data: dict[str, Any]) -> tuple[list[str], list[Row], list[Target]]:
    """Return asgi_rabbitmq vs asgi_redis rows and the "within 2x of Redis" targets."""
    median = data.get("median") or {}
    slow = data.get("slowdown_vs_redis") or {}
    rabbit, redis = median.get("rabbitmq") or {}, median.get("redis") or {}
    rows = [
        (k, {"rabbitmq": rabbit.get(k), "redis": redis.get(k), "slowdown_vs_redis": slow.get(k)})
        for k in rabbit
    ]
    targets = [
        _target(f"{k}: within 2x of Redis (slowdown <= 2)", v, 2.0, higher=False)
        for k, v in slow.items()
    ]
    floor, floor_ratios = median.get("pika-floor") or {}, data.get("pika_floor_vs_redis") or {}
    # Context, not a target: bare pika with long-lived consumers, no layer.
    rows += [
        (
            f"bare pika {k}",
            {"rabbitmq": v, "redis": redis.get(k), "slowdown_vs_redis": floor_ratios.get(k)},
        )
        for k, v in floor.items()
    ]
    return ["rabbitmq", "redis", "slowdown_vs_redis"], rows, targets


def adapt_daphne(data: dict[str, Any]) -> tuple[list[str], list[Row], list[Target]]:
    """Return Daphne vs Daphne 1.4.2 rows per scenario and the Daphne targets."""
    rows: list[Row] = []
    targets: list[Target] = []
    for scenario, result in (data.get("results") or {}).items():
        for part in ("http", "websocket"):
            for metric, entry in (result.get(part) or {}).items():
                ratio = entry.get("new_over_legacy", entry.get("legacy_over_new"))
                rows.append((f"{scenario} {part}.{metric}", {**entry, "ratio": ratio}))
        rps = _dig(result, "http", "rps", "new_over_legacy")
        p99 = _dig(result, "http", "p99_ms", "legacy_over_new")
        targets.append(_target(f"{scenario}: requests/s >= 2x daphne 1.4.2", rps, 2.0))
        targets.append(
            _target(f"{scenario}: lower p99 than 1.4.2 (legacy/new > 1)", p99, 1.0, strict=True)
        )
    for scenario, reason in (data.get("skipped") or {}).items():
        targets.append((f"{scenario}: skipped ({reason})", None, None))
    return ["new", "legacy", "ratio"], rows, targets


def adapt_stack(data: dict[str, Any]) -> tuple[list[str], list[Row], list[Target]]:
    """Return the full-stack medians per configuration and the full-stack targets."""
    rows: list[Row] = []
    for config, figures in (data.get("medians") or {}).items():
        rows.append(
            (
                config,
                {
                    "req/s": _dig(figures, "http", "rps"),
                    "http p50 ms": _dig(figures, "http", "p50_ms"),
                    "http p99 ms": _dig(figures, "http", "p99_ms"),
                    "ws msg/s": _dig(figures, "ws", "msgs_per_s"),
                    "ws p50 ms": _dig(figures, "ws", "p50_ms"),
                    "ws p99 ms": _dig(figures, "ws", "p99_ms"),
                    "bcast last ms": _dig(figures, "broadcast", "last_ms"),
                    "bcast lost": _dig(figures, "broadcast", "lost"),
                },
            )
        )
    rows += [(f"ratio {k}", {"ratio": v}) for k, v in (data.get("ratios") or {}).items()]
    paired = data.get("paired_ratios") or {}
    rows += [(f"median round-by-round ratio {k}", {"paired": v}) for k, v in paired.items()]
    rows += _cpu_rows(data.get("medians") or {})
    targets = [
        (t.get("target", "?"), t.get("value"), t.get("met")) for t in data.get("targets") or []
    ]
    columns = ["req/s", "http p50 ms", "http p99 ms", "ws msg/s", "ws p50 ms", "ws p99 ms"]
    columns += ["bcast last ms", "bcast lost", "ratio", "paired", *CPU_COLUMNS]
    return columns, rows, targets


#: The CPU table's columns: microseconds per request (HTTP) or per echoed message (WebSocket).
CPU_COLUMNS = ["server µs", "workers µs", "broker µs", "client µs", "total µs", "cores busy"]


def _cpu_rows(medians: dict[str, Any]) -> list[Row]:
    """Return CPU time per request/message by process role (see bench/stack/cpu.py).

    "cores busy" is the rate times the total: how much of the machine the
    configuration kept working. At the machine's core count it is CPU-bound and
    only a lower total can raise its rate; below it, the rest went idle waiting.
    """
    rows: list[Row] = []
    for test, rate_key, label in (("http", "rps", "request"), ("ws", "msgs_per_s", "message")):
        for config, figures in medians.items():
            total = _num(_dig(figures, test, "cpu_us_total"))
            if total is None:
                continue
            values: dict[str, Any] = {
                f"{role} µs": _dig(figures, test, f"cpu_us_{role}")
                for role in ("server", "workers", "broker", "client", "total")
            }
            rate = _num(_dig(figures, test, rate_key))
            values["cores busy"] = round(rate * total / 1e6, 2) if rate is not None else None
            rows.append((f"{test} CPU per {label}: {config}", values))
    return rows


ADAPTERS: dict[str, Callable[[dict[str, Any]], tuple[list[str], list[Row], list[Target]]]] = {
    "inmemory": adapt_inmemory,
    "redis": adapt_redis,
    "ipc": adapt_ipc,
    "rabbitmq": adapt_rabbitmq,
    "daphne": adapt_daphne,
    "stack": adapt_stack,
}
TITLES = {
    "inmemory": "In-memory layer (asgiref.inmemory vs asgiref 1.1.2)",
    "redis": "Redis layer (asgi_redis vs asgi_redis 1.4.3)",
    "ipc": "IPC layer (asgi_ipc vs asgi_ipc 1.4.2, and vs asgi_redis)",
    "rabbitmq": "RabbitMQ layer (asgi_rabbitmq vs asgi_redis, same run)",
    "daphne": "Daphne (vs daphne 1.4.2 on the same layer)",
    "stack": "Full stack (daphne + runworker vs the original stack, channels 4 and gunicorn)",
}


def _flatten(data: Any, prefix: str = "") -> list[Row]:
    """Return the numeric leaves of an unknown JSON as rows (fallback for new areas)."""
    rows: list[Row] = []
    if isinstance(data, dict):
        for key, value in data.items():
            if key in {"raw", "rounds", "samples"} and isinstance(value, dict | list):
                continue
            rows += _flatten(value, f"{prefix}.{key}" if prefix else str(key))
    elif _num(data) is not None:
        rows.append((prefix, {"value": data}))
    return rows


def _table(columns: list[str], rows: list[Row]) -> list[str]:
    """Render rows as Markdown tables, starting a new table where the row's fields change."""
    groups: list[list[Row]] = []
    for row in rows:
        if groups and set(groups[-1][-1][1]) == set(row[1]):
            groups[-1].append(row)
        else:
            groups.append([row])
    if len(groups) > 1:
        lines: list[str] = []
        for group in groups:
            lines += [*_one_table(columns, group), ""]
        return lines[:-1]
    return _one_table(columns, rows)


def _one_table(columns: list[str], rows: list[Row]) -> list[str]:
    used = [c for c in columns if any(c in r for _, r in rows)]
    if not used:
        return ["_(no figures in this result file)_"]
    lines = ["| metric | " + " | ".join(used) + " |", "|---" * (len(used) + 1) + "|"]
    for name, values in rows:
        lines.append(f"| {name} | " + " | ".join(_fmt(values.get(c)) for c in used) + " |")
    return lines


def _verdict(met: bool | None) -> str:
    return {True: "**met**", False: "**missed**", None: "not measured"}[met]


# -- plots ----------------------------------------------------------------------------------


def _bars(
    ax: Any,
    labels: list[str],
    series: dict[str, list[float | None]],
    ylabel: str,
    log: bool = False,
) -> None:
    width = 0.8 / max(1, len(series))
    for index, (name, values) in enumerate(series.items()):
        xs = [i + index * width for i in range(len(labels))]
        ax.bar(xs, [v if v is not None else 0 for v in values], width, label=name)
    ax.set_xticks([i + width * (len(series) - 1) / 2 for i in range(len(labels))])
    ax.set_xticklabels(labels, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel(ylabel)
    if log:
        ax.set_yscale("log")
    if len(series) > 1:
        ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)


def plot_stack(data: dict[str, Any], out: Path) -> list[str]:
    """Draw throughput and latency per full-stack configuration; return the file names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    medians = data.get("medians") or {}
    files: list[str] = []
    if not medians:
        return files
    panels = [
        (
            "stack_http.png",
            "http",
            "HTTP GET /hello (wrk)",
            ("rps", "requests/s"),
            ["p50_ms", "p90_ms", "p99_ms"],
        ),
        (
            "stack_ws.png",
            "ws",
            "WebSocket echo (8 sockets)",
            ("msgs_per_s", "messages/s"),
            ["p50_ms", "p99_ms"],
        ),
    ]
    for name, test, title, (rate, unit), latencies in panels:
        configs = [c for c in medians if test in medians[c]]
        if not configs:
            continue
        fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
        _bars(left, configs, {rate: [_dig(medians, c, test, rate) for c in configs]}, unit)
        left.set_title(f"{title}: throughput (median)")
        _bars(
            right,
            configs,
            {k: [_dig(medians, c, test, k) for c in configs] for k in latencies},
            "ms",
            log=True,
        )
        right.set_title(f"{title}: latency (median of rounds)")
        fig.tight_layout()
        fig.savefig(out / name, dpi=100)
        plt.close(fig)
        files.append(name)
    configs = [c for c in medians if "broadcast" in medians[c]]
    if configs:
        fig, ax = plt.subplots(figsize=(7, 4))
        members = (data.get("settings") or {}).get("broadcast_members", 1000)
        _bars(
            ax,
            configs,
            {
                "last socket": [_dig(medians, c, "broadcast", "last_ms") for c in configs],
                "median socket": [_dig(medians, c, "broadcast", "median_ms") for c in configs],
            },
            "ms",
            log=True,
        )
        for i, config in enumerate(configs):
            lost = _dig(medians, config, "broadcast", "lost")
            ax.annotate(
                f"lost {_fmt(lost)}",
                (i, 1),
                xycoords=("data", "axes fraction"),
                ha="left",
                va="top",
                fontsize=7,
            )
        ax.set_title(f"Broadcast to {members} WebSockets: time after the send")
        fig.tight_layout()
        fig.savefig(out / "stack_broadcast.png", dpi=100)
        plt.close(fig)
        files.append("stack_broadcast.png")
    return files


def plot_ratios(ratios: list[tuple[str, float]], out: Path) -> list[str]:
    """Draw every "this project over peer" ratio on one log-scale chart; return the file name."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not ratios:
        return []
    fig, ax = plt.subplots(figsize=(9, max(3, 0.28 * len(ratios))))
    names = [n for n, _ in ratios]
    values = [v for _, v in ratios]
    ax.barh(names, values, color=["tab:green" if v >= 1 else "tab:red" for v in values])
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("ratio, this project vs peer (higher is better; 1 = equal)")
    ax.tick_params(axis="y", labelsize=7)
    ax.invert_yaxis()
    fig.tight_layout()
    fig.savefig(out / "ratios.png", dpi=100)
    plt.close(fig)
    return ["ratios.png"]


def _speedups(area: str, rows: list[Row]) -> list[tuple[str, float]]:
    """Return the (label, ratio) pairs of one area that compare us with a peer."""
    found: list[tuple[str, float]] = []
    for name, values in rows:
        for key in ("speedup", "speedup_vs_legacy", "speedup_vs_redis", "ratio"):
            number = _num(values.get(key))
            if number is not None and number > 0:
                label = f"{area}: {name}" + (f" ({key})" if key.startswith("speedup_vs") else "")
                found.append((label, number))
        slow = _num(values.get("slowdown_vs_redis"))
        if slow:
            found.append((f"{area}: {name} (redis/rabbitmq)", 1 / slow))
    return found


def _profiles(results: Path, top: int = 6) -> list[str]:
    """Return a section quoting the hottest frames of every ``profile_*.txt`` file."""
    files = sorted(results.glob("profile_*.txt"))
    if not files:
        return []
    lines = ["## Profiles (py-spy, from bench/stack/pyspy_profile.py)", ""]
    for path in files:
        lines += [f"### {path.name}", "", "```"]
        taken = 0
        for line in path.read_text().splitlines():
            if line.startswith(("#", "load result", "## pid")) or "samples; self time" in line:
                lines.append(line)
                taken = 0
            elif line.startswith("    ") and taken < top:
                lines.append(line)
                taken += 1
            elif "inclusive time" in line:
                taken = top
        lines += ["```", ""]
    return lines


def write_report(results: Path) -> Path:
    """Read every results/*.json, write REPORT.md and the PNGs beside it; return the report."""
    lines = [
        "# Benchmark report",
        "",
        "Generated by `bench/report.py` from `bench/results/*.json` (see bench/README.md).",
        "Ratios compare medians of interleaved rounds of the same run; absolute figures",
        "are from a shared, loaded 2-core machine and are only comparable within a row.",
        "",
    ]
    summary: list[str] = [
        "## Targets",
        "",
        "| area | target | value | verdict |",
        "|---|---|---|---|",
    ]
    sections: list[str] = []
    all_ratios: list[tuple[str, float]] = []
    pictures: list[str] = []
    for path in sorted(results.glob("*.json")):
        area = path.stem
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            sections += [f"## {area}", "", f"Could not read {path.name}: {exc}", ""]
            continue
        adapter = ADAPTERS.get(area)
        if adapter is None:
            columns, rows, targets = ["value"], _flatten(data), []
        else:
            try:
                columns, rows, targets = adapter(data)
            except (AttributeError, KeyError, TypeError) as exc:
                columns, rows, targets = ["value"], _flatten(data), []
                sections += [
                    f"_{path.name} has an unexpected shape ({exc}); raw figures below._",
                    "",
                ]
        sections += [f"## {TITLES.get(area, area)}", ""]
        meta = [
            f"{k}: {data[k]}"
            for k in ("quick", "rounds", "when", "elapsed_s")
            if isinstance(data.get(k), bool | int | float | str)
        ]
        if meta:
            sections += ["_" + "; ".join(meta) + "_", ""]
        sections += [*_table(columns, rows), ""]
        for note in data.get("notes") or []:
            sections.append(f"- note: {note}")
        for config, errors in (data.get("failures") or {}).items():
            sections.append(
                f"- {len(errors)} failed run(s) of {config}: {errors[0].splitlines()[0]}"
            )
        sections.append("")
        if not targets and area == "inmemory":
            summary.append(f"| {area} | (the issue sets no target) | - | - |")
        for name, value, met in targets:
            summary.append(f"| {area} | {name} | {_fmt(value)} | {_verdict(met)} |")
        all_ratios += _speedups(area, rows)
        if area == "stack":
            pictures += plot_stack(data, results)
            sections += [
                "The CPU rows are microseconds of CPU per request (HTTP) or per echoed",
                'message (WebSocket) by process role; bench/README.md, section "Where the',
                'time goes", reads them and explains the targets this stack misses.',
                "",
            ]
    pictures += plot_ratios(all_ratios, results)
    lines += [*summary, ""]
    if pictures:
        lines += ["## Plots", ""] + [f"![{p}]({p})" for p in pictures] + [""]
    lines += sections
    lines += _profiles(results)
    report = results / "REPORT.md"
    report.write_text("\n".join(lines) + "\n")
    return report


def main() -> None:
    """Parse arguments and write the report."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--results", type=Path, default=RESULTS, help="folder of *.json results")
    args = parser.parse_args()
    print(f"wrote {write_report(args.results)}")


if __name__ == "__main__":
    main()
