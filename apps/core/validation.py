"""Checks for text and JSON that reach the database from outside (API, admin, importers, the AI system).

PostgreSQL cannot store NUL in text or jsonb, and a lone UTF-16 surrogate (which JSON's `\\ud800` escapes can
produce) cannot be encoded at all: both would surface as a 500 deep in a query. Deep nesting costs recursion in
every reader of the value. So they are refused at the boundary, with where they were found.
"""

from typing import Any

JSON_MAX_DEPTH_DEFAULT = 32


def text_problem(text: str) -> str | None:
    """Why `text` cannot be stored as PostgreSQL text; None when it can."""
    if "\x00" in text:
        return "contains a NUL character (\\u0000)"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        return f"contains a lone surrogate (\\u{ord(text[error.start]):04x}), which is not valid Unicode"
    return None


def json_problem(value: Any, *, where: str, max_depth: int = JSON_MAX_DEPTH_DEFAULT) -> str | None:
    """The first reason a decoded JSON value cannot be stored (bad text in a key or string, nesting deeper than
    `max_depth`), naming its path from `where`; None when it is fine. Iterative, so any depth is safe to check."""
    pending = [(value, where, 1)]
    while pending:
        item, path, depth = pending.pop()
        if isinstance(item, str):
            problem = text_problem(item)
            if problem:
                return f"{path} {problem}"
            continue
        if not isinstance(item, dict | list):
            continue
        if depth > max_depth:
            return f"{path} is nested deeper than {max_depth} levels"
        if isinstance(item, dict):
            for key, child in item.items():
                problem = text_problem(key) if isinstance(key, str) else None
                if problem:
                    return f"a key in {path} {problem}"
                pending.append((child, f"{path}.{key}", depth + 1))
        else:
            pending.extend((child, f"{path}[{index}]", depth + 1) for index, child in enumerate(item))
    return None
