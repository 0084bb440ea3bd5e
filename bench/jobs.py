def noop() -> None:
    """The baseline job: what RQ costs with no work at all."""
