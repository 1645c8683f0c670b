"""`python -m bench` (`make bench`): seed, serve, measure, report.

1. A PostgreSQL database of its own (BENCH_DATABASE_URL) gets the real plan and
   BENCH_N synthetic published projects (skipped when it already holds them).
2. In-process, with Django's test client: queries per list request, a profile of one
   project list request, EXPLAIN ANALYZE of the filtered project list.
3. Over HTTP, gunicorn as production runs it (config.settings.production through
   bench.settings, 2 sync workers, Redis cache): the project list and detail against
   the raw and untuned DRF baselines, variants interleaved over several rounds.
4. Exports and /plan/, each on a fresh one-worker server so its peak RSS is its own,
   against `psql \\copy` of the same columns; a watchdog kills a worker that passes the
   RSS or time limit, and the figure is reported as over the limit.
5. The final table: figure | measured | goal.

Every request that fails or times out is counted and reported.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import platform
import pstats
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import seed
from .client import LoadResult, Timed, fetch, load, timed_get
from .report import MIB, Row, diff_summary, median, mib, ms, ratio, table
from .server import Gunicorn, Watchdog, proc_status

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/workplan_bench"

# Queries each list may run, whatever its page size (PINNED in tests/api/test_query_counts.py).
QUERY_GOALS = {"projects": 5, "goals": 2, "pillars": 3, "agencies": 2, "feed": 1}
LIST_PATHS = {
    "projects": "/api/v1/projects/?page_size={n}",
    "goals": "/api/v1/goals/?page_size={n}",
    "pillars": "/api/v1/pillars/?page_size={n}",
    "agencies": "/api/v1/agencies/?page_size={n}",
    "feed": "/api/v1/changes/?limit={n}",
    "raw baseline": "/bench/raw/projects/?page_size={n}",
    "untuned DRF": "/bench/drf/projects/?page_size={n}",
}
FILTERED_LIST = "/api/v1/projects/?pillar=P2&country=US"


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def _env_float(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


@dataclass
class Config:
    n: int = field(default_factory=lambda: _env_int("BENCH_N", 100_000))
    database_url: str = field(
        default_factory=lambda: os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL)
    )
    redis_url: str = field(
        default_factory=lambda: os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/7")
    )
    port: int = field(default_factory=lambda: _env_int("BENCH_PORT", 18800))
    rounds: int = field(default_factory=lambda: _env_int("BENCH_ROUNDS", 5))
    seconds: float = field(default_factory=lambda: _env_float("BENCH_SECONDS", 3))
    concurrency: int = field(default_factory=lambda: _env_int("BENCH_CONCURRENCY", 4))
    export_rounds: int = field(default_factory=lambda: _env_int("BENCH_EXPORT_ROUNDS", 3))
    export_timeout: float = field(default_factory=lambda: _env_float("BENCH_EXPORT_TIMEOUT", 300))
    # Seconds one export may take over all its rounds: no round starts that would pass it.
    export_budget: float = field(default_factory=lambda: _env_float("BENCH_EXPORT_BUDGET", 300))
    plan_timeout: float = field(default_factory=lambda: _env_float("BENCH_PLAN_TIMEOUT", 120))
    rss_limit: int = field(default_factory=lambda: _env_int("BENCH_RSS_LIMIT_MIB", 1536) * MIB)
    max_minutes: float = field(default_factory=lambda: _env_float("BENCH_MAX_MINUTES", 45))
    request_timeout: float = 30.0

    def django_env(self) -> dict[str, str]:
        """The environment production settings read, pointed at the bench's database."""
        return {
            "DJANGO_SETTINGS_MODULE": "bench.settings",
            "DJANGO_SECRET_KEY": "bench-only-not-secret-" + "x" * 40,
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "API_PUBLIC_URL": f"https://127.0.0.1:{self.port}",
            # Throttling stays on (its Redis round trips are part of every request) with
            # rates the load never reaches; a one-second window keeps DRF's per-client
            # history of timestamps as short as a real client's.
            "API_THROTTLE_ANON": "1000000/second",
            "API_THROTTLE_TOKEN": "1000000/second",
            "API_THROTTLE_EXPORT": "1000000/second",
            "DJANGO_LOG_LEVEL": "WARNING",
        }


