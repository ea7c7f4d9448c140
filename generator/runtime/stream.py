"""Streaming validation: resources read one at a time, validated in order, on one core or many.

``fhirgen validate`` and the Dask bulk runner (:mod:`fhirgen.dask_bulk`) both come through here,
so every path validates a resource with the same function, :func:`validate_one`.

* :func:`resource_chunks` yields ``(line offset, bytes)`` per resource: a whole JSON file, or each
  non-blank line of NDJSON, read line by line (memory stays flat whatever the file size). Standard
  input is NDJSON when asked (``ndjson=True``) or when its first line is a complete JSON value
  (sniffed from that one line; a pretty-printed document's first line is ``{``, never complete).
* Reading is bounded by :class:`~fhirgen.runtime.limits.Limits` ``max_bytes``: at most that many
  bytes and one more are read of a file, of standard input or of an NDJSON line (the rest of an
  over-long line is skipped in pieces), so a 10 GB file or a line without end never fills
  memory; the over-long chunk is refused by :func:`~fhirgen.runtime.validate.run` with one issue.
* :func:`validate_stream` validates chunks in order. With ``jobs > 1`` a process pool validates
  batches of lines; at most a few batches per worker are in flight, so input is still read as it
  is consumed, and results come back in input order. Workers return plain, picklable records
  (:class:`Outcome`) with positions already worked out.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import IO, Any, NamedTuple

from .issues import Issue, count, operation_outcome, outcome_json
from .limits import DEFAULT_LIMITS, Limits
from .validate import Validator, run

__all__ = [
    "SEVERITIES",
    "Outcome",
    "load_validators",
    "resource_chunks",
    "tally",
    "validate_one",
    "validate_stream",
]

#: Lines per batch sent to a worker: large enough that pickling is a small share of the work.
BATCH = 64
#: Batches in flight per worker: enough to keep workers busy, few enough to keep memory flat.
IN_FLIGHT = 4


#: The severities an :class:`Outcome`'s ``tally`` counts, in its order.
SEVERITIES = ("fatal", "error", "warning", "information")


class Outcome(NamedTuple):
    """One validated resource, as a plain record (it crosses process boundaries).

    ``tally`` counts the issues by severity (:data:`SEVERITIES`). A pool asked for the text
    (*serialize*) sends back the text and the tally but not the issues, which the text holds:
    the process that prints then only counts and writes (unpickling a line's issue records cost
    it about as much as writing them).
    """

    issues: list[Issue]
    resource_type: str | None
    file: str | None
    text: str | None = None  # the OperationOutcome as one line of JSON, when asked for
    tally: tuple[int, ...] | None = None

    @property
    def error_count(self) -> int:
        if self.tally is not None:
            return self.tally[0] + self.tally[1]
        return count(self.issues, "fatal", "error")

    @property
    def warning_count(self) -> int:
        if self.tally is not None:
            return self.tally[2]
        return count(self.issues, "warning")

    @property
    def ok(self) -> bool:
        return self.error_count == 0

    def outcome(self) -> dict[str, Any]:
        return operation_outcome(self.issues, self.file)


# ----------------------------------------------------------------------------------- reading


def resource_chunks(name: str, path: Path | None, *, ndjson: bool | None = None,
                    stdin: IO[bytes] | None = None,
                    limits: Limits = DEFAULT_LIMITS) -> Iterator[tuple[int, bytes]]:
    """(line offset, text) of each resource of one input: a file, or standard input (None).

    *ndjson*: True reads line by line, False as one document, None decides by the name
    (``.ndjson``) or, for standard input, by sniffing its first line. A chunk is at most
    ``limits.max_bytes + 1`` bytes: one that long is too long, and validation says so.
    """
    bound = limits.max_bytes + 1
    if path is None:
        stream = stdin if stdin is not None else sys.stdin.buffer
        yield from _stdin_chunks(stream, ndjson, bound)
        return
    if ndjson is None:
        ndjson = name.endswith(".ndjson")
    with path.open("rb") as source:
        if not ndjson:
            yield 0, source.read(bound)
            return
        yield from _line_chunks(source, bound)


def _bounded_lines(stream: IO[bytes], bound: int) -> Iterator[bytes]:
    """The lines of *stream*, each cut at *bound* bytes (the rest of a longer line is read in
    pieces of that size and dropped, so line numbers hold and memory stays bounded)."""
    while True:
        line = stream.readline(bound)
        if not line:
            return
        if len(line) >= bound and not line.endswith(b"\n"):
            rest = line
            while rest and not rest.endswith(b"\n"):
                rest = stream.readline(bound)
        yield line


def _line_chunks(stream: IO[bytes], bound: int, first: int = 0) -> Iterator[tuple[int, bytes]]:
    for number, line in enumerate(_bounded_lines(stream, bound), first):
        if line.strip():
            yield number, line


def _stdin_chunks(stream: IO[bytes], ndjson: bool | None,
                  bound: int) -> Iterator[tuple[int, bytes]]:
    if ndjson is False:
        yield 0, stream.read(bound)
        return
    blank = 0
    lines = _bounded_lines(stream, bound)
    first = next(lines, b"")
    while first and not first.strip():
        blank += 1
        first = next(lines, b"")
    if ndjson is None:
        ndjson = len(first) < bound and _complete_json(first)
    if not ndjson:
        # blank lines kept: line numbers hold (a first line cut at the bound is refused whole)
        rest = b"" if len(first) >= bound else stream.read(max(bound - len(first) - blank, 0))
        yield 0, b"\n" * blank + first + rest
        return
    if first:
        yield blank, first
    for number, line in enumerate(lines, blank + 1):
        if line.strip():
            yield number, line


def _complete_json(line: bytes) -> bool:
    text = line.strip()
    if not text:
        return False
    try:
        import orjson

        orjson.loads(text)
    except ImportError:  # pragma: no cover - a declared dependency
        import json

        try:
            json.loads(text)
        except ValueError:
            return False
    except ValueError:
        return False
    return True


# -------------------------------------------------------------------------------- validating


def validate_one(data: bytes, validators: dict[str, Validator], file: str | None,
                 line_offset: int, *, serialize: bool = False,
                 limits: Limits = DEFAULT_LIMITS) -> Outcome:
    """The one validation function of every path (serial, pool, Dask): issues with positions,
    and with *serialize* the OperationOutcome as a line of JSON (done where the work is)."""
    result = run(data, validators, file=file, line_offset=line_offset, limits=limits)
    issues = result.issues
    text = outcome_json(issues, result.file).decode("utf-8") if serialize else None
    return Outcome(issues, result.resource_type, result.file, text, tally(issues))


def tally(issues: Iterable[Issue]) -> tuple[int, ...]:
    """How many of *issues* are of each severity of :data:`SEVERITIES`."""
    counts = dict.fromkeys(SEVERITIES, 0)
    for issue in issues:
        counts[issue.severity] += 1
    return tuple(counts.values())


def validate_stream(chunks: Iterable[tuple[int, bytes]], validators: dict[str, Validator],
                    file: str | None, *, jobs: int = 1, pool: ProcessPoolExecutor | None = None,
                    serialize: bool = False,
                    limits: Limits = DEFAULT_LIMITS) -> Iterator[Outcome]:
    """Outcomes of *chunks*, in their order; on *pool* (built with :func:`worker_pool`) if given.

    *serialize*: each outcome also carries its OperationOutcome as a line of JSON, made by the
    worker, so the process that prints only writes.
    """
    if pool is None or jobs <= 1:
        for offset, data in chunks:
            yield validate_one(data, validators, file, offset, serialize=serialize, limits=limits)
        return
    pending: deque[Future[list[Outcome]]] = deque()
    batch: list[tuple[int, bytes]] = []
    for chunk in chunks:
        batch.append(chunk)
        if len(batch) >= BATCH:
            pending.append(pool.submit(_validate_batch, batch, file, serialize, limits))
            batch = []
            while len(pending) >= jobs * IN_FLIGHT:
                yield from pending.popleft().result()
    if batch:
        pending.append(pool.submit(_validate_batch, batch, file, serialize, limits))
    while pending:
        yield from pending.popleft().result()


# ------------------------------------------------------------------------------ worker pool

_WORKER_VALIDATORS: dict[str, Validator] | None = None


def worker_pool(jobs: int, models: str, profiles: tuple[str, ...] = (),
                imaging: str = "warning") -> ProcessPoolExecutor:
    """A pool of *jobs* processes, each with the validators of *models* imported once (with the
    *profiles* asked for and ``meta.profile`` claims, as :func:`fhirgen.runtime.profiles.package_validators`,
    and the imaging rules at the severity *imaging* names, as :mod:`fhirgen.runtime.imaging`)."""
    return ProcessPoolExecutor(max_workers=jobs, initializer=_init_worker,
                               initargs=(models, profiles, imaging))


def _init_worker(models: str, profiles: tuple[str, ...] = (), imaging: str = "warning") -> None:
    from .imaging import package_imaging_rules, with_imaging_rules  # issue 9: imaging rules
    from .profiles import package_validators  # issue 6: profiles

    global _WORKER_VALIDATORS  # one per worker process, set once
    module = load_validators(models)
    _WORKER_VALIDATORS = with_imaging_rules(package_validators(module, profiles),
                                            package_imaging_rules(module), imaging)


def _validate_batch(batch: list[tuple[int, bytes]], file: str | None, serialize: bool,
                    limits: Limits = DEFAULT_LIMITS) -> list[Outcome]:
    validators = _WORKER_VALIDATORS
    if validators is None:  # pragma: no cover - the initializer always ran
        raise RuntimeError("worker without validators")
    outcomes = [validate_one(data, validators, file, offset, serialize=serialize, limits=limits)
                for offset, data in batch]
    if serialize:  # the text holds the issues: send back only it and the tally
        return [outcome._replace(issues=[]) for outcome in outcomes]
    return outcomes


def load_validators(models: str) -> Any:
    """The ``validators`` module of a generated package: an import name, or a folder made by
    ``fhirgen generate --output DIR`` (imported under a private name so it cannot clash)."""
    folder = Path(models)
    import_name = models
    if folder.is_dir():
        if not (folder / "validators.py").is_file() or not (folder / "__init__.py").is_file():
            raise ImportError(f"{models}: not a package generated by fhirgen (no validators.py)")
        import_name = "_fhirgen_validate_models"
        if import_name not in sys.modules:
            spec = importlib.util.spec_from_file_location(
                import_name, folder / "__init__.py", submodule_search_locations=[str(folder)]
            )
            if spec is None or spec.loader is None:
                raise ImportError(f"{models}: cannot import this folder")
            module = importlib.util.module_from_spec(spec)
            sys.modules[import_name] = module
            spec.loader.exec_module(module)
    return importlib.import_module(f"{import_name}.validators")


def progress_bar(enabled: bool | None, stream: Any = None) -> Callable[[Outcome], None] | None:
    """A callback counting outcomes on a tqdm bar (count, rate, errors so far) on stderr.

    *enabled* None: only when stderr is a terminal. Returns None when there is no bar.
    """
    stream = stream if stream is not None else sys.stderr
    if enabled is None:
        enabled = bool(getattr(stream, "isatty", lambda: False)())
    if not enabled:
        return None
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover - a declared dependency
        return None
    bar = tqdm(file=stream, unit=" resources", desc="fhirgen validate", dynamic_ncols=True,
               mininterval=0.25)
    state = {"errors": 0, "seen": 0}

    def tick(outcome: Outcome) -> None:
        state["seen"] += 1
        if not outcome.ok:
            state["errors"] += 1
        if state["seen"] % 64 == 0 or not outcome.ok:
            bar.set_postfix_str(f"{state['errors']} with errors", refresh=False)
        bar.update(1)

    tick.close = bar.close  # type: ignore[attr-defined]
    return tick
