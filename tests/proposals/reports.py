"""FSAR report texts for tests: the sample shipped with the project and variations of it."""

import uuid
from pathlib import Path

# A copy of ../shared/samples/fsar/report-sample.txt, byte for byte, so the tests run in any clone.
SAMPLE_PATH = Path(__file__).resolve().parent / "report-sample.txt"
SAMPLE = SAMPLE_PATH.read_text(encoding="utf-8")
SAMPLE_ID = "fsar_b8b5a86b-7a21-40bb-b80d-fed3124a3ee5"


def report(
    *,
    report_id: str | None = None,
    timestamp: str = "2026-11-20T09:30:00Z",
    severity: str = "6",
    block_execution: str = "false",
    body: str = "self_improvement: Profile the slow stages.\n\nAdd timings per stage.",
    risks: str = "- Slow failure\n- Drift",
    mitigations: str = "- Audits\n- Alerts",
) -> str:
    return (
        "# FSAR Proposal Report\n"
        f"- id: {report_id or f'fsar_{uuid.uuid4()}'}\n"
        f"- timestamp: {timestamp}\n"
        f"- severity: {severity}\n"
        f"- block_execution: {block_execution}\n"
        "- proposal:\n\n"
        f"{body}\n\n"
        f"## Risks\n{risks}\n\n"
        f"## Mitigations\n{mitigations}\n"
    )