def say(text: str = "") -> None:
    print(text, flush=True)


# -- machine and data ---------------------------------------------------------------------


def machine() -> dict[str, str]:
    import django
    import gunicorn
    from django.db import connection

    memory = "?"
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.0f} GiB"
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        postgres = cursor.fetchone()[0]
    return {
        "cores": str(os.cpu_count()),
        "RAM": memory,
        "PostgreSQL": postgres,
        "Python": platform.python_version(),
        "Django": django.get_version(),
        "gunicorn": gunicorn.__version__,
        # Other work on the machine skews absolute figures more than ratios.
        "load average": " ".join(f"{load:.1f}" for load in os.getloadavg()),
    }


def prepare(config: Config) -> None:
    from django.core.management import call_command

    started = time.monotonic()
    if seed.create_database(config.database_url):
        say(f"created database {seed.database_name(config.database_url)}")
    call_command("migrate", interactive=False, verbosity=0)
    call_command("load_workplan", stdout=io.StringIO())
    if seed.seed_projects(config.n, out=sys.stdout):
        say(f"seeded {config.n:,} projects in {time.monotonic() - started:.0f} s")
    else:
        say(f"database already holds {config.n:,} synthetic projects: not reseeded")


def deep_cursor(page: int, size: int = 50) -> str:
    """The cursor of the project list's page `page` (by code, as an anonymous caller sees
    it): what a client walking the list by `next` would hold there."""
    from api.pagination import encode_cursor
    from workplan.models import Project

    if page <= 1:
        return ""
    code = (
        Project.objects.filter(archived_at__isnull=True, is_published=True)
        .order_by("code")
        .values_list("code", flat=True)[(page - 1) * size - 1]
    )
    return encode_cursor(["code"], [code])


def pick_detail_code() -> str:
    """A synthetic project with a budget, three agencies and two links: a full detail."""
    from django.db.models import Count

    from workplan.models import Project

    full = (
        Project.objects.filter(
            code__startswith=f"{seed.PREFIX}-", code__lte=f"{seed.PREFIX}-001000"
        )
        .exclude(budget_amount=None)
        .annotate(roles=Count("agency_roles", distinct=True), links_=Count("links", distinct=True))
        .filter(roles=3, links_=2)
        .order_by("code")
        .values_list("code", flat=True)
        .first()
    )
    return full or Project.objects.order_by("code").values_list("code", flat=True).first() or ""


# -- in-process ---------------------------------------------------------------------------


def test_client() -> Any:
    from django.test import Client

    return Client(HTTP_HOST="127.0.0.1", HTTP_X_FORWARDED_PROTO="https")


def queries_per_list() -> dict[str, tuple[int, int, int]]:
    """Queries of each list at page size 1 and 100, and the status of the last answer."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = test_client()
    counts = {}
    for name, path in LIST_PATHS.items():
        seen = []
        status = 0
        for size in (1, 100):
            with CaptureQueriesContext(connection) as captured:
                status = client.get(path.format(n=size)).status_code
            seen.append(len(captured))
        counts[name] = (seen[0], seen[1], status)
    return counts


def profile_list(path: str = "/api/v1/projects/", top: int = 10) -> list[str]:
    client = test_client()
    client.get(path)
    profiler = cProfile.Profile()
    began = time.perf_counter()
    profiler.enable()
    status = client.get(path).status_code
    profiler.disable()
    wall = time.perf_counter() - began
    stats = pstats.Stats(profiler)
    rows = sorted(stats.stats.items(), key=lambda item: item[1][2], reverse=True)  # type: ignore[attr-defined]
    root = str(Path(__file__).resolve().parent.parent) + "/"
    lines = [
        f"GET {path} -> {status}, {wall * 1000:.0f} ms under cProfile; top {top} by own time:",
        f"{'own':>9} {'cumulative':>11} {'calls':>7}  function",
    ]
    for (filename, line, function), (_, calls, own, cumulative, _) in rows[:top]:
        where = filename.replace(root, "")
        if "site-packages/" in where:
            where = where.split("site-packages/", 1)[1]
        elif "/lib/python" in where:
            where = "stdlib/" + where.rsplit("/", 1)[-1]
        lines.append(
            f"{own * 1000:7.2f}ms {cumulative * 1000:9.2f}ms {calls:7d}  {where}:{line}({function})"
        )
    return lines


def explain_filtered_list(path: str = FILTERED_LIST) -> list[str]:
    """EXPLAIN (ANALYZE, BUFFERS) of the list's own queries (count and page), as the app
    sends them."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = test_client()
    with CaptureQueriesContext(connection) as captured:
        status = client.get(path).status_code
    lines = [f"GET {path} -> {status}, {len(captured)} queries"]
    for query in captured.captured_queries:
        text = query["sql"]
        if 'FROM "workplan_project"' not in text:
            continue
        kind = "count" if "COUNT(" in text.upper() else "page"
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + text)
            plan = [row[0] for row in cursor.fetchall()]
        lines.append(f"-- {kind} query: {text[:160]}{'...' if len(text) > 160 else ''}")
        lines += [f"   {row}" for row in plan]
    return lines


