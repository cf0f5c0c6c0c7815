"""What the benchmark scripts share: backend selection, timing, machine, reports.

Nothing here imports Keras or a backend at module level, so a script can
choose ``KERAS_BACKEND`` (and re-execute itself) before the first import.
"""

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
BACKENDS = ("tensorflow", "jax")
#: Name shown -> the distributions that may provide it, first installed wins.
PACKAGES = {
    "keras": ("keras",),
    "tensorflow": ("tensorflow", "tensorflow-cpu"),
    "jax": ("jax",),
    "jaxlib": ("jaxlib",),
    "scikit-learn": ("scikit-learn",),
    "numpy": ("numpy",),
    "scikeras": ("scikeras",),
    "skce": ("skce",),
}


# ----------------------------------------------------------------------
# Backend selection


def quiet_environment() -> None:
    """Silence TensorFlow's C++ start-up chatter (set before it is imported)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def current_backend() -> str:
    return os.environ.get("KERAS_BACKEND", "tensorflow")


def _backends(value: str) -> tuple:
    names = tuple(v.strip() for v in value.split(",") if v.strip())
    unknown = [n for n in names if n not in BACKENDS]
    if not names or unknown:
        raise argparse.ArgumentTypeError(
            f"--backend takes a comma-separated list of {BACKENDS}. "
            f"Received: {value!r}."
        )
    return names


def make_parser(description: str, repeats: int | None = 3) -> argparse.ArgumentParser:
    """An argument parser with the options the scripts share.

    ``repeats=None`` leaves out ``--repeats``, for a script that runs each
    candidate once.
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--backend",
        type=_backends,
        default=None,
        help="Keras backend(s), comma-separated, e.g. 'tensorflow,jax'. One "
        "backend re-executes this script with KERAS_BACKEND set; several run "
        "one child process each and merge their rows into one report. "
        "Default: $KERAS_BACKEND, else tensorflow.",
    )
    if repeats is not None:
        parser.add_argument(
            "--repeats",
            type=int,
            default=repeats,
            help="Timed runs per candidate after the cold (first) one; the "
            f"median is reported (default {repeats}).",
        )
    # Internal: a child writes its rows here instead of writing a report, and
    # measures only the candidate named.
    parser.add_argument("--rows-json", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--candidate", default=None, help=argparse.SUPPRESS)
    parser.add_argument(
        "--replot",
        action="store_true",
        help="Rewrite the report and plot from the saved results/*.json "
        "without measuring.",
    )
    parser.add_argument(
        "--results",
        type=Path,
        default=RESULTS,
        help="Folder to write the report, plot and JSON to (default "
        "benchmarks/results; give another one for a trial run at small sizes).",
    )
    return parser


def run_self(argv: list, backend: str) -> object:
    """Run this script in a child process with ``KERAS_BACKEND=backend``.

    The child gets ``argv`` plus ``--rows-json PATH`` and returns what it writes
    there (argparse keeps the last of repeated options, so ``argv`` may
    override the parent's options).
    """
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "rows.json"
        command = [
            sys.executable,
            sys.argv[0],
            *argv,
            "--backend",
            backend,
            "--rows-json",
            str(path),
        ]
        env = {**os.environ, "KERAS_BACKEND": backend}
        subprocess.run(command, check=True, env=env)
        return json.loads(path.read_text())


def collect_rows(args: argparse.Namespace, measure) -> list:
    """Return ``measure(args)``'s rows for every backend asked for.

    One backend: re-execute this script with ``KERAS_BACKEND`` set if it is
    not already, then measure in this process. Several: one child process per
    backend, rows concatenated in the order given.
    """
    backends = args.backend or (current_backend(),)
    if len(backends) == 1:
        if backends[0] != current_backend():
            sys.stdout.flush()
            sys.stderr.flush()
            env = {**os.environ, "KERAS_BACKEND": backends[0]}
            os.execve(sys.executable, [sys.executable, *sys.argv], env)
        return measure(args)
    rows = []
    for backend in backends:
        rows.extend(run_self(sys.argv[1:], backend))
    return rows


def per_candidate(args: argparse.Namespace, names, measure_one) -> list:
    """Measure each candidate in a fresh process of its own; return their rows.

    Every candidate then pays the backend's one-time start-up in its first
    ("cold") fit, whatever order they run in, and its peak memory is its own.
    In the child, ``measure_one(name)`` returns that candidate's row.
    """
    if args.candidate is not None:
        row = measure_one(args.candidate)
        row.setdefault("source", source_state())
        return [row]
    rows = []
    for name in names:
        rows.extend(run_self([*sys.argv[1:], "--candidate", name], current_backend()))
    return rows


def hand_back(path: str, rows) -> None:
    """In a child process: write the rows where the parent will read them."""
    Path(path).write_text(json.dumps(rows))


#: What the report describes: command, date, machine, and the folder the
#: report goes to (set by ``run``).
_RUN: dict = {"results": RESULTS}


def run(args: argparse.Namespace, name: str, measure, report) -> None:
    """Measure (or, with ``--replot``, reload ``results/<name>.json``) and report.

    A fresh measurement is saved to ``results/<name>.json`` with the command,
    date and machine, so the report can be rewritten without measuring again.
    A child process only hands its rows back to its parent. ``--results``
    puts all three files in another folder.
    """
    _RUN["results"] = Path(args.results)
    saved = _RUN["results"] / f"{name}.json"
    if not args.rows_json:
        print_machine()
    if args.replot:
        record = json.loads(saved.read_text())
    else:
        rows = collect_rows(args, measure)
        if args.rows_json:
            hand_back(args.rows_json, rows)
            return
        record = {
            "command": command_line(),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "machine": machine_lines(),
            "rows": rows,
        }
        saved.parent.mkdir(parents=True, exist_ok=True)
        saved.write_text(json.dumps(record, indent=1) + "\n")
        print(f"wrote {saved}")
    _RUN.update(record)
    report(record["rows"])


# ----------------------------------------------------------------------
# Measuring


def load_average() -> float:
    """The 1-minute load average: above the core count means contention."""
    return round(os.getloadavg()[0], 2)


def load_note(low: float, high: float) -> str:
    """What the load averages seen during a run say of its timings.

    The run itself keeps about one core busy, so a load up to the number of
    cores means nothing else competed for them.
    """
    seen = f"{low}" if low == high else f"{low} to {high}"
    if high <= (os.cpu_count() or 1):
        return f"Nothing else ran on the machine (load average {seen})."
    return (
        f"Other work shared the {os.cpu_count()}-core CPU while this ran (load "
        f"average {seen}): compare figures measured side by side, not seconds "
        "across runs."
    )


def time_runs(fit, repeats: int) -> tuple:
    """Call ``fit()`` once cold, then ``repeats`` times warm.

    Returns ``(timing, result)``: ``timing`` holds ``cold_s`` (the first call,
    with its tracing/compilation and one-time set-up), ``warm_s`` (the later
    calls), their ``median_s``, and the load average before and after;
    ``result`` is what the last call returned.
    """
    load_before = load_average()
    start = time.perf_counter()
    result = fit()
    cold = time.perf_counter() - start
    warm = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = fit()
        warm.append(time.perf_counter() - start)
    timing = {
        "cold_s": cold,
        "warm_s": warm,
        "median_s": statistics.median(warm) if warm else cold,
        "load": (load_before, load_average()),
    }
    return timing, result


def peak_rss_mb() -> float:
    """Peak resident memory of this whole process so far, in MB (Linux).

    "So far" means since the start, or since the last ``reset_peak_rss()``.
    """
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mb() -> float:
    """Resident memory of this process now, in MB."""
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def reset_peak_rss() -> bool:
    """Start the peak of ``peak_rss_mb()`` again from the current RSS.

    Linux does this when a process writes "5" to ``/proc/self/clear_refs``
    (it resets the high-water mark that ``ru_maxrss`` reads). Returns whether
    it worked; where it did not, ``peak_rss_mb()`` stays the peak since start,
    an upper bound. The caller keeps any earlier peak it still needs.
    """
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def peak_during(fn) -> tuple:
    """Call ``fn()``; return ``(result, rss_before_mb, peak_mb, exact)``.

    ``peak_mb`` is the peak resident memory of the process while ``fn`` ran
    (``exact``), or, where the peak cannot be reset, the peak since the
    process started (not ``exact``).
    """
    before = rss_mb()
    exact = reset_peak_rss()
    result = fn()
    return result, before, peak_rss_mb(), exact


# ----------------------------------------------------------------------
# The machine


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _version(distributions: tuple) -> str:
    for name in distributions:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return "not installed"


def machine() -> dict:
    """CPU, memory, accelerator presence and package versions."""
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    gpu = Path("/dev/nvidia0").exists() or Path("/dev/kfd").exists()
    return {
        "cpu": f"{os.cpu_count()}-core CPU ({_cpu_model()})",
        "ram": f"{ram:.0f} GB RAM",
        "accelerator": "GPU device present" if gpu else "no GPU",
        "python": platform.python_version(),
        **{name: _version(dists) for name, dists in PACKAGES.items()},
    }


def source_state() -> str:
    """The skce commit measured, and any uncommitted changes to skce/ in it."""
    root = Path(__file__).resolve().parent.parent

    def git(*argv):
        done = subprocess.run(
            ["git", *argv], cwd=root, capture_output=True, text=True, check=False
        )
        return done.stdout.rstrip("\n") if done.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD") or "unknown commit"
    changed = git("status", "--porcelain", "--", "skce").splitlines()
    if not changed:
        return f"skce at {commit}"
    files = ", ".join(line[3:] for line in changed)
    return f"skce at {commit} plus uncommitted changes to {files}"


def machine_lines() -> list:
    info = machine()
    head = f"{info['cpu']}, {info['ram']}, {info['accelerator']}"
    versions = ", ".join(
        f"{k} {v}" for k, v in info.items() if k not in ("cpu", "ram", "accelerator")
    )
    return [head, versions]


def print_machine() -> None:
    for line in machine_lines():
        print(f"# {line}")


# ----------------------------------------------------------------------
# Reports


def fmt(value, digits: int = 3) -> str:
    """A number for a table; None becomes an em dash."""
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    return f"{value:.{digits}g}" if abs(value) < 10**digits else f"{value:.0f}"


def markdown_table(header: list, rows: list) -> str:
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
    ]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def write_report(name: str, title: str, tables: list, notes: list, rows: list) -> Path:
    """Write ``results/<name>.md``: machine, command, tables, then notes.

    ``tables`` is a list of ``(caption, header, rows)``; ``rows`` are the
    measured rows, whose ``source`` entries say which code was measured. The
    same text is printed to stdout.
    """
    parts = [f"# {title}", "", f"Command: `{_RUN['command']}`", ""]
    parts += [f"Machine: {line}  " for line in _RUN["machine"]]
    sources = dict.fromkeys(r["source"] for r in rows if "source" in r)
    parts += [f"Code: {source}  " for source in sources]
    parts.append(f"Date: {_RUN['date']}")
    for caption, header, rows in tables:
        parts += ["", f"**{caption}**", "", markdown_table(header, rows)]
    if notes:
        parts += ["", "Notes:", ""] + [f"- {note}" for note in notes]
    text = "\n".join(parts) + "\n"
    path = _RUN["results"] / f"{name}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    print(text)
    print(f"wrote {path}")
    return path


