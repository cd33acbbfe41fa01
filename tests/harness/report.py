"""Figures the checks measure (stop times, sizes, build times): collected
here and printed together at the end of the run (conftest.py), as INFO lines."""

lines: list[str] = []


def info(message: str) -> None:
    lines.append(message)