# -- over HTTP ----------------------------------------------------------------------------


@dataclass
class Variant:
    name: str
    path: str
    expect: int = 200
    headers: dict[str, str] = field(default_factory=dict)


def check_parity(port: int, pairs: list[tuple[str, str, str]]) -> list[str]:
    """Fetch each (label, real path, baseline path) and compare the bodies byte for byte."""
    lines = []
    for label, real_path, other_path in pairs:
        real = fetch(port, real_path)
        other = fetch(port, other_path)
        if real[0] != 200 or other[0] != 200:
            lines.append(f"WARNING {label}: HTTP {real[0]} for the real one, {other[0]} for it")
            continue
        summary = diff_summary(real[2], other[2])
        # (Each side tags its answer its own way: only the bodies must agree.)
        if summary:
            lines.append(f"WARNING {label}: not the same bytes as {real_path}")
            lines += [f"    {line}" for line in summary.strip().splitlines()]
        else:
            lines.append(f"ok {label}: identical ({len(real[2]):,} bytes)")
    return lines


def run_rounds(config: Config, variants: list[Variant]) -> dict[str, list[LoadResult]]:
    results: dict[str, list[LoadResult]] = {v.name: [] for v in variants}
    for round_number in range(config.rounds):
        # Rotate the order so no variant always runs first (or last) in a round.
        shift = round_number % len(variants)
        order = variants[shift:] + variants[:shift]
        say(f"round {round_number + 1}/{config.rounds}")
        for variant in order:
            result = load(
                config.port,
                variant.path,
                seconds=config.seconds,
                concurrency=config.concurrency,
                expect=variant.expect,
                headers=variant.headers,
                timeout=config.request_timeout,
            )
            results[variant.name].append(result)
            failed = f", FAILED {dict(result.failed)}" if result.failed else ""
            say(
                f"  {variant.name:<12} {result.rps:8.1f} req/s  p50 {ms(result.p50):>9}"
                f"  ({result.ok} ok{failed})"
            )
    return results


def per_round(
    results: dict[str, list[LoadResult]], numerator: str, denominator: str, attribute: str = "rps"
) -> list[float]:
    values = []
    for a, b in zip(results[numerator], results[denominator], strict=True):
        x, y = getattr(a, attribute), getattr(b, attribute)
        values.append(x / y if y and x == x and y == y else float("nan"))
    return values


# -- exports and /plan/ ---------------------------------------------------------------------


