"""What requests cost: prices, estimates before a run, a hard budget, and a meter during it.

Modules: ``prices`` (per-model prices from genai-prices or a JSON file), ``estimate``
(tokens, cost and wall time without sending anything), ``budget`` (reservation
arithmetic), ``meter`` (a listener adding up cost and cache hits as results arrive).
The pipeline step that applies them to each attempt is ``surge._engine.costing``.
"""
