"""Admin and API pages at 10k and at 10M tasks: server time and query count of every page, and the ratio.

    .venv/bin/python -m opsconsole.devservers exec -- .venv/bin/python bench/admin_scale.py [--sizes 10k,10M]

Builds one scratch database per size (`<name>_scale_10k`, `<name>_scale_10m`, ...) the way a restore would:
`migrate`, the secondary indexes dropped, tasks (about 3.9 events each), income rows (0.3 per task) and
proposals (1 per 100 tasks, at least 1,000) generated in SQL with `generate_series` with triggers off, the
indexes built again, the rollups rebuilt (`rollups_rebuild`), blind-spot findings (1 per 100 tasks) and alerts
(1 per 1,000; each at least 10,500, the deepest page lists offer) added, one `metrics_refresh` (detectors, drift,
lead times) and `VACUUM ANALYZE`. A database already
loaded for the same size, migrations and generator is reused (`--reload` to build it again; `--drop` to remove
them at the end).

Then a child process per size, with the production settings (DEBUG off, static files collected), serves in
process through Django's test client, signed in as a superuser: every changelist of the console's apps
(default, each filter's first choice, a search, the deepest page offered), one change page per model, the admin
index (the operations dashboard), the ROI, queue and slowest-proposals pages, the live task list, and the API's
big lists. Server time is the median of --rounds after a warm-up, the query count the warm-up's. The sizes are
measured in --passes alternating passes
and each page keeps its best median, so that a moment of background work on the machine does not count against
one size only. Prints the ratio of the largest size to the smallest for each page and ends with
`worst ratio: N.NN (<page>)`.
"""

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SIZES = {"10k": 10_000, "100k": 100_000, "1M": 1_000_000, "10M": 10_000_000}
CHUNK = 1_000_000
BIG_TABLES = ("execution_tasks", "execution_events", "income_events", "proposals_proposal", "metrics_findings",
              "metrics_alerts")
