"""Profile one full-stack configuration under load with py-spy; summarize where time goes.

    .venv/bin/python bench/stack/pyspy_profile.py new-redis --load http --seconds 15

Starts the configuration as ``bench_stack.py`` does, attaches ``py-spy record``
(collapsed-stack output, subprocesses included) to every server process while
the chosen load runs, and prints, per process, the functions with the most
samples on-CPU: self time (the frame at the top of the stack) and inclusive
time (anywhere in the stack). The summary also goes to
``bench/results/profile_<config>_<load>.txt``. py-spy is installed with pip into
the ``bench/peers/modern`` venv when missing (it attaches to any Python process).
"""

from __future__ import annotations

import argparse
import collections
import subprocess
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BENCH))

import bench_stack  # noqa: E402
from _peers import ensure_legacy_venv, ensure_venv  # noqa: E402

from stack import load  # noqa: E402
from stack.procs import stop_all  # noqa: E402

__all__ = ["main", "summarize"]


def ensure_py_spy() -> str:
    """Return the py-spy binary of the modern peer venv, installing it when missing."""
    python = ensure_venv("modern", bench_stack.MODERN_REQUIREMENTS)
    binary = python.parent / "py-spy"
    if not binary.exists():
        subprocess.run([str(python), "-m", "pip", "install", "-q", "py-spy"], check=True)
    return str(binary)


def summarize(collapsed: str, top: int = 15) -> list[str]:
    """Return the hottest functions of a py-spy collapsed-stack file, self and inclusive."""
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        samples = int(count)
        total += samples
        frames = [f for f in stack.split(";") if f]
        if frames:
            own[frames[-1]] += samples
        for frame in set(frames):
            inclusive[frame] += samples
    if not total:
        return ["  (no samples)"]
    lines = [f"  {total} samples; self time:"]
    lines += [f"    {100 * n / total:5.1f}%  {f}" for f, n in own.most_common(top)]
    lines.append("  inclusive time:")
    lines += [f"    {100 * n / total:5.1f}%  {f}" for f, n in inclusive.most_common(top + 10)]
    return lines


def main() -> None:
    """Run the profile and print the summary."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("config", choices=bench_stack.FULL_CONFIGS)
    parser.add_argument("--load", choices=["http", "ws", "broadcast"], default="http")
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--members", type=int, default=1000)
    args = parser.parse_args()
    py_spy = ensure_py_spy()
    bins = {
        "new": bench_stack.NEW_BIN,
        "modern": ensure_venv("modern", bench_stack.MODERN_REQUIREMENTS).parent,
    }
    if args.config.startswith("legacy-"):
        bins["legacy"] = ensure_legacy_venv().parent
    wrk = load.ensure_wrk()
    out: list[str] = [
        f"# py-spy profile of {args.config} under {args.load} load ({args.seconds:.0f} s)"
    ]
    with tempfile.TemporaryDirectory(prefix="bench-profile-") as tmp:
        logs = Path(tmp)
        deployment = bench_stack.build_deployment(args.config, bins, args, logs)
        try:
            with deployment:
                recorders = []
                for index, process in enumerate(deployment.processes):
                    target = logs / f"p{index}.txt"
                    command = [
                        py_spy,
                        "record",
                        "--format",
                        "raw",
                        "--subprocesses",
                        "--nonblocking",
                    ]
                    command += [
                        "-d",
                        str(int(args.seconds) + 2),
                        "-r",
                        "200",
                        "-p",
                        str(process.pid),
                    ]
                    recorders.append(
                        (
                            process,
                            target,
                            subprocess.Popen(
                                [*command, "-o", str(target)],
                                stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL,
                            ),
                        )
                    )
                if args.load == "http":
                    result = load.run_wrk(wrk, deployment.port, args.seconds, 32)
                elif args.load == "ws":
                    result = load.ws_echo(deployment.port, 8, args.seconds)
                else:
                    result = load.broadcast(deployment.port, args.members)
                out.append(f"load result: {result}")
                for process, target, recorder in recorders:
                    recorder.wait(args.seconds + 60)
                    out.append(
                        f"\n## pid {process.pid}: {' '.join(str(a) for a in process.args)[-90:]}"
                    )
                    text = target.read_text() if target.exists() else ""
                    out += summarize(text)
        finally:
            stop_all()
            bench_stack.cleanup_prefix(deployment.env["BENCH_PREFIX"])
    report = "\n".join(out) + "\n"
    print(report)
    target_file = bench_stack.RESULTS / f"profile_{args.config}_{args.load}.txt"
    target_file.write_text(report)
    print(f"wrote {target_file}")


if __name__ == "__main__":
    main()
