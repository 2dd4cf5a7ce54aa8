"""The line splitter under every text reader (CSV, JSONL, fixed width): read a block at a time and split in
C, it must hand out exactly the lines `readline` would — terminators \\n, \\r\\n and a bare \\r, a \\r\\n split
across two blocks, Unicode line separators inside a cell left alone — and stop at the first line longer than
the limit with that line's number, after handing out every line before it."""

from __future__ import annotations

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from omnishop.datahub import readers
from omnishop.datahub.errors import LineTooLong

# Characters chosen to land on every edge: the three terminators, the separators str.splitlines would
# (wrongly, for CSV) split on, and text.
TEXTS = st.text(
    alphabet=st.sampled_from(["a", "b", ",", "\r", "\n", "\u2028", "\x85", "\x1e", "\x0c"]), max_size=80
)


def lines_of(text: str, limit: int) -> list[str]:
    return list(readers._bounded_lines(io.StringIO(text, newline=""), limit))


def readline_lines(text: str) -> list[str]:
    return io.StringIO(text, newline="").readlines()


@settings(max_examples=400, deadline=None)
@given(text=TEXTS, block=st.integers(min_value=1, max_value=12))
def test_blocks_split_exactly_as_readline(monkeypatch_module, text, block):
    monkeypatch_module.setattr(readers, "_LINE_BLOCK", block)
    assert lines_of(text, limit=1000) == readline_lines(text)


@settings(max_examples=400, deadline=None)
@given(text=TEXTS, block=st.integers(min_value=1, max_value=12), limit=st.integers(min_value=1, max_value=10))
def test_the_first_line_over_the_limit_stops_reading_after_the_lines_before_it(
    monkeypatch_module, text, block, limit
):
    monkeypatch_module.setattr(readers, "_LINE_BLOCK", block)
    expected = readline_lines(text)
    over = next((n for n, line in enumerate(expected) if len(line.rstrip("\r\n")) > limit), None)
    handed: list[str] = []
    iterator = readers._bounded_lines(io.StringIO(text, newline=""), limit)
    if over is None:
        assert list(iterator) == expected
        return
    with pytest.raises(LineTooLong) as caught:
        for line in iterator:
            handed.append(line)
    assert caught.value.details["line"] == over + 1
    assert handed == expected[:over]


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch
