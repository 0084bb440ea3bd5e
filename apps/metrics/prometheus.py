"""/metrics in the Prometheus text format, for teams that alert from Prometheus and Grafana: queue depths and
workers, tasks waiting by status, per model x task type totals and a duration histogram (from the rollups' day
rows), open findings and alerts, the pause switch. The totals are gauges, not counters: a failed run taken back
for a retry leaves them until it finishes again, and Prometheus would read a counter that falls as a reset.

Protected by METRICS_TOKEN (`Authorization: Bearer <token>`) or METRICS_ALLOWED_IPS; with neither set it answers
403. README has a scrape config and an example alert rule."""

from __future__ import annotations

import hmac

import django_rq
from django.conf import settings
from django.db import connection
from django.db.models import Count, Sum
from django.http import HttpResponse
from django.views.decorators.http import require_GET
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeHistogramMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from rq import Worker

from apps.core.security import client_ip
from apps.execution.models import ExecutionTask, TaskType
from apps.execution.services.control import execution_control
from apps.income.models import RollupGrain, TaskRollup
from apps.income.rollups import DURATION_BUCKETS, bucket_upper_ms

from .dashboard import COUNT_CAP, WAITING_STATUSES
from .models import UNRESOLVED, Alert, Finding

BUCKET_STRIDE = 4  # every 4th histogram bucket becomes a Prometheus bucket (x2.44 apart): 25 series per pair


class ConsoleCollector:
    """Reads the database and Redis at each scrape (a handful of queries over rollups and indexes)."""

    def collect(self):
        yield from self.queues()
        waiting = GaugeMetricFamily("opsconsole_tasks", f"Tasks waiting or running, by status (counted up to "
                                    f"{COUNT_CAP + 1})", labels=["status"])  # fmt: skip
        for status in WAITING_STATUSES:
            waiting.add_metric([status.value], ExecutionTask.objects.filter(status=status)[: COUNT_CAP + 1].count())
        yield waiting
        yield from self.rollups()
        findings = GaugeMetricFamily("opsconsole_findings_open", "Blind spots not resolved", labels=["detector",
                                     "severity"])  # fmt: skip
        for line in (Finding.objects.filter(status__in=UNRESOLVED).values("detector", "severity")
                     .annotate(n=Count("id"))):  # fmt: skip
            findings.add_metric([line["detector"], line["severity"]], line["n"])
        yield findings
        alerts = GaugeMetricFamily("opsconsole_alerts_open", "Open alerts", labels=["metric", "ai_model", "task_type"])
        for metric, ai_model, slug in Alert.objects.filter(status=Alert.Status.OPEN).values_list(
            "rule__metric", "ai_model", "task_type__slug"
        ):
            alerts.add_metric([metric, ai_model, slug], 1)
        yield alerts
        yield GaugeMetricFamily("opsconsole_execution_paused", "1 while execution is paused",
                                value=int(execution_control().paused))  # fmt: skip

    def queues(self):
        depth = GaugeMetricFamily("opsconsole_queue_jobs", "Jobs waiting in an RQ queue", labels=["queue"])
        workers = GaugeMetricFamily("opsconsole_queue_workers", "Live RQ workers on a queue", labels=["queue"])
        for name in settings.RQ_QUEUES:
            queue = django_rq.get_queue(name)
            depth.add_metric([name], queue.count)
            workers.add_metric([name], len(Worker.all(queue=queue)))
        yield depth
        yield workers

    def rollups(self):
        slugs = dict(TaskType.objects.values_list("pk", "slug"))
        labels = ["ai_model", "task_type"]
        runs = GaugeMetricFamily("opsconsole_task_runs", "Finished runs so far", labels=[*labels, "outcome"])
        retries = GaugeMetricFamily("opsconsole_task_retries", "Attempts beyond the first so far", labels=labels)
        tokens = GaugeMetricFamily("opsconsole_task_tokens", "Tokens used so far", labels=[*labels, "direction"])
        cost = GaugeMetricFamily("opsconsole_task_cost", f"AI cost so far in {settings.INCOME_CURRENCY.upper()} "
                                 "(known costs)", labels=labels)  # fmt: skip
        duration = GaugeHistogramMetricFamily("opsconsole_task_duration_seconds", "Run durations so far",
                                              labels=labels)  # fmt: skip
        totals = (
            TaskRollup.objects.filter(grain=RollupGrain.DAY).values("ai_model", "task_type_id")
            .annotate(runs=Sum("runs"), successes=Sum("successes"), failures=Sum("failures"), retries=Sum("retries"),
                      input_tokens=Sum("input_tokens"), output_tokens=Sum("output_tokens"), cost=Sum("cost"),
                      timed=Sum("duration_count"), duration_ms=Sum("duration_sum_ms"))
            .order_by("ai_model", "task_type_id")
        )  # fmt: skip
        hists = dict(self.histograms())
        for line in totals:
            pair = [line["ai_model"], slugs.get(line["task_type_id"], str(line["task_type_id"]))]
            other = line["runs"] - line["successes"] - line["failures"]
            for outcome, count in (("succeeded", line["successes"]), ("failed", line["failures"]),
                                   ("cancelled", other)):  # fmt: skip
                runs.add_metric([*pair, outcome], count)
            retries.add_metric(pair, line["retries"])
            tokens.add_metric([*pair, "input"], line["input_tokens"])
            tokens.add_metric([*pair, "output"], line["output_tokens"])
            cost.add_metric(pair, float(line["cost"]))
            hist = hists.get((line["ai_model"], line["task_type_id"])) or [0] * DURATION_BUCKETS
            duration.add_metric(pair, buckets=self.cumulative(hist), gsum_value=line["duration_ms"] / 1000)
        yield from (runs, retries, tokens, cost, duration)

    def histograms(self):
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT ai_model, task_type_id, rollup_hist_sum(duration_hist) FROM income_task_rollup "
                "WHERE grain = 'day' GROUP BY 1, 2"
            )
            for ai_model, task_type_id, hist in cursor.fetchall():
                yield (ai_model, task_type_id), hist

    @staticmethod
    def cumulative(hist: list[int]) -> list[tuple[str, int]]:
        buckets, seen = [], 0
        for index, count in enumerate(hist):
            seen += count
            bucket = index + 1
            if bucket % BUCKET_STRIDE == 0 and bucket < DURATION_BUCKETS:
                buckets.append((f"{bucket_upper_ms(bucket) / 1000:.6g}", seen))
        buckets.append(("+Inf", seen))
        return buckets


def allowed(request) -> bool:
    token = settings.METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    if token and header.startswith("Bearer ") and hmac.compare_digest(header[7:].encode(), token.encode()):
        return True
    return bool(settings.METRICS_ALLOWED_IPS) and client_ip(request) in settings.METRICS_ALLOWED_IPS


@require_GET
def metrics_view(request):
    if not allowed(request):
        return HttpResponse("Forbidden: send METRICS_TOKEN as 'Authorization: Bearer <token>', or scrape from an "
                            "address in METRICS_ALLOWED_IPS.", status=403, content_type="text/plain")  # fmt: skip
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ConsoleCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