MODELS = ("gpt-4o", "claude-sonnet-4", "Qwen/Qwen2.5-Coder-32B-Instruct", "llama-3.1-70b")
IDLE_MODEL = "never-used-model"  # filter choices include models without rows: the rarest filter there is
CATEGORIES = ("performance", "reliability", "security", "cost", "observability", "ethics")
# What each list is searched for in the benchmark: {model label: function of the loaded size -> term}.
SEARCHES = {
    "execution.executiontask": lambda tasks: str(tasks // 2),
    "execution.executionevent": lambda tasks: str(tasks // 2),
    "income.incomeevent": lambda tasks: f"evt_bench_{tasks // 20}",
    "proposals.proposal": lambda tasks: "latency regression",
    "execution.aimodel": lambda tasks: "gpt-4o",
    "execution.tasktype": lambda tasks: "implement",
    "offers.offertemplate": lambda tasks: "review",
}

# One statement per chunk of task ids [%(low)s, %(high)s]. Status by a hash of the id: 85% succeeded, 8% failed,
# 2% cancelled, 2% queued and 1% each pending, running, needs_review; created over the last 365 days in id order,
# denser towards today as a growing business's are (a twentieth of them today), so that at every size a filter
# by date fills its first page.
TASKS_SQL = """
INSERT INTO execution_tasks (id, status, priority, payload, result, error, attempts, created_at, queued_at,
    started_at, finished_at, duration_ms, input_tokens, output_tokens, cost, rq_job_id, ai_model, created_by_id,
    task_type_id, cancel_requested)
SELECT g, s.status, (g %% 5) - 2, jsonb_build_object('prompt', 'task ' || g),
    CASE WHEN s.status = 'succeeded' THEN jsonb_build_object('text', 'done ' || g) END,
    CASE WHEN s.status = 'failed'
         THEN 'Traceback (most recent call last):' || chr(10) || 'ExecutorError: HTTP 503 from model'
         ELSE '' END,
    CASE WHEN s.status IN ('pending', 'needs_review', 'cancelled') THEN 0 WHEN s.status = 'failed' THEN 3 ELSE 1 END,
    t.created, t.created + interval '1 second', t.created + interval '2 seconds',
    CASE WHEN s.status IN ('succeeded', 'failed', 'cancelled') THEN t.created + interval '9 seconds' END,
    CASE WHEN s.status IN ('succeeded', 'failed') THEN 200 + (g * 37) %% 9000 END,
    CASE WHEN s.status = 'succeeded' THEN 500 + g %% 1500 END,
    CASE WHEN s.status = 'succeeded' THEN 100 + g %% 700 END,
    CASE WHEN s.status = 'succeeded' THEN ((500 + g %% 1500) * 2.5 + (100 + g %% 700) * 10.0) / 1000000 END,
    'task-' || g || '-1', (%(models)s::text[])[1 + g %% 4], NULL, (%(types)s::bigint[])[1 + (g / 7) %% 4], false
FROM generate_series(%(low)s::bigint, %(high)s::bigint) AS g,
    LATERAL (SELECT now() - power((%(tasks)s - g)::float8 / %(tasks)s, 2) * interval '365 days' AS created) AS t,
    LATERAL (SELECT CASE WHEN (g * 7919) %% 100 < 85 THEN 'succeeded' WHEN (g * 7919) %% 100 < 93 THEN 'failed'
                         WHEN (g * 7919) %% 100 < 95 THEN 'cancelled' WHEN (g * 7919) %% 100 < 97 THEN 'queued'
                         WHEN (g * 7919) %% 100 < 98 THEN 'pending' WHEN (g * 7919) %% 100 < 99 THEN 'running'
                         ELSE 'needs_review' END AS status) AS s
"""
# The events each status implies, in order: created, queued, started, then how it ended.
EVENTS_SQL = """
INSERT INTO execution_events (task_id, kind, ai_model, message, error, duration_ms, created_at, actor_id)
SELECT t.id, e.kind, t.ai_model, e.message, CASE WHEN e.kind = 'failed' THEN t.error ELSE '' END,
    CASE WHEN e.kind IN ('completed', 'failed') THEN t.duration_ms END, t.created_at + e.after, NULL
FROM execution_tasks t
CROSS JOIN LATERAL (VALUES ('created', interval '0', 'created'), ('queued', interval '1 second', 'queued'),
                           ('started', interval '2 seconds', 'attempt 1'),
                           ('completed', interval '9 seconds', '1000 in / 300 out tokens'),
                           ('failed', interval '9 seconds', 'failed after 3 attempt(s)'),
                           ('cancelled', interval '9 seconds', 'cancelled by an operator')) AS e(kind, after, message)
WHERE t.id BETWEEN %(low)s AND %(high)s AND CASE e.kind
    WHEN 'created' THEN true
    WHEN 'queued' THEN t.status IN ('queued', 'running', 'succeeded', 'failed')
    WHEN 'started' THEN t.status IN ('running', 'succeeded', 'failed')
    WHEN 'completed' THEN t.status = 'succeeded'
    WHEN 'failed' THEN t.status = 'failed'
    ELSE t.status = 'cancelled' END
"""
# Income for 3 tasks in 10: mostly payments, a refund every 20th row, a manual entry every 500th, and every 50th
# row unattributed; currencies usd, eur and jpy.
INCOME_SQL = """
INSERT INTO income_events (kind, amount, currency, occurred_at, stripe_event_id, stripe_object_id,
    payment_intent_id, metadata, reason, created_at, ai_model, created_by_id, offer_id, task_id, task_type_id,
    webhook_trigger_id)
SELECT k.kind, CASE k.kind WHEN 'refund' THEN -5.000 ELSE 20.000 + t.id %% 80 END,
    (ARRAY['usd', 'usd', 'usd', 'usd', 'usd', 'usd', 'usd', 'usd', 'eur', 'jpy'])[1 + t.id %% 10],
    t.created_at + interval '1 minute',
    CASE WHEN k.kind <> 'manual' THEN 'evt_bench_' || t.id / 3 END,
    CASE k.kind WHEN 'payment' THEN 'pi_bench_' || t.id / 3 WHEN 'refund' THEN 'ch_bench_' || t.id / 3 ELSE '' END,
    CASE WHEN k.kind <> 'manual' THEN 'pi_bench_' || t.id / 3 ELSE '' END, '{}'::jsonb,
    CASE k.kind WHEN 'manual' THEN 'bank transfer for invoice ' || t.id ELSE '' END, t.created_at + interval '1 minute',
    CASE WHEN (t.id / 3) %% 50 <> 0 THEN t.ai_model END, NULL, NULL,
    CASE WHEN (t.id / 3) %% 50 <> 0 THEN t.id END, CASE WHEN (t.id / 3) %% 50 <> 0 THEN t.task_type_id END, NULL
FROM execution_tasks t
CROSS JOIN LATERAL (SELECT CASE WHEN (t.id / 3) %% 500 = 0 THEN 'manual' WHEN (t.id / 3) %% 20 = 0 THEN 'refund'
                                ELSE 'payment' END AS kind) AS k
WHERE t.id BETWEEN %(low)s AND %(high)s AND t.id %% 10 IN (0, 3, 6)
"""
# Blind-spot findings (1 per 100 tasks, most long resolved) and alerts (1 per 1,000 tasks, most closed), spread over
# the year as the detectors and the drift judgement would have left them.
FINDINGS_SQL = """
INSERT INTO metrics_findings (detector, fingerprint, severity, title, detail, links, status, occurrences, first_seen,
    last_seen, muted_until, resolved_at, resolution_note, assignee_id, resolved_by_id)
SELECT (ARRAY['stalled_task_type', 'model_without_price', 'unattributed_income', 'new_failure_signature',
              'unrated_task_type', 'queue_without_worker', 'unhandled_stripe_event', 'event_order_broken'])[1 + g %% 8],
    'bench:' || g, (ARRAY['info', 'warning', 'critical'])[1 + g %% 3], 'Bench finding ' || g, '', '[]'::jsonb,
    CASE WHEN g %% 50 = 0 THEN 'open' WHEN g %% 50 = 1 THEN 'acknowledged' WHEN g %% 50 = 2 THEN 'muted'
         ELSE 'resolved' END,
    1 + g %% 40, t.at, t.at + interval '3 hours', NULL, CASE WHEN g %% 50 > 2 THEN t.at + interval '4 hours' END, '',
    NULL, NULL
FROM generate_series(1, %(findings)s) AS g,
    LATERAL (SELECT now() - power((%(findings)s - g)::float8 / %(findings)s, 2) * interval '365 days' AS at) AS t
"""
ALERTS_SQL = """
INSERT INTO metrics_alerts (rule_id, ai_model, task_type_id, status, value, baseline_median, baseline_spread, "limit",
    series, opened_at, last_seen, closed_at, reopened, notified_at)
SELECT r.ids[1 + g %% array_length(r.ids, 1)], (%(models)s::text[])[1 + g %% 4],
    (%(types)s::bigint[])[1 + (g / 4) %% 4],
    CASE WHEN g > %(alerts)s - 5 THEN 'open' ELSE 'closed' END, 0.3, 0.02, 0.01, 0.05, '[]'::jsonb, t.at,
    t.at + interval '2 hours', CASE WHEN g <= %(alerts)s - 5 THEN t.at + interval '2 hours' END, 0, t.at
FROM generate_series(1, %(alerts)s) AS g,
    (SELECT array_agg(id ORDER BY id) AS ids FROM metrics_alert_rules) AS r,
    LATERAL (SELECT now() - power((%(alerts)s - g)::float8 / %(alerts)s, 2) * interval '365 days' AS at) AS t
"""
PROPOSALS_SQL = """
INSERT INTO proposals_proposal (report_id, reported_at, severity, block_execution, category, body, risks,
    mitigations, raw_text, source, received_at, status, reviewer_comment, acknowledged_at, decided_at,
    implemented_at, lead_time, acknowledged_by_id, decided_by_id, implemented_by_id)
SELECT 'bench-' || g, r.at, g %% 11, g %% 20 = 0, c.category, r.body, '[]'::jsonb, '[]'::jsonb, r.body, 'bench',
    r.at, (ARRAY['new', 'acknowledged', 'accepted', 'rejected', 'implemented'])[1 + g %% 5], '', NULL, NULL,
    NULL, NULL, NULL, NULL, NULL
FROM generate_series(%(low)s::bigint, %(high)s::bigint) AS g,
    LATERAL (SELECT (%(categories)s::text[])[1 + g %% 6] AS category) AS c,
    LATERAL (SELECT now() - power((%(proposals)s - g)::float8 / %(proposals)s, 2) * interval '365 days' AS at,
                    c.category || ': stage '
                    || (ARRAY['implement_idea', 'idea_implementation', 'self_improvement'])[1 + g %% 3]
                    || ' took ' || (g %% 9000) || ' ms in report ' || g || '. '
                    || (ARRAY['Latency regression after the model update.', 'Blind spots grew without triage.',
                              'Audit trail missing for self programming.',
                              'Costs rose while income stayed flat.'])[1 + g %% 4] AS body) AS r
"""


def scratch_url(base: str, size: str) -> str:
    parts = urlsplit(base)
    return parts._replace(path=f"{parts.path.rstrip('/') or '/opsconsole'}_scale_{size.lower()}").geturl()


def admin_url(url: str) -> str:
    return urlsplit(url)._replace(path="/postgres", scheme="postgresql").geturl()


def manage(url: str, *args: str, quiet: bool = True) -> None:
    environment = {**os.environ, "DATABASE_URL": url, "DEBUG": "true"}
    subprocess.run([sys.executable, str(ROOT / "manage.py"), *args], cwd=ROOT, env=environment, check=True,
                   stdout=subprocess.DEVNULL if quiet else None)  # fmt: skip


def latest_migrations() -> str:
    """What the scratch database must have been migrated to for a reuse: the newest migration of each app."""
    names = sorted(str(path.relative_to(ROOT)) for path in ROOT.glob("apps/*/migrations/[0-9]*.py"))
    return ",".join(names)


def label(url: str, tasks: int) -> str:
    digest = hashlib.sha256((latest_migrations() + TASKS_SQL + EVENTS_SQL + INCOME_SQL + PROPOSALS_SQL + FINDINGS_SQL
                              + ALERTS_SQL).encode())
    return f"admin_scale {tasks} tasks; schema and data {digest.hexdigest()[:12]}"


def loaded(url: str, tasks: int) -> bool:
    import psycopg

    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(admin_url(url), autocommit=True) as admin:
        row = admin.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s", [name]
        ).fetchone()
    return bool(row and row[0] and row[0].startswith(label(url, tasks)))


def load(url: str, tasks: int) -> float:
    """Create, migrate and fill one scratch database; returns the seconds it took."""
    import psycopg

    started = time.perf_counter()
    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(admin_url(url), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    manage(url, "migrate")
    with psycopg.connect(urlsplit(url)._replace(scheme="postgresql").geturl(), autocommit=True) as db:
        db.execute("SET maintenance_work_mem = '1GB'")
        db.execute("SET synchronous_commit = off")
        db.execute("SET session_replication_role = replica")  # no triggers, no foreign key checks: a restore
        models = [*MODELS, IDLE_MODEL]
        for model in models:
            db.execute(
                "INSERT INTO execution_aimodel (name, provider, base_url, api_key_env, input_price_per_million,"
                " output_price_per_million, is_active, created_at, updated_at) VALUES (%s, 'echo', '', '', 2.5, 10,"
                " true, now(), now())", [model],
            )  # fmt: skip
        types = [row[0] for row in db.execute("SELECT id FROM execution_tasktype ORDER BY id LIMIT 4")]
        indexes = secondary_indexes(db)
        for _table, index, _definition in indexes:
            db.execute(f'DROP INDEX "{index}"')
        parameters = {"tasks": tasks, "models": list(MODELS), "types": types, "categories": list(CATEGORIES),
                      "proposals": max(tasks // 100, 1000)}  # fmt: skip
        for low in range(1, tasks + 1, CHUNK):
            high = min(low + CHUNK - 1, tasks)
            chunk = {**parameters, "low": low, "high": high}
            db.execute(TASKS_SQL, chunk)
            db.execute(EVENTS_SQL, chunk)
            db.execute(INCOME_SQL, chunk)
            print(f"  {name}: tasks {high:,} of {tasks:,} ({time.perf_counter() - started:.0f} s)", flush=True)
        db.execute(PROPOSALS_SQL, {**parameters, "low": 1, "high": parameters["proposals"]})
        # at least enough rows at every size to fill the deepest page a list offers (10,000 rows in)
        db.execute(FINDINGS_SQL, {"findings": max(tasks // 100, 10_500)})
        db.execute(ALERTS_SQL, {**parameters, "alerts": max(tasks // 1000, 10_500)})
        print(f"  {name}: building {len(indexes)} indexes", flush=True)
        for _table, _index, definition in indexes:
            db.execute(definition)
        for table in BIG_TABLES:
            db.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        db.execute("SET session_replication_role = origin")
    manage(url, "rollups_rebuild")
    manage(url, "metrics_refresh")  # detectors' first look, drift judgement, lead times
    with psycopg.connect(urlsplit(url)._replace(scheme="postgresql").geturl(), autocommit=True) as db:
        print(f"  {name}: VACUUM ANALYZE", flush=True)
        db.execute("VACUUM ANALYZE")
        seconds = time.perf_counter() - started
        db.execute(f"COMMENT ON DATABASE \"{name}\" IS '{label(url, tasks)}; loaded in {seconds:.0f} s'")
    return seconds


def secondary_indexes(db) -> list[tuple[str, str, str]]:
    """The big tables' indexes that no constraint owns: dropped before the load, built again after it."""
    return db.execute(
        """SELECT i.tablename, i.indexname, i.indexdef FROM pg_indexes i
           WHERE i.schemaname = 'public' AND i.tablename = ANY(%s)
             AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)
           ORDER BY i.tablename, i.indexname""",
        [list(BIG_TABLES)],
    ).fetchall()


def measure_in_child(url: str, tasks: int, rounds: int) -> dict:
    environment = {**os.environ, "DATABASE_URL": url, "DEBUG": "false", "SECRET_KEY": "bench-only-not-a-secret",
                   "ALLOWED_HOSTS": "testserver", "DJANGO_SETTINGS_MODULE": "opsconsole.settings"}  # fmt: skip
    redis = urlsplit(os.environ["REDIS_URL"])
    environment["REDIS_URL"] = redis._replace(path="/14", query="").geturl() if redis.scheme != "unix" else (
        f"unix://{redis.path}?db=14")  # fmt: skip
    subprocess.run([sys.executable, str(ROOT / "manage.py"), "collectstatic", "--noinput", "-v0"], cwd=ROOT,
                   env=environment, check=True)  # as a deployment does: pages link the hashed file names
    output = subprocess.run(
        [sys.executable, __file__, "--measure", str(tasks), "--rounds", str(rounds)],
        cwd=ROOT, env=environment, check=True, stdout=subprocess.PIPE, text=True,
    ).stdout  # fmt: skip
    return json.loads(output.splitlines()[-1])


def pages(client, tasks: int) -> list[tuple[str, str]]:
    """Every page to time, as (name, URL), discovered from the admin site itself."""
    from django.contrib import admin
    from django.contrib.auth import get_user_model
    from django.test import RequestFactory
    from django.urls import reverse

    from apps.execution.models import ExecutionTask

    user = get_user_model().objects.get(username="bench")
    found = [("admin index", reverse("admin:index"))]
    for model, model_admin in admin.site._registry.items():
        if not model.__module__.startswith("apps."):
            continue
        opts = model._meta
        name = f"{opts.app_label}.{opts.model_name}"
        changelist = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
        found.append((f"{name} list", changelist))
        request = RequestFactory().get(changelist)
        request.user = user
        cl = model_admin.get_changelist_instance(request)
        for spec in cl.filter_specs:
            choice = next((c for c in spec.choices(cl) if not c["selected"]), None)
            if choice:
                found.append((f"{name} filter {spec.title}: {choice['display']}", changelist + choice["query_string"]))
        if model_admin.get_search_fields(request) and name in SEARCHES:
            found.append((f"{name} search", f"{changelist}?q={SEARCHES[name](tasks)}"))
        if (deepest := cl.paginator.num_pages) > 2:
            found.append((f"{name} deepest page offered", f"{changelist}?p={deepest}"))
        pk = tasks // 2 if model is ExecutionTask else model.objects.order_by("pk").values_list("pk", flat=True).first()
        if pk is not None:
            found.append((f"{name} page", reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[pk])))
    found += [
        ("income ROI", reverse("admin:income_incomeevent_roi")),
        ("slowest proposals", reverse("admin:metrics_leadtime_slowest")),
        ("queues", reverse("admin:execution_executiontask_queue_statistics")),
        ("live task list (JSON)", reverse("admin:execution_executiontask_live")),
        ("API tasks", "/api/tasks/"),
        ("API tasks ?status=failed", "/api/tasks/?status=failed"),
        ("API tasks deep cursor", "/api/tasks/?cursor=" + deep_cursor(tasks)),
        ("API proposals", "/api/proposals/"),
    ]
    return found


def deep_cursor(tasks: int) -> str:
    """The API's cursor pointing half way into the task table (what following `next` that far would give)."""
    import base64
    from urllib.parse import urlencode

    from apps.execution.models import ExecutionTask

    created = ExecutionTask.objects.filter(pk=tasks // 2).values_list("created_at", flat=True).get()
    return base64.b64encode(urlencode({"p": str(created)}).encode()).decode()


def measure(tasks: int, rounds: int) -> None:
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    user, _ = get_user_model().objects.get_or_create(username="bench", defaults={"is_staff": True,
                                                                                  "is_superuser": True})  # fmt: skip
    client = Client(secure=True, headers={"X-Forwarded-Proto": "https"})  # as behind the TLS proxy
    client.force_login(user)
    results = {}
    for name, url in pages(client, tasks):
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)  # the warm-up
        query_count = len(queries)  # now: the log is cleared by the next request
        if response.status_code == 302:  # a page that is only a redirect (the pause switch's record)
            print(f"  skipped {name}: {url} redirects to {response.url}", file=sys.stderr)
            continue
        if response.status_code != 200:
            raise SystemExit(f"{name}: {url} answered {response.status_code}")
        times = []
        for _ in range(rounds):
            started = time.perf_counter()
            client.get(url)
            times.append((time.perf_counter() - started) * 1000)
        results[name] = {"url": url, "ms": statistics.median(times), "queries": query_count}
        print(f"  {tasks:>10,} tasks  {statistics.median(times):8.1f} ms  {query_count:3} queries  {name}",
              file=sys.stderr, flush=True)  # fmt: skip
    print(json.dumps(results))


def milliseconds(figure: dict | None) -> str:
    return "-" if figure is None else f"{figure['ms']:.0f} ms"


def report(sizes: list[str], measured: dict[str, dict]) -> None:
    small, large = sizes[0], sizes[-1]
    print(f"\n| page | {' | '.join(sizes)} | {large}/{small} | queries ({small} / {large}) |")
    print(f"|---|{'---|' * len(sizes)}---|---|")
    worst = (0.0, "")
    for name in measured[small]:
        figures = [measured[size].get(name) for size in sizes]
        if None in figures:
            print(f"| {name} | {' | '.join(milliseconds(figure) for figure in figures)} | - | - |")
            continue
        ratio = figures[-1]["ms"] / figures[0]["ms"]
        worst = max(worst, (ratio, name))
        print(f"| {name} | {' | '.join(milliseconds(figure) for figure in figures)} | {ratio:.2f} | "
              f"{figures[0]['queries']} / {figures[-1]['queries']} |")  # fmt: skip
    for name in ("execution.executionevent list", "execution.executiontask search", "income.incomeevent list"):
        if name in measured[large]:
            figure = measured[large][name]["ms"]
            print(f"{name} at {large}: {figure:.0f} ms ({'under' if figure < 200 else 'NOT under'} 200 ms)")
    print(f"worst ratio: {worst[0]:.2f} ({worst[1]})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10k,10M", help=f"two or more of {', '.join(SIZES)}")
    parser.add_argument("--rounds", type=int, default=7, help="timed requests per page and pass (median)")
    parser.add_argument("--passes", type=int, default=2,
                        help="passes over the sizes, alternating; each page keeps its best median")  # fmt: skip
    parser.add_argument("--reload", action="store_true", help="build the databases again even if loaded")
    parser.add_argument("--drop", action="store_true", help="drop the scratch databases at the end")
    parser.add_argument("--measure", type=int, help=argparse.SUPPRESS)  # the child: tasks in its database
    options = parser.parse_args()
    if options.measure:
        measure(options.measure, options.rounds)
        return
    sizes = options.sizes.split(",")
    if unknown := [size for size in sizes if size not in SIZES]:
        raise SystemExit(f"unknown size {unknown[0]!r}: choose from {', '.join(SIZES)}")
    if not os.environ.get("DATABASE_URL") or not os.environ.get("REDIS_URL"):
        raise SystemExit("Set DATABASE_URL and REDIS_URL, or run through `python -m opsconsole.devservers exec --`.")
    base = os.environ["DATABASE_URL"]
    print(f"machine: {os.cpu_count()} cores; PostgreSQL at {urlsplit(base).hostname or 'a socket'}")
    measured = {}
    for size in sizes:
        url, tasks = scratch_url(base, size), SIZES[size]
        if options.reload or not loaded(url, tasks):
            print(f"loading {size} ({tasks:,} tasks)", flush=True)
            print(f"loaded {size} in {load(url, tasks):.0f} s", flush=True)
        else:
            print(f"reusing the loaded {size} database ({urlsplit(url).path.lstrip('/')})")
    for number in range(1, options.passes + 1):
        for size in sizes:
            url, tasks = scratch_url(base, size), SIZES[size]
            print(f"measuring {size}, pass {number} of {options.passes}", flush=True)
            for name, figure in measure_in_child(url, tasks, options.rounds).items():
                kept = measured.setdefault(size, {}).get(name)
                if kept is None or figure["ms"] < kept["ms"]:
                    measured[size][name] = figure
    report(sizes, measured)
    if options.drop:
        import psycopg

        with psycopg.connect(admin_url(base), autocommit=True) as admin:
            for size in sizes:
                admin.execute(f'DROP DATABASE IF EXISTS "{urlsplit(scratch_url(base, size)).path.lstrip("/")}"'
                              " WITH (FORCE)")  # fmt: skip


if __name__ == "__main__":
    main()
