"""What tokens cost: per-model prices, from genai-prices or a file of your own.

    book = PriceBook.load("prices.json")        # or PriceBook() for the library's prices
    price = book.price("gpt-4o-mini")           # Price(input=0.15, output=0.6, ...) or None
    price.cost(input=1200, output=300, cached=0, tier="batch")    # USD

A prices file is a JSON object mapping a model name to
``{"input": USD per 1M input tokens, "output": USD per 1M output tokens}`` with optional
``"cached_input"`` (USD per 1M cached input tokens) and ``"batch"`` (the factor applied to
batch and flex requests, 0.5 by default, as OpenAI prices both at half). Models the file
does not name are looked up in genai-prices, whose data ships in the package (nothing is
downloaded); its answers are kept on disk (``library_cache.py``) so that later runs need
not load it. Pricing itself is pure arithmetic.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import threading
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import orjson

from ..errors import ConfigError
from .library_cache import MISSING, LibraryCache

__all__ = ["Price", "PriceBook", "Tier", "tier_of"]

log = logging.getLogger(__name__)

Tier = Literal["default", "flex", "batch"]
_MTOK = 1_000_000
_DEFAULT_DISCOUNT = 0.5  # OpenAI: Batch API and flex processing cost half


def tier_of(body: Mapping[str, Any]) -> Tier:
    """The price tier a request body asks for (``service_tier: "flex"``)."""
    return "flex" if body.get("service_tier") == "flex" else "default"


@dataclass(frozen=True, slots=True)
class Price:
    """USD per million tokens for one model; ``batch``/``flex`` are factors on them."""

    input: float
    output: float
    cached_input: float | None = None
    batch: float = _DEFAULT_DISCOUNT
    flex: float = _DEFAULT_DISCOUNT

    def __post_init__(self) -> None:
        for name in ("input", "output", "cached_input", "batch", "flex"):
            value = getattr(self, name)
            if value is not None and (not math.isfinite(value) or value < 0):
                raise ConfigError(f"price {name} must be a finite number >= 0, got {value!r}")

    def factor(self, tier: Tier) -> float:
        return self.batch if tier == "batch" else self.flex if tier == "flex" else 1.0

    def cost(self, *, input: int, output: int, cached: int = 0, tier: Tier = "default") -> float:
        """USD for one answer's usage (``cached`` is the part of ``input`` read from cache)."""
        cached = min(max(cached, 0), input)
        cached_rate = self.cached_input if self.cached_input is not None else self.input
        usd = ((input - cached) * self.input + cached * cached_rate + output * self.output) / _MTOK
        return usd * self.factor(tier)


def _parse_entry(model: str, entry: Any) -> Price:
    if not isinstance(entry, dict):
        raise ConfigError(f"prices: {model!r} must map to an object with 'input' and 'output'")
    unknown = set(entry) - {"input", "output", "cached_input", "batch", "flex"}
    if unknown:
        raise ConfigError(f"prices: {model!r} has unknown keys {sorted(unknown)}")
    try:
        batch = float(entry.get("batch", _DEFAULT_DISCOUNT))
        return Price(
            input=float(entry["input"]),
            output=float(entry["output"]),
            cached_input=float(entry["cached_input"]) if "cached_input" in entry else None,
            batch=batch,
            flex=float(entry.get("flex", batch)),
        )
    except KeyError as err:
        raise ConfigError(f"prices: {model!r} lacks {err.args[0]!r} (USD per 1M tokens)") from err
    except (TypeError, ValueError) as err:
        raise ConfigError(f"prices: {model!r}: prices must be numbers ({err})") from err


def _ask_library(model: str) -> Price | None:
    """The model's price in genai-prices, or None when it does not know the model."""
    try:
        from genai_prices import Usage, calc_price
    except ImportError:  # pragma: no cover - a declared dependency
        return None

    def rate(context: dict[str, str] | None, **usage: int) -> tuple[float, float]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            calc = calc_price(Usage(**usage), model, provider_id="openai", price_context=context)
        return float(calc.input_price), float(calc.output_price)

    try:
        base_in, base_out = rate(None, input_tokens=_MTOK, output_tokens=_MTOK)
        cached_in, _ = rate(None, input_tokens=_MTOK, cache_read_tokens=_MTOK, output_tokens=0)
        flex_in, _ = rate({"service_tier": "flex"}, input_tokens=_MTOK, output_tokens=0)
    except LookupError:
        return None
    # genai-prices knows flex where OpenAI publishes a separate flex price; batch is half.
    flex = flex_in / base_in if base_in and flex_in != base_in else _DEFAULT_DISCOUNT
    return Price(input=base_in, output=base_out, cached_input=cached_in, flex=flex)


_LIBRARY_CACHE: LibraryCache | None = None
_LIBRARY_CACHE_LOCK = threading.Lock()


def _library_cache() -> LibraryCache:
    global _LIBRARY_CACHE
    with _LIBRARY_CACHE_LOCK:
        if _LIBRARY_CACHE is None:
            _LIBRARY_CACHE = LibraryCache.default()
        return _LIBRARY_CACHE


def _library_price(model: str) -> Price | None:
    """The model's genai-prices price: from the on-disk cache, else from the library."""
    cache = _library_cache()
    kept = cache.get(model)
    if kept is not MISSING:
        try:
            return Price(**kept) if kept is not None else None
        except (TypeError, ConfigError):
            pass  # a damaged entry: ask the library again
    try:
        price = _ask_library(model)
    except Exception as err:  # a library bug must not stop a run; say so and go on
        log.warning("genai-prices failed for %s: %s", model, err)
        return None
    cache.put(model, dataclasses.asdict(price) if price is not None else None)
    return price


class PriceBook:
    """Prices by model: the overrides first, then genai-prices (looked up once per model)."""

    def __init__(self, overrides: Mapping[str, Price] | None = None, *, library: bool = True):
        self._overrides = dict(overrides or {})
        self._library = library
        self._cache: dict[str, Price | None] = {}
        self._loader: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"PriceBook({len(self._overrides)} overrides, library={self._library})"

    @classmethod
    def load(cls, path: str | Path | None = None) -> PriceBook:
        """Library prices, overridden by the JSON file at ``path`` when given."""
        if path is None:
            return cls()
        try:
            data = orjson.loads(Path(path).read_bytes())
        except OSError as err:
            raise ConfigError(f"cannot read prices file {path}: {err.strerror}") from err
        except orjson.JSONDecodeError as err:
            raise ConfigError(f"prices file {path} is not JSON: {err}") from err
        if not isinstance(data, dict):
            raise ConfigError(f"prices file {path} must hold a JSON object of models")
        return cls({str(model): _parse_entry(str(model), entry) for model, entry in data.items()})

    def preload(self) -> None:
        """Load the price library now (~0.5 s of CPU unless its prices are cached on disk;
        blocking: call it in a thread)."""
        if self._library:
            _library_price("gpt-4o-mini")

    def load_in_background(self) -> None:
        """Start loading the price library in a thread; the first lookup waits for it.

        A run starts this before it starts anything else, so the library loads while the
        input is opened and the first requests go out, not in front of them.
        """
        if self._library and self._loader is None:
            self._loader = threading.Thread(target=self.preload, name="surge-prices", daemon=True)
            self._loader.start()

    def wait_loaded(self) -> None:
        """Block until a load started by :meth:`load_in_background` is done."""
        if self._loader is not None:
            self._loader.join()

    def known(self, model: str | None) -> bool:
        """Whether :meth:`price` answers at once (no library lookup left to do)."""
        return not model or model in self._overrides or model in self._cache

    def price(self, model: str | None) -> Price | None:
        if not model:
            return None
        if model in self._overrides:
            return self._overrides[model]
        if model not in self._cache:
            if self._loader is not None:
                self._loader.join()  # one load, not a second one racing it
            self._cache[model] = _library_price(model) if self._library else None
        return self._cache[model]
