"""A small, deterministic generator of JSON instances that validate against a JSON Schema.

Example::

    schema = {
        "type": "object",
        "properties": {
            "sentiment": {"enum": ["positive", "negative", "neutral"]},
            "score": {"type": "number", "minimum": 0, "maximum": 1},
        },
        "required": ["sentiment", "score"],
        "additionalProperties": False,
    }
    instance(schema, key="1a2b3c")   # e.g. {"sentiment": "neutral", "score": 0.42}

Supported: ``type`` (one or a list), ``enum``, ``const``, objects (``properties``,
``required``, ``additionalProperties``, ``minProperties``), arrays (``items``,
``prefixItems``, ``minItems``, ``maxItems``, ``uniqueItems``), strings (``minLength``,
``maxLength``, common ``format``\\ s), numbers and integers (``minimum``, ``maximum``,
exclusive bounds, ``multipleOf``), booleans, null, ``anyOf`` / ``oneOf`` / ``allOf``, and
``$ref`` to ``#/$defs/...`` or ``#/definitions/...`` (any local JSON pointer). ``pattern``
is not honoured. The choice of every value is derived from ``key`` and the JSON path, so the
same schema and key always give the same instance. Unconstrained strings carry the key, so
a structured answer can still be traced back to its prompt.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

_MAX_DEPTH = 12


class SchemaError(ValueError):
    """The schema cannot be satisfied or uses something the generator cannot follow."""


def instance(schema: Any, key: str = "") -> Any:
    """Return a JSON value valid against ``schema``, chosen deterministically from ``key``."""
    return _Gen(schema, key).make(schema, "$", 0)


class _Gen:
    def __init__(self, root: Any, key: str) -> None:
        self.root = root
        self.key = key

    def pick(self, path: str, n: int) -> int:
        """A deterministic index in ``range(n)`` for this path."""
        raw = hashlib.blake2b(f"{self.key}|{path}".encode(), digest_size=8).digest()
        return int.from_bytes(raw, "big") % n

    def resolve(self, ref: str) -> Any:
        if not ref.startswith("#"):
            raise SchemaError(f"only local $ref are supported, got {ref!r}")
        node = self.root
        for part in ref[1:].split("/")[1:] if ref != "#" else []:
            part = part.replace("~1", "/").replace("~0", "~")
            try:
                node = node[int(part)] if isinstance(node, list) else node[part]
            except (KeyError, IndexError, ValueError, TypeError) as err:
                raise SchemaError(f"unresolvable $ref {ref!r}") from err
        return node

    def make(self, schema: Any, path: str, depth: int) -> Any:
        if depth > _MAX_DEPTH:
            raise SchemaError("schema recursion too deep (a $ref cycle without an exit?)")
        if schema is True or schema == {}:
            return f"sim:{self.key}"
        if schema is False or not isinstance(schema, dict):
            raise SchemaError(f"unsatisfiable or invalid schema at {path}")
        if "$ref" in schema:
            target = self.resolve(schema["$ref"])
            rest = {k: v for k, v in schema.items() if k != "$ref"}
            return self.make(_merge(target, rest) if rest else target, path, depth + 1)
        if "allOf" in schema:
            merged = {k: v for k, v in schema.items() if k != "allOf"}
            for part in schema["allOf"]:
                part = (
                    self.resolve(part["$ref"])
                    if isinstance(part, dict) and "$ref" in part
                    else part
                )
                merged = _merge(merged, part)
            return self.make(merged, path, depth + 1)
        if "const" in schema:
            return schema["const"]
        if "enum" in schema:
            options = schema["enum"]
            return options[self.pick(path, len(options))]
        for combo in ("anyOf", "oneOf"):
            if combo in schema:
                return self.make_choice(schema, combo, path, depth)
        kind = _type_of(schema, self.pick(path + "#type", 7))
        return getattr(self, f"make_{kind}")(schema, path, depth)

    def make_choice(self, schema: dict[str, Any], combo: str, path: str, depth: int) -> Any:
        branches = schema[combo]
        base = {k: v for k, v in schema.items() if k != combo}
        start = self.pick(path + "#" + combo, len(branches))
        order = [branches[(start + i) % len(branches)] for i in range(len(branches))]
        last_err: Exception | None = None
        for branch in order:
            candidate_schema = _merge(base, branch) if base else branch
            try:
                value = self.make(candidate_schema, path, depth + 1)
            except SchemaError as err:
                last_err = err
                continue
            if combo == "anyOf" or self.matches_exactly_one(branches, value):
                return value
        raise SchemaError(f"no {combo} branch could be satisfied at {path}") from last_err

    def matches_exactly_one(self, branches: list[Any], value: Any) -> bool:
        # oneOf is rare in structured outputs; only then pay for a real validator.
        import jsonschema

        hits = 0
        for branch in branches:
            wrapped = dict(branch) if isinstance(branch, dict) else branch
            if isinstance(wrapped, dict) and isinstance(self.root, dict):
                for defs in ("$defs", "definitions"):
                    if defs in self.root:
                        wrapped.setdefault(defs, self.root[defs])
            if jsonschema.Draft202012Validator(wrapped).is_valid(value):
                hits += 1
        return hits == 1

    def make_object(self, schema: dict[str, Any], path: str, depth: int) -> dict[str, Any]:
        props: dict[str, Any] = schema.get("properties") or {}
        out = {name: self.make(sub, f"{path}.{name}", depth + 1) for name, sub in props.items()}
        for name in schema.get("required", ()):
            if name not in out:
                extra = schema.get("additionalProperties", True)
                out[name] = self.make(
                    extra if isinstance(extra, dict) else True, f"{path}.{name}", depth + 1
                )
        extra_schema = schema.get("additionalProperties", True)
        i = 0
        while len(out) < schema.get("minProperties", 0):
            if extra_schema is False:
                raise SchemaError(f"minProperties cannot be met at {path}")
            name = f"extra_{i}"
            i += 1
            if name not in out:
                sub = extra_schema if isinstance(extra_schema, dict) else True
                out[name] = self.make(sub, f"{path}.{name}", depth + 1)
        return out

    def make_array(self, schema: dict[str, Any], path: str, depth: int) -> list[Any]:
        prefix = schema.get("prefixItems") or []
        items = schema.get("items", True)
        lo = int(schema.get("minItems", 0))
        hi = schema.get("maxItems")
        length = max(lo, len(prefix), 1 if items is not False else len(prefix))
        if hi is not None:
            length = min(length, int(hi))
        out: list[Any] = []
        unique = bool(schema.get("uniqueItems"))
        tries = 0
        while len(out) < length and tries < length + 8:
            i = len(out)
            sub = prefix[i] if i < len(prefix) else items
            value = self.make(
                sub, f"{path}[{i}]#{tries}" if tries > i else f"{path}[{i}]", depth + 1
            )
            tries += 1
            if unique and value in out:
                continue
            out.append(value)
        if len(out) < lo:
            raise SchemaError(f"cannot make {lo} unique items at {path}")
        return out

    def make_string(self, schema: dict[str, Any], path: str, depth: int) -> str:
        fmt = schema.get("format")
        if fmt in _FORMATS:
            return _FORMATS[fmt]
        text = f"sim:{self.key}" if self.key else "sim"
        lo = int(schema.get("minLength", 0))
        hi = schema.get("maxLength")
        if len(text) < lo:
            text = text + "x" * (lo - len(text))
        if hi is not None:
            text = text[: int(hi)]
        return text

    def make_number(self, schema: dict[str, Any], path: str, depth: int) -> float | int:
        return self._number(schema, path, integer=False)

    def make_integer(self, schema: dict[str, Any], path: str, depth: int) -> float | int:
        return self._number(schema, path, integer=True)

    def _number(self, schema: dict[str, Any], path: str, *, integer: bool) -> float | int:
        lo = schema.get("minimum", -math.inf)
        hi = schema.get("maximum", math.inf)
        ex_lo, ex_hi = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
        if isinstance(ex_lo, (int, float)) and not isinstance(ex_lo, bool):
            lo = max(lo, ex_lo + (1 if integer else 1e-6))
        if isinstance(ex_hi, (int, float)) and not isinstance(ex_hi, bool):
            hi = min(hi, ex_hi - (1 if integer else 1e-6))
        step = schema.get("multipleOf")
        if integer:
            lo, hi = (
                math.ceil(lo) if lo > -math.inf else lo,
                math.floor(hi) if hi < math.inf else hi,
            )
        if lo > hi:
            raise SchemaError(f"empty numeric range at {path}")
        frac = self.pick(path + "#n", 1000) / 1000
        if lo > -math.inf and hi < math.inf:
            value = lo + (hi - lo) * frac
        elif lo > -math.inf:
            value = lo + 100 * frac
        elif hi < math.inf:
            value = hi - 100 * frac
        else:
            value = 100 * frac
        if step:
            value = math.ceil(value / step) * step
            if value > hi:
                value -= step
            if value < lo:
                raise SchemaError(f"no multiple of {step} in range at {path}")
            if isinstance(step, int) or float(step).is_integer():
                value = round(value)
        if integer:
            return int(max(lo, min(hi, math.floor(value))))
        result: float | int = round(value, 6) if not step else value
        return result

    def make_boolean(self, schema: dict[str, Any], path: str, depth: int) -> bool:
        return self.pick(path, 2) == 1

    def make_null(self, schema: dict[str, Any], path: str, depth: int) -> None:
        return None


_FORMATS = {
    "date-time": "2024-01-01T00:00:00Z",
    "date": "2024-01-01",
    "time": "00:00:00Z",
    "email": "sim@example.com",
    "uri": "https://example.com/sim",
    "uuid": "00000000-0000-4000-8000-000000000000",
    "ipv4": "127.0.0.1",
    "hostname": "example.com",
}


def _type_of(schema: dict[str, Any], choice: int) -> str:
    declared = schema.get("type")
    if isinstance(declared, str):
        return declared
    if isinstance(declared, list) and declared:
        # Prefer a non-null type: an answer full of nulls is a poor test of a pipeline.
        non_null = [t for t in declared if t != "null"] or declared
        return str(non_null[choice % len(non_null)])
    if "properties" in schema or "required" in schema or "additionalProperties" in schema:
        return "object"
    if "items" in schema or "prefixItems" in schema:
        return "array"
    if "minimum" in schema or "maximum" in schema:
        return "number"
    return "string"


def _merge(a: Any, b: Any) -> Any:
    """Shallow conjunction of two schemas, good enough for allOf and $ref siblings."""
    if not isinstance(a, dict) or not isinstance(b, dict):
        return b if isinstance(a, dict) and a == {} else a if b in ({}, True) else b
    out = dict(a)
    for k, v in b.items():
        if k == "properties" and isinstance(out.get(k), dict):
            out[k] = {**out[k], **v}
        elif k == "required" and k in out:
            out[k] = list(dict.fromkeys([*out[k], *v]))
        else:
            out[k] = v
    return out


__all__ = ["SchemaError", "instance"]