def bar_plot(name: str, title: str, xlabel: str, bars: list, log: bool = False):
    """Write ``results/<name>.png``: one horizontal bar per ``(label, value, group)``.

    Bars of one group share a colour; a fourth element ``True`` hatches the bar
    (an estimate, not a measurement); bars with a value of None are skipped.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bars = [b for b in bars if b[1] is not None]
    groups = list(dict.fromkeys(b[2] for b in bars))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(bars) + 1.5))
    positions = range(len(bars))[::-1]
    for pos, (_, value, group, *estimate) in zip(positions, bars, strict=True):
        colour = colours[groups.index(group) % len(colours)]
        hatch = "//" if estimate and estimate[0] else None
        ax.barh(pos, value, color=colour, hatch=hatch, edgecolor="white")
        ax.annotate(f" {fmt(value)}", (value, pos), va="center", fontsize=8)
    ax.set_yticks(list(positions), [b[0] for b in bars], fontsize=8)
    if log:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_title(title, fontsize=10)
    if len(groups) > 1:
        handles = [
            plt.Rectangle((0, 0), 1, 1, color=colours[i % len(colours)])
            for i in range(len(groups))
        ]
        ax.legend(handles, groups, fontsize=8, loc="upper left", bbox_to_anchor=(1, 1))
    ax.margins(x=0.15)
    return _save_figure(fig, name)


def line_plot(name: str, title: str, xlabel: str, ylabel: str, lines: list):
    """Write ``results/<name>.png``: one line per ``(label, xs, ys)``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4.5))
    for label, xs, ys in lines:
        ax.plot(xs, ys, label=label, linewidth=1.2)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save_figure(fig, name)


def _save_figure(fig, name: str):
    import matplotlib.pyplot as plt

    fig.tight_layout()
    path = _RUN["results"] / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    print(f"wrote {path}")
    return path


def command_line() -> str:
    """How this run was invoked, for the report."""
    script = Path(sys.argv[0]).resolve()
    try:
        script = script.relative_to(Path.cwd())
    except ValueError:
        pass
    return " ".join(["python", str(script), *sys.argv[1:]])
