"""Workflows over the engine: stages (map, reduce) and fan-out → synthesis.

from surge.workflows import MapStage, ReduceStage, StageRunner
result = await surge.fanout(questions, synthesize="Write a guide.", model="gpt-4.1-mini")
"""

from .fanout import Answer, FanoutResult, fanout, fanout_sync
from .stages import MapStage, ReduceStage, StageRunner
from .tables import TableRun, run_table, run_table_sync

__all__ = [
    "Answer",
    "FanoutResult",
    "MapStage",
    "ReduceStage",
    "StageRunner",
    "TableRun",
    "fanout",
    "fanout_sync",
    "run_table",
    "run_table_sync",
]
