"""Prompt templates over table rows: ``"Classify: {review}"``, checked before anything is sent.

    template = Template("Classify: {review}")
    template.fields                        # ("review",)
    template.check(["id", "review"])       # ConfigError naming the field and the columns
    template.render({"id": 1, "review": "Great, but slow."})

Parsing is :class:`string.Formatter`'s, so ``{{`` is a literal brace and format specs
(``{price:.2f}``) work. Fields name columns; attribute and index lookups
(``{a.b}``, ``{a[0]}``) and positional fields (``{}``) are refused, since a column name is
all a row offers. A field can be checked only when the columns are known: JSONL records may
differ from row to row, so :meth:`render` says which field a row lacks.
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import ConfigError

__all__ = ["Template", "set_dotted"]

_FORMATTER = string.Formatter()


class Template:
    """One ``str.format``-style template whose fields are column names."""

    def __init__(self, text: str, *, what: str = "--template") -> None:
        self.text = text
        self.what = what
        fields: list[str] = []
        try:
            parsed = list(_FORMATTER.parse(text))
        except ValueError as err:
            raise ConfigError(f"{what} {text!r} is not a valid template: {err}") from None
        for _, name, spec, _ in parsed:
            if name is None:
                continue
            if name == "" or name.isdigit():
                raise ConfigError(f"{what} {text!r}: fields must name a column, like {{review}}")
            if any(c in name for c in ".["):
                raise ConfigError(f"{what} {text!r}: field {{{name}}} must be a plain column name")
            if spec and "{" in spec:
                raise ConfigError(f"{what} {text!r}: nested fields are not supported")
            if name not in fields:
                fields.append(name)
        self.fields: tuple[str, ...] = tuple(fields)

    def __repr__(self) -> str:
        return f"Template({self.text!r})"

    def check(self, columns: Iterable[str]) -> None:
        """Raise :class:`ConfigError` if a field is not one of ``columns``."""
        available = list(columns)
        known = set(available)
        for name in self.fields:
            if name not in known:
                listed = ", ".join(available) if available else "(none)"
                raise ConfigError(
                    f"{self.what} uses {{{name}}}, which is not a column; the columns are: {listed}"
                )

    def render(self, row: Mapping[str, Any]) -> str:
        """The template filled from ``row``; ``KeyError`` names a field the row lacks."""
        values = {}
        for name in self.fields:
            if name not in row:
                raise KeyError(name)
            value = row[name]
            values[name] = "" if value is None else value
        try:
            return self.text.format_map(values)
        except (ValueError, TypeError) as err:
            raise ValueError(f"{self.what}: {err}") from None


def set_dotted(body: dict[str, Any], key: str, value: Any) -> None:
    """``set_dotted(body, "text.verbosity", "low")`` sets ``body["text"]["verbosity"]``."""
    parts = key.split(".")
    target = body
    for part in parts[:-1]:
        nxt = target.get(part)
        if not isinstance(nxt, dict):
            nxt = {}
            target[part] = nxt
        target = nxt
    target[parts[-1]] = value
