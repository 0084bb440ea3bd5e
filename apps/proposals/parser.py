"""The FSAR report format, parsed without a database: bytes or text in, a `ParsedReport` or an `FSARParseError`
naming the line and the field out.

    # FSAR Proposal Report
    - id: fsar_<uuid>
    - timestamp: <ISO 8601, UTC>
    - severity: <0-10>
    - block_execution: true|false
    - proposal:

    <category>: <body in Markdown, kept as written>

    ## Risks
    - ...

    ## Mitigations
    - ...
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

TITLE = "# FSAR Proposal Report"
HEADER_FIELDS = ("id", "timestamp", "severity", "block_execution")
SEVERITY_RANGE = (0, 10)
CATEGORY_MAX_LENGTH = 100
# Reports are written by a system that started in this century; the range also keeps time-zone arithmetic
# away from datetime's limits (9999-12-31T23:59:59-14:00 overflows when converted to UTC).
TIMESTAMP_RANGE = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))
_HEADER_LINE = re.compile(r"^[-*]\s+([A-Za-z_]+)\s*:\s*(.*?)\s*$")
_SECTION = re.compile(r"^##\s+(Risks|Mitigations)\s*:?\s*$", re.IGNORECASE)
_BULLET = re.compile(r"^\s*[-*+]\s+(.*?)\s*$")
_CATEGORY = re.compile(r"^\s*([A-Za-z][A-Za-z0-9_-]*)\s*:")
_ID = re.compile(r"^fsar_([0-9a-fA-F-]{32,36})$")


class FSARParseError(ValueError):
    """A report that does not follow the format; `line` is 1-based (None when it concerns the whole file)."""

    def __init__(self, message: str, *, line: int | None = None, field: str = ""):
        self.line, self.field, self.message = line, field, message
        where = f"line {line}: " if line else ""
        super().__init__(f"{where}{field + ': ' if field else ''}{message}")


@dataclass(frozen=True)
class ParsedReport:
    report_id: str
    reported_at: datetime
    severity: int
    block_execution: bool
    category: str
    body: str
    risks: list[str]
    mitigations: list[str]


def fsar_decode(data: bytes | str) -> str:
    """The report as text; the error names the line of the first byte that is not UTF-8, or of a NUL character
    (valid UTF-8, but not storable as PostgreSQL text, and never part of a written report)."""
    if isinstance(data, str):
        text = data
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            line = data[: error.start].count(b"\n") + 1
            raise FSARParseError(
                f"the file is not UTF-8 (byte 0x{data[error.start]:02x} at offset {error.start})",
                line=line,
                field="encoding",
            ) from None
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise FSARParseError("the text contains a NUL character (0x00)", line=line, field="encoding")
    return text


def fsar_parse(data: bytes | str) -> ParsedReport:
    lines = fsar_decode(data).replace("\r\n", "\n").replace("\r", "\n").split("\n")
    title_at = _first_content_line(lines, 0)
    if title_at is None or lines[title_at].strip() != TITLE:
        raise FSARParseError(f"the report must start with {TITLE!r}", line=(title_at or 0) + 1, field="title")
    header, proposal_at = _header_read(lines, title_at + 1)
    risks_at, mitigations_at = _sections_find(lines, proposal_at)
    inline = header.pop("inline")  # `- proposal: text` starts the body on the same line
    body = "\n".join(_trim_blank(([inline] if inline else []) + lines[proposal_at + 1 : risks_at]))
    if not body.strip():
        raise FSARParseError("the proposal has no body", line=proposal_at + 1, field="proposal")
    category = _CATEGORY.match(body)
    if category and len(category.group(1)) > CATEGORY_MAX_LENGTH:
        body_at = proposal_at if inline else _first_content_line(lines, proposal_at + 1)
        raise FSARParseError(
            f"the category is {len(category.group(1))} characters long; at most {CATEGORY_MAX_LENGTH} are allowed",
            line=body_at + 1,
            field="category",
        )
    return ParsedReport(
        **header,
        category=category.group(1) if category else "",
        body=body,
        risks=_bullets(lines, risks_at + 1, mitigations_at, "Risks"),
        mitigations=_bullets(lines, mitigations_at + 1, len(lines), "Mitigations"),
    )


def _trim_blank(lines: list[str]) -> list[str]:
    """Without the blank (or whitespace-only) lines around it; everything between is kept as written."""
    content = [index for index, line in enumerate(lines) if line.strip()]
    return lines[content[0] : content[-1] + 1] if content else []


def _last_line_number(lines: list[str]) -> int:
    return max((index + 1 for index, line in enumerate(lines) if line.strip()), default=1)


def _first_content_line(lines: list[str], start: int) -> int | None:
    return next((index for index in range(start, len(lines)) if lines[index].strip()), None)


def _header_read(lines: list[str], start: int) -> tuple[dict, int]:
    """The header bullets up to `- proposal:`; returns the checked values and the index of that line."""
    values: dict = {}
    for index in range(start, len(lines)):
        text = lines[index].strip()
        if not text:
            continue
        match = _HEADER_LINE.match(text)
        if not match:
            raise FSARParseError(f"expected a header line like '- severity: 6', got {text[:60]!r}", line=index + 1)
        name, value = match.group(1).lower(), match.group(2)
        if name == "proposal":
            missing = [field for field in HEADER_FIELDS if field not in values]
            if missing:
                raise FSARParseError("missing before '- proposal:'", line=index + 1, field=", ".join(missing))
            header = {key: values[key] for key in ("report_id", "reported_at", "severity", "block_execution")}
            return {**header, "inline": value}, index
        if name not in HEADER_FIELDS:
            continue  # unknown header fields are tolerated (newer writers may add some)
        if name in values or (name == "id" and "report_id" in values):
            raise FSARParseError("given twice", line=index + 1, field=name)
        key, checked = _header_value(name, value, index + 1)
        values[name] = values[key] = checked
    raise FSARParseError("no '- proposal:' line after the header", line=_last_line_number(lines), field="proposal")


def _header_value(name: str, value: str, line: int) -> tuple[str, object]:
    if name == "id":
        match = _ID.match(value)
        try:
            uuid.UUID(match.group(1)) if match else None
        except ValueError:
            match = None
        if not match:
            raise FSARParseError(f"expected 'fsar_' followed by a UUID, got {value[:60]!r}", line=line, field="id")
        return "report_id", value.lower()
    if name == "timestamp":
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            moment = None
        if moment is None or moment.tzinfo is None:
            raise FSARParseError(
                f"expected an ISO 8601 time in UTC like 2026-01-02T01:18:13.741Z, got {value[:60]!r}",
                line=line,
                field="timestamp",
            )
        earliest, latest = TIMESTAMP_RANGE
        if not earliest.year <= moment.year < latest.year or not earliest <= moment.astimezone(UTC) < latest:
            raise FSARParseError(
                f"{value[:60]!r} is outside {earliest:%Y-%m-%d} to {latest:%Y-%m-%d}", line=line, field="timestamp"
            )
        return "reported_at", moment.astimezone(UTC)
    if name == "severity":
        if not re.fullmatch(r"[+-]?\d{1,6}", value):
            raise FSARParseError(f"expected a whole number, got {value[:60]!r}", line=line, field="severity")
        severity = int(value)
        low, high = SEVERITY_RANGE
        if not low <= severity <= high:
            raise FSARParseError(f"{severity} is out of range {low}-{high}", line=line, field="severity")
        return "severity", severity
    flag = value.lower()
    if flag not in ("true", "false"):
        raise FSARParseError(f"expected true or false, got {value[:60]!r}", line=line, field="block_execution")
    return "block_execution", flag == "true"


def _sections_find(lines: list[str], after: int) -> tuple[int, int]:
    """The last `## Risks` heading that a `## Mitigations` heading follows: `##` headings inside the body
    (even one named Risks) stay in the body."""
    headings = [(index, _SECTION.match(lines[index].strip())) for index in range(after + 1, len(lines))]
    headings = [(index, match.group(1).lower()) for index, match in headings if match]
    mitigations = [index for index, name in headings if name == "mitigations"]
    if not mitigations:
        raise FSARParseError("no '## Mitigations' section", line=_last_line_number(lines), field="mitigations")
    risks = [index for index, name in headings if name == "risks" and index < mitigations[-1]]
    if not risks:
        raise FSARParseError("no '## Risks' section before '## Mitigations'", line=mitigations[-1] + 1, field="risks")
    return risks[-1], next(index for index in mitigations if index > risks[-1])


def _bullets(lines: list[str], start: int, end: int, section: str) -> list[str]:
    """Items of a `- item` list; an indented line continues the item above it."""
    items: list[str] = []
    for index in range(start, end):
        raw = lines[index]
        if not raw.strip():
            continue
        match = _BULLET.match(raw)
        if match and not raw.startswith(("   ", "\t")):
            items.append(match.group(1))
        elif items and raw[:1] in (" ", "\t"):
            items[-1] = f"{items[-1]} {raw.strip()}"
        else:
            raise FSARParseError(f"expected a '- ' list item, got {raw.strip()[:60]!r}", line=index + 1, field=section)
    if not items:
        raise FSARParseError("the section has no '- ' items", line=start, field=section)
    return items
