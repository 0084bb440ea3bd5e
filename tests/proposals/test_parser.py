"""The FSAR parser: every tolerance and every rejection the format allows, and random mutations of the sample."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.proposals.parser import FSARParseError, fsar_parse

from .reports import SAMPLE, SAMPLE_ID, report


def sample_body() -> str:
    start = SAMPLE.index("- proposal:\n") + len("- proposal:\n")
    return SAMPLE[start : SAMPLE.index("\n## Risks")].strip("\n")


def test_sample_parses_with_every_field():
    parsed = fsar_parse(SAMPLE.encode())
    assert parsed.report_id == SAMPLE_ID
    assert parsed.reported_at.isoformat() == "2026-01-02T01:18:13.741000+00:00"
    assert (parsed.severity, parsed.block_execution, parsed.category) == (6, False, "self_improvement")
    assert parsed.risks[0] == "Slow failure: unnoticed degradation accumulating by 2028-01-01"
    assert len(parsed.risks) == 3 and len(parsed.mitigations) == 3
    assert parsed.mitigations[2] == "Prefer reversible rollouts; keep rollback artifacts warm and tested"
    assert parsed.body == sample_body()


def extra_blank_lines(text: str) -> str:
    """Blank lines added between header lines and list items, and around the body (not inside it)."""
    header_end, risks_start = text.index("- proposal:"), text.index("\n## Risks")
    header, body, sections = text[:header_end], text[header_end:risks_start], text[risks_start:]
    return (
        header.replace("\n", "\n\n")
        + body.replace("- proposal:\n", "- proposal:\n\n\n")
        + "\n\n"
        + (sections.replace("\n", "\n\n"))
    )


@pytest.mark.parametrize(
    "variant",
    [
        pytest.param(SAMPLE.replace("\n", "\r\n"), id="crlf"),
        pytest.param(SAMPLE.replace("\n", "   \n"), id="trailing-spaces"),
        pytest.param(SAMPLE.rstrip("\n"), id="no-final-newline"),
        pytest.param(extra_blank_lines(SAMPLE), id="extra-blank-lines"),
        pytest.param("\ufeff" + SAMPLE, id="utf8-bom"),
    ],
)
def test_tolerated_variations_parse_to_the_same_report(variant):
    parsed, original = fsar_parse(variant.encode()), fsar_parse(SAMPLE)
    assert (parsed.report_id, parsed.severity, parsed.category, parsed.risks, parsed.mitigations) == (
        original.report_id, original.severity, original.category, original.risks, original.mitigations,
    )  # fmt: skip
    assert [line.rstrip() for line in parsed.body.splitlines()] == [
        line.rstrip() for line in original.body.splitlines()
    ]


def test_body_keeps_any_unicode_code_fences_tables_and_other_headings():
    body = (
        "self_programming: Fix the parser ðŸš€ (mis-decoded emoji) and 🚀 and \u200b zero-width.\n\n"
        "## Background\nA heading that is neither Risks nor Mitigations.\n\n"
        "```python\n## Risks\nprint('a fenced heading named Risks stays in the body')\n```\n\n"
        "| stage | ms |\n|---|---|\n| claim | 14 |\n\n"
        "## Risks in general\ntext"
    )
    parsed = fsar_parse(report(body=body))
    assert parsed.body == body
    assert parsed.category == "self_programming"
    assert parsed.risks == ["Slow failure", "Drift"]


def test_indented_lines_continue_a_list_item():
    parsed = fsar_parse(report(risks="- Slow failure that\n  accumulates\n- Drift"))
    assert parsed.risks == ["Slow failure that accumulates", "Drift"]


def test_block_execution_true_and_severity_bounds():
    assert fsar_parse(report(block_execution="true", severity="10")).block_execution is True
    assert fsar_parse(report(severity="0")).severity == 0


def test_body_without_category_has_an_empty_category():
    assert fsar_parse(report(body="Just prose, no category word.")).category == ""


@pytest.mark.parametrize(
    ("text", "line", "field", "words"),
    [
        (report(report_id="fsar_not-a-uuid"), 2, "id", "UUID"),
        (report(report_id="b8b5a86b-7a21-40bb-b80d-fed3124a3ee5"), 2, "id", "fsar_"),
        (report().replace("- id: ", "- ident: "), 6, "id", "missing"),
        (report(timestamp="yesterday"), 3, "timestamp", "ISO 8601"),
        (report(timestamp="2026-11-20T09:30:00"), 3, "timestamp", "UTC"),
        (report(timestamp="2026-13-40T09:30:00Z"), 3, "timestamp", "ISO 8601"),
        (report(severity="high"), 4, "severity", "whole number"),
        (report(severity="6.5"), 4, "severity", "whole number"),
        (report(severity="11"), 4, "severity", "out of range 0-10"),
        (report(severity="-1"), 4, "severity", "out of range 0-10"),
        (report(block_execution="yes"), 5, "block_execution", "true or false"),
        (report(block_execution=""), 5, "block_execution", "true or false"),
        (report().replace("## Risks\n- Slow failure\n- Drift\n\n", ""), 12, "risks", "no '## Risks'"),
        (report().replace("## Mitigations", "## Notes"), 18, "mitigations", "no '## Mitigations'"),
        (report(risks=""), 12, "Risks", "no '- ' items"),
        (report(mitigations="nothing to add"), 17, "Mitigations", "'- ' list item"),
        (report().replace("# FSAR Proposal Report", "# Report"), 1, "title", "FSAR Proposal Report"),
        (report().replace("- severity: 6\n", "- severity: 6\n- severity: 7\n"), 5, "severity", "twice"),
        (report(body=""), 6, "proposal", "no body"),
    ],
)
def test_rejections_name_the_line_and_field(text, line, field, words):
    with pytest.raises(FSARParseError) as raised:
        fsar_parse(text.encode())
    error = raised.value
    assert (error.line, error.field) == (line, field), str(error)
    assert words in str(error)
    assert str(error).startswith(f"line {line}: {field}: ")


def test_a_file_that_is_not_utf8_is_refused_with_its_line():
    data = report().encode().replace(b"Profile", b"Pro\xe9file")  # latin-1 in line 8
    with pytest.raises(FSARParseError) as raised:
        fsar_parse(data)
    assert (raised.value.line, raised.value.field) == (8, "encoding")
    assert "not UTF-8 (byte 0xe9" in str(raised.value)


@pytest.mark.parametrize("data", [report().encode().replace(b"Profile", b"Pro\x00file"),
                                  report().replace("Profile", "Pro\x00file")])  # fmt: skip
def test_a_nul_character_is_refused_with_its_line(data):
    """Found by the hypothesis test below: PostgreSQL cannot store NUL in text, so the parser must refuse it."""
    with pytest.raises(FSARParseError) as raised:
        fsar_parse(data)
    assert (raised.value.line, raised.value.field) == (8, "encoding")
    assert "NUL character" in str(raised.value)


MUTATIONS = st.lists(
    st.tuples(
        st.sampled_from(["delete", "insert", "replace", "duplicate_line", "drop_line"]),
        st.integers(min_value=0, max_value=len(SAMPLE.encode())),
        st.binary(min_size=1, max_size=8) | st.sampled_from([b"\n", b"\r\n", b"## Risks\n", b"- ", b":", b"\xff"]),
    ),
    min_size=1,
    max_size=6,
)


def mutate(data: bytes, mutations) -> bytes:
    for kind, position, chunk in mutations:
        position = min(position, len(data))
        if kind == "delete":
            data = data[:position] + data[position + len(chunk) :]
        elif kind == "insert":
            data = data[:position] + chunk + data[position:]
        elif kind == "replace":
            data = data[:position] + chunk + data[position + len(chunk) :]
        else:
            lines = data.split(b"\n")
            index = position % len(lines)
            lines[index : index + 1] = [lines[index]] * (2 if kind == "duplicate_line" else 0)
            data = b"\n".join(lines)
    return data


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(MUTATIONS)
def test_mutations_of_the_sample_parse_or_fail_with_the_parsers_own_error(mutations):
    data = mutate(SAMPLE.encode(), mutations)
    try:
        parsed = fsar_parse(data)
    except FSARParseError as error:
        assert error.field or error.line, str(error)
        return
    assert 0 <= parsed.severity <= 10 and parsed.report_id.startswith("fsar_")
    assert parsed.risks and parsed.mitigations and parsed.body.strip()