def copy_sql(base_url: str) -> str:
    """The CSV export's columns, straight from PostgreSQL."""
    from api.exports import CSV_COLUMNS
    from workplan.choices import ActivityStatus
    from workplan.models import Agency, Goal, Pillar, Project, ProjectAgencyRole, ProjectCountry

    def table(model: Any) -> str:
        return f'"{model._meta.db_table}"'

    def text(value: Any) -> str:
        return "'" + str(value).replace("'", "''") + "'"

    status_names = " ".join(
        f"WHEN {text(code)} THEN {text(label)}" for code, label in ActivityStatus.choices
    )
    roles = f"{table(ProjectAgencyRole)} r JOIN {table(Agency)} a ON a.id = r.agency_id"
    columns = [
        "p.code",
        f"{text(base_url)} || p.code || '/'",
        "p.title_en",
        "p.title_es",
        "p.description_en",
        "p.description_es",
        "p.status",
        f"CASE p.status {status_names} END",
        "CASE WHEN p.is_published THEN 'true' ELSE 'false' END",
        "pl.code",
        "g.code",
        "p.announced_on",
        "p.planned_start",
        "p.planned_end",
        "p.actual_start",
        "p.actual_end",
        f"(SELECT string_agg(c.country, ';' ORDER BY c.country) FROM {table(ProjectCountry)} c "
        "WHERE c.project_id = p.id)",
        f"(SELECT string_agg(a.code || ':' || r.role, ';' ORDER BY r.country, a.code) "
        f"FROM {roles} WHERE r.project_id = p.id)",
        f"(SELECT string_agg(a.code, ';' ORDER BY r.country, a.code) FROM {roles} "
        "WHERE r.project_id = p.id AND r.is_lead)",
        "p.budget_amount",
        "p.budget_currency",
        "p.created_at",
        "p.updated_at",
    ]
    select = ", ".join(
        f'{column} AS "{name}"' for column, name in zip(columns, CSV_COLUMNS, strict=True)
    )
    return (
        f"SELECT {select} FROM {table(Project)} p JOIN {table(Goal)} g ON g.id = p.goal_id "
        f"JOIN {table(Pillar)} pl ON pl.id = g.pillar_id "
        "WHERE p.archived_at IS NULL AND p.is_published ORDER BY p.code"
    )


def run_copy(database_url: str, query: str, timeout: float) -> Timed:
    """`psql \\copy (query) TO STDOUT` as CSV, read and counted like an HTTP body."""
    timed = Timed()
    command = [
        "psql",
        database_url,
        "-X",
        "-q",
        "-v",
        "ON_ERROR_STOP=1",
        "-c",
        f"\\copy ({query}) TO STDOUT WITH (FORMAT csv, HEADER)",
    ]
    began = time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    timer = threading.Timer(timeout, process.kill)
    timer.start()
    try:
        assert process.stdout is not None
        first = process.stdout.read(1)
        timed.ttfb = time.monotonic() - began
        timed.size = len(first)
        while chunk := process.stdout.read(1 << 16):
            timed.size += len(chunk)
        process.wait()
        timed.total = time.monotonic() - began
    finally:
        timer.cancel()
    timed.status = 200 if process.returncode == 0 else None
    if process.returncode != 0:
        stderr = process.stderr.read().decode(errors="replace") if process.stderr else ""
        timed.error = f"psql exited {process.returncode}: {stderr.strip()[:200]}"
    return timed


@dataclass
class Heavy:
    """A streamed or large endpoint on its own one-worker server."""

    runs: list[Timed] = field(default_factory=list)
    copies: list[Timed] = field(default_factory=list)
    idle_rss: int = 0
    peak_rss: int = 0
    over_limit: str | None = None


def measure_heavy(
    config: Config,
    env: dict[str, str],
    log_dir: Path,
    *,
    port: int,
    path: str,
    rounds: int,
    timeout: float,
    copy: str | None,
) -> Heavy:
    heavy = Heavy()
    with Gunicorn(port=port, workers=1, env=env, log_dir=log_dir) as server:
        fetch(port, "/api/v1/projects/?page_size=1")  # loads the URLconf, opens the connection
        (worker,) = server.worker_pids()
        heavy.idle_rss = proc_status(worker).get("VmHWM", 0)
        began = time.monotonic()
        for round_number in range(rounds):
            spent = time.monotonic() - began
            if heavy.runs and spent + spent / len(heavy.runs) > config.export_budget:
                say(
                    f"  {path}: stops after {round_number} round(s), "
                    f"another would pass the {config.export_budget:.0f} s budget"
                )
                break
            if copy is not None:
                heavy.copies.append(run_copy(config.database_url, copy, timeout))
            watchdog = Watchdog([worker], rss_limit=config.rss_limit, deadline=timeout)
            watchdog.start()
            timed = timed_get(port, path, timeout=timeout, headers={"Accept": "*/*"})
            watchdog.stop()
            heavy.peak_rss = max(heavy.peak_rss, watchdog.peak, proc_status(worker).get("VmHWM", 0))
            if watchdog.killed:
                timed.error = f"over limit: {watchdog.killed}"
                heavy.over_limit = watchdog.killed
            heavy.runs.append(timed)
            say(
                f"  {path} run {round_number + 1}: "
                + (
                    f"{ms(timed.total)} total, first byte {ms(timed.ttfb)}, "
                    f"{timed.size / MIB:.1f} MiB"
                    if timed.ok
                    else f"FAILED: {timed.error}"
                )
                + (
                    f"; \\copy {ms(heavy.copies[-1].total)}, {heavy.copies[-1].size / MIB:.1f} MiB"
                    if copy is not None and heavy.copies[-1].error is None
                    else (f"; \\copy FAILED: {heavy.copies[-1].error}" if copy else "")
                )
            )
            if not timed.ok:
                break  # the worker was killed or the endpoint is broken: no more rounds
            if path.endswith("/plan/") and timed.total and timed.total > 10:
                break  # one run of a slow whole-plan document is enough
    return heavy


