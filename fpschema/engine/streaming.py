"""A large CSV validated block by block (:func:`validate_stream`): each block converted and evaluated while the
next is read, cross-row keys gathered for the end.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import polars as pl

from fpschema import contract
from fpschema.engine.evaluation import (
    SAMPLE_ROWS,
    TABLE_KINDS,
    Options,
    all_checks,
    findings_of,
    finish_findings,
    prepare,
)
from fpschema.engine.headers import infer_kind, map_headers
from fpschema.engine.outcome import coverage_of, make_report, sample_cells, source_entry
from fpschema.errors import InputError
from fpschema.io.csvstream import CsvStream, NotStreamable
from fpschema.report.report import Report, empty_findings
from fpschema.rules import dataset_checks, derive

_END = object()


def _prefetched(items: Iterator[Any]) -> Iterator[Any]:
    """The items of an iterator, each next one produced in a worker thread while the caller uses this one.
    The first is asked for at once, so the caller can prepare while it is produced."""
    pool = ThreadPoolExecutor(1)
    ahead = pool.submit(next, items, _END)

    def consume() -> Iterator[Any]:
        nonlocal ahead
        try:
            while (item := ahead.result()) is not _END:
                ahead = pool.submit(next, items, _END)
                yield item
        finally:
            pool.shutdown(wait=True)

    return consume()


Progress = Callable[[int, int], None]  # (bytes done, bytes in all), called as a large file is validated


def validate_stream(stream: CsvStream, kind: str | None, options: Options, *, lang: str = "zh",
                    max_findings: int | None = None, source_extra: dict[str, Any] | None = None,
                    progress: Progress | None = None, layout: str | None = None) -> Report:
    """Validate a CSV read block by block (:mod:`fpschema.csvstream`): the same rules and report as
    :func:`validate_table`, in memory bounded by the block (:class:`NotStreamable` for the aggregate kinds,
    whose table rules need the whole table). Row rules run per block while the next block is
    parsed; cross-row rules run at the end over the blocks' key frames. ``progress`` hears of each block
    checked."""
    kind = infer_kind(stream.names) if kind is None else kind
    if kind not in contract.kinds():
        raise InputError("input.unknown_kind", kind=kind)
    if kind in TABLE_KINDS:  # their table rules need the whole table
        raise NotStreamable(stream.path)
    mapping = map_headers(stream.names, kind, layout)
    options = replace(options, plan=mapping.plan)
    blocks = _prefetched(stream.frames())
    todo = all_checks(kind, options.reference_date, cross_row=False, targets=options.targets, plan=options.plan,
                      groups=options.groups)
    # while the first block is read: one pass over no rows loads what the rules read (code lists, divisions)
    empty = pl.DataFrame(schema={"__row__": pl.Int64, **dict.fromkeys(mapping.columns, pl.Utf8)})
    findings_of(prepare(empty, kind, options.reference_date, plan=options.plan), todo, empty, kind, options.unmask)
    found, keys, cells, ambiguous = [], [], [], []
    seen: dict[str, tuple[str, ...]] = {}  # the few-valued columns' texts so far
    kept = held = 0  # sample rows kept, findings held
    size = stream.size
    cross, ahead, helper = None, None, ThreadPoolExecutor(1)  # one helper thread: its tasks run in the order given
    for frame in blocks:
        done = stream.ends.popleft()  # where this block ends (the reader may be a block ahead)
        last = stream.sha256 is not None and not stream.ends  # the last block: cross-row rules run beside it
        if last and keys:  # the other blocks' hashes sorted while this one is prepared
            ahead = (sum(k.height for k in keys), helper.submit(dataset_checks.sorted_hashes, pl.concat(keys)))
        text = mapping.text(frame)
        distinct: dict[str, pl.Series] = {}
        typed = prepare(text, kind, options.reference_date, distinct, seen, options.plan)
        keys.append(dataset_checks.key_frame(typed, kind, text))
        if last:
            cross = helper.submit(_cross_row, pl.concat(keys), kind, options.unmask, ahead)
        left = None if options.findings_budget is None else options.findings_budget - held
        try:
            block = findings_of(typed, todo, text, kind, options.unmask, finish=False, distinct=distinct, budget=left)
        except InputError as err:  # what was left of the budget ran out: the message names the whole budget
            raise InputError(err.code, limit=options.findings_budget) from None
        held += block.height
        found.append(block)
        if kept < SAMPLE_ROWS:
            cells.append(sample_cells(text, block, SAMPLE_ROWS - kept))
            kept += cells[-1].height
        if options.plan.derived:
            ambiguous.extend(derive.candidates(typed, options.plan.derived))
        del frame, text, typed  # before the next block arrives: one block's frames alive at a time
        if progress is not None:
            progress(min(done, size), size)
    if cross is not None:
        found.append(cross.result())
    elif keys:
        found.append(dataset_checks.cross_row_findings(pl.concat(keys), kind, options.unmask))
    helper.shutdown()
    findings = finish_findings(pl.concat(found), kind) if found else empty_findings()
    source = {**source_entry(stream), **(source_extra or {})}
    covered = {**coverage_of(mapping.plan, options),
               "ambiguous": list({(a["field"], a["name"], a["year"]): a for a in ambiguous}.values())[:100]}
    return make_report(kind, source, stream.rows, mapping, findings, pl.concat(cells) if cells else pl.DataFrame(),
                   lang=lang, max_findings=max_findings, unmask=options.unmask, extras={"coverage": covered},
                   options=options)


def _cross_row(keys: pl.DataFrame, kind: str, unmask: bool, ahead: tuple[int, Future[Any]] | None) -> pl.DataFrame:
    """:func:`dataset_checks.cross_row_findings` with the leading blocks' sorted hashes (a task the same helper
    thread ran before this one)."""
    return dataset_checks.cross_row_findings(keys, kind, unmask, None if ahead is None else (ahead[0], ahead[1].result()))
