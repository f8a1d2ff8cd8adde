"""The exit codes of the ``surge`` command, in one place.

    sys.exit(ExitCode.FAILED)

======  =================================================================================
code    meaning
======  =================================================================================
0       every request succeeded
1       some requests failed or some input lines were invalid (each is in the output)
2       usage or configuration error, or an endpoint that refuses every request (wrong
        URL, key or model: the run stopped within seconds; fix the option and resume)
3       the run itself stopped: the output could not be written (disk full, file-size
        limit), the shared limiter (--limiter) was lost mid-run, or an internal error;
        every line already written is valid and the printed command resumes
130     interrupted (the output is valid and the printed command resumes it)
======  =================================================================================
"""

from __future__ import annotations

from enum import IntEnum

__all__ = ["ExitCode"]


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1
    USAGE = 2
    OUTPUT = 3
    INTERRUPTED = 130