def export_ratios(heavy: Heavy) -> list[float]:
    return [
        c.total / r.total
        for r, c in zip(heavy.runs, heavy.copies, strict=False)
        if r.ok and c.error is None and r.total and c.total
    ]


# -- the whole run --------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--drop", action="store_true", help="drop the bench database and stop")
    args = parser.parse_args(argv)
    config = Config()
    env = config.django_env()
    os.environ.update(env)
    if args.drop:
        seed.drop_database(config.database_url)
        say(f"dropped database {seed.database_name(config.database_url)}")
        return 0

    import django

    django.setup()
    from django.db.backends.signals import connection_created

    def bounded(sender: Any, connection: Any, **kwargs: Any) -> None:
        # No query of the bench's own (seeding, EXPLAIN ANALYZE, in-process requests) may hang.
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET statement_timeout = '300s'")

    connection_created.connect(bounded)

    def overran(signum: int, frame: Any) -> None:
        raise TimeoutError(f"the bench ran past BENCH_MAX_MINUTES ({config.max_minutes:.0f})")

    # The whole run is bounded too; the servers stop on the way out (context managers).
    signal.signal(signal.SIGALRM, overran)
    signal.alarm(int(config.max_minutes * 60))

    began = time.monotonic()
    log_dir = Path(tempfile.mkdtemp(prefix="workplan-bench-"))
    say(f"== bench: N={config.n:,}, database {seed.database_name(config.database_url)}")
    prepare(config)
    info = machine()
    say("machine: " + ", ".join(f"{k} {v}" for k, v in info.items()))

    say("\n== queries per request (in-process, Django test client)")
    counts = queries_per_list()
    for name, (small, large, status) in counts.items():
        say(f"  {name:<13} page size 1: {small}  page size 100: {large}  (HTTP {status})")

    say("\n== profile of one project list request (in-process, cProfile)")
    for line in profile_list():
        say("  " + line)

    say(f"\n== EXPLAIN (ANALYZE, BUFFERS) of the filtered project list at N={config.n:,}")
    for line in explain_filtered_list():
        say("  " + line)

    detail = pick_detail_code()
    failures: list[str] = []
    say(f"\n== HTTP: gunicorn, 2 sync workers, port {config.port} (logs in {log_dir})")
    with Gunicorn(port=config.port, workers=2, env=env, log_dir=log_dir):
        status, _, body = fetch(config.port, "/api/v1/projects/?page_size=1")
        count = int(json.loads(body)["count"]) if status == 200 else 0
        # Page 2000 at 100,000 projects; the last full page of a smaller plan.
        deep = max(1, min(2000, count // 50))
        status, headers, _ = fetch(config.port, f"/api/v1/projects/{detail}/")
        etag = headers.get("etag", "")
        say(f"{count:,} projects visible; deep page {deep}; detail {detail} (ETag {etag})")
        parity = check_parity(
            config.port,
            [
                ("raw list, page 1", "/api/v1/projects/", "/bench/raw/projects/"),
                ("untuned DRF list, page 1", "/api/v1/projects/", "/bench/drf/projects/"),
                (
                    f"raw list, page {deep}",
                    f"/api/v1/projects/?page={deep}",
                    f"/bench/raw/projects/?page={deep}",
                ),
                (
                    f"untuned DRF list, page {deep}",
                    f"/api/v1/projects/?page={deep}",
                    f"/bench/drf/projects/?page={deep}",
                ),
                ("raw detail", f"/api/v1/projects/{detail}/", f"/bench/raw/projects/{detail}/"),
            ],
        )
        for line in parity:
            say("  " + line)
        variants = [
            Variant("list", "/api/v1/projects/"),
            Variant("raw list", "/bench/raw/projects/"),
            Variant("DRF list", "/bench/drf/projects/"),
            # Walked by cursor, as the API documents for deep pages.
            Variant("deep page", f"/api/v1/projects/?cursor={deep_cursor(deep)}"),
            Variant("detail", f"/api/v1/projects/{detail}/"),
            Variant("raw detail", f"/bench/raw/projects/{detail}/"),
            Variant("detail 304", f"/api/v1/projects/{detail}/", 304, {"If-None-Match": etag}),
        ]
        for variant in variants:  # warm-up: URLconf, connections, PostgreSQL's buffers
            load(
                config.port,
                variant.path,
                seconds=0.5,
                concurrency=2,
                expect=variant.expect,
                headers=variant.headers,
                timeout=config.request_timeout,
            )
        say(
            f"{config.rounds} rounds x {len(variants)} variants x {config.seconds:.0f} s, "
            f"{config.concurrency} connections"
        )
        results = run_rounds(config, variants)
    for name, runs in results.items():
        failed = sum(sum(r.failed.values()) for r in runs)
        if failed:
            kinds: dict[str, int] = {}
            for r in runs:
                for kind, number in r.failed.items():
                    kinds[kind] = kinds.get(kind, 0) + number
            failures.append(f"{name}: {failed} failed requests {kinds}")

    say("\n== exports and /plan/ (each on a fresh one-worker server)")
    base_url = f"https://127.0.0.1:{config.port + 1}/api/v1/projects/"
    csv = measure_heavy(
        config,
        env,
        log_dir,
        port=config.port + 1,
        path="/api/v1/projects/export/csv/",
        rounds=config.export_rounds,
        timeout=config.export_timeout,
        copy=copy_sql(base_url),
    )
    base_url = f"https://127.0.0.1:{config.port + 2}/api/v1/projects/"
    iati = measure_heavy(
        config,
        env,
        log_dir,
        port=config.port + 2,
        path="/api/v1/projects/export/iati/",
        rounds=config.export_rounds,
        timeout=config.export_timeout,
        copy=copy_sql(base_url),
    )
    plan = measure_heavy(
        config,
        env,
        log_dir,
        port=config.port + 3,
        path="/api/v1/plan/",
        rounds=config.export_rounds,
        timeout=config.plan_timeout,
        copy=None,
    )
    for label, heavy in (("CSV export", csv), ("IATI export", iati), ("/plan/", plan)):
        for timed in heavy.runs + heavy.copies:
            if not timed.ok:
                failures.append(f"{label}: {timed.error}")

    # -- the table ------------------------------------------------------------------------
    def met(values: list[float], goal: float, at_least: bool = True) -> bool | None:
        value = median(values)
        if value != value:
            return None
        return value >= goal if at_least else value <= goal

    list_raw = per_round(results, "list", "raw list")
    list_drf = per_round(results, "list", "DRF list")
    detail_raw = per_round(results, "detail", "raw detail")
    not_modified = per_round(results, "detail 304", "detail")
    deep_p50 = per_round(results, "deep page", "list", "p50")
    csv_speed = export_ratios(csv)
    iati_speed = export_ratios(iati)
    csv_total = median([r.total for r in csv.runs if r.ok and r.total])
    plan_run = plan.runs[0] if plan.runs else Timed(error="not run")
    rows = [
        Row("project list p.1 req/s vs raw view", ratio(list_raw), ">= 0.9x", met(list_raw, 0.9)),
        Row(
            "project list p.1 req/s vs untuned DRF", ratio(list_drf), ">= 1.5x", met(list_drf, 1.5)
        ),
        Row(
            "project detail req/s vs raw detail", ratio(detail_raw), ">= 0.8x", met(detail_raw, 0.8)
        ),
        Row(
            "detail 304 req/s vs 200",
            ratio(not_modified),
            ">= 2x (2x cheaper)",
            met(not_modified, 2),
        ),
        Row(
            f"deep page (p.{deep}, by cursor) p50 vs page 1",
            ratio(deep_p50),
            "<= 1.2x",
            met(deep_p50, 1.2, at_least=False),
        ),
        Row("CSV export speed vs \\copy", ratio(csv_speed), ">= 0.3x", met(csv_speed, 0.3)),
        Row("IATI export speed vs \\copy", ratio(iati_speed), ">= 0.15x", met(iati_speed, 0.15)),
    ]
    if plan_run.ok and plan_run.ttfb is not None and plan_run.total is not None:
        rows += [
            Row("/plan/ time to first byte", ms(plan_run.ttfb), "< 1 s", plan_run.ttfb < 1),
            Row(
                "/plan/ peak RSS of the worker",
                mib(plan.peak_rss),
                "<= 150 MiB",
                plan.peak_rss <= 150 * MIB,
            ),
            Row(
                "/plan/ total time vs CSV export",
                f"{plan_run.total / csv_total:.2f}x ({ms(plan_run.total)} vs {ms(csv_total)})"
                if csv_total == csv_total
                else ms(plan_run.total),
                "<= 3x",
                plan_run.total <= 3 * csv_total if csv_total == csv_total else None,
            ),
        ]
    else:
        over = plan_run.error or "failed"
        rows += [
            Row("/plan/ time to first byte", over, "< 1 s", False),
            Row(
                "/plan/ peak RSS of the worker",
                f"> {mib(config.rss_limit)} (killed)"
                if plan.over_limit and "RSS" in plan.over_limit
                else f">= {mib(plan.peak_rss)} (stopped)"
                if plan.over_limit
                else mib(plan.peak_rss),
                "<= 150 MiB",
                None if not plan.over_limit and not plan.runs else False,
            ),
            Row("/plan/ total time vs CSV export", over, "<= 3x", False),
        ]
    export_rss = max(csv.peak_rss, iati.peak_rss)
    rows.append(
        Row(
            "export peak RSS of the worker (CSV / IATI)",
            f"{mib(csv.peak_rss)} / {mib(iati.peak_rss)}",
            "<= 150 MiB",
            export_rss <= 150 * MIB and not csv.over_limit and not iati.over_limit,
        )
    )
    for name, goal in QUERY_GOALS.items():
        small, large, status = counts[name]
        rows.append(
            Row(
                f"queries per {name} list (page size 1 / 100)",
                f"{small} / {large}",
                f"{goal}, constant",
                small == large == goal and status == 200,
            )
        )

    say("\n== absolute figures (median over rounds)")
    for name, runs in results.items():
        say(
            f"  {name:<12} {median([r.rps for r in runs]):8.1f} req/s  "
            f"p50 {ms(median([r.p50 for r in runs])):>9}"
        )
    for label, heavy in (("CSV export", csv), ("IATI export", iati), ("/plan/", plan)):
        ok = [r for r in heavy.runs if r.ok]
        total = median([r.total for r in ok if r.total]) if ok else float("nan")
        size = ok[0].size if ok else 0
        say(
            f"  {label:<12} {ms(total):>9}  {size / MIB:.1f} MiB  idle worker "
            f"{mib(heavy.idle_rss)}, peak {mib(heavy.peak_rss)}"
            + (f"  OVER LIMIT ({heavy.over_limit})" if heavy.over_limit else "")
        )
    copies = [c.total for c in csv.copies + iati.copies if c.error is None and c.total]
    say(
        f"  \\copy        {ms(median(copies)):>9}  "
        f"{(csv.copies[0].size if csv.copies else 0) / MIB:.1f} MiB"
    )

    say(f"\n== results: N={config.n:,} projects, " + ", ".join(f"{k} {v}" for k, v in info.items()))
    say(table(rows))
    say(f"failed or timed-out requests: {len(failures) or 'none'}")
    for line in failures:
        say(f"  {line}")
    warnings = [line for line in parity if line.startswith("WARNING")]
    if warnings:
        say("baseline parity: " + "; ".join(warnings))
    signal.alarm(0)
    say(
        f"bench took {time.monotonic() - began:.0f} s; load average now "
        + " ".join(f"{load:.1f}" for load in os.getloadavg())
    )
    return 0
