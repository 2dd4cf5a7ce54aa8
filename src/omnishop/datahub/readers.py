"""Streaming readers: turn a file (plain, gzip or zip) into numbered rows of column -> value, never
holding the whole file in memory.

Formats: CSV/TSV (encoding detection, delimiter sniffing), JSON (top-level array, streamed element by
element), JSON Lines, XLSX (openpyxl read-only), XML (defusedxml, no DTD/entities), fixed-width (column
positions or whitespace-separated), Parquet (pyarrow, in batches). Compressed input is decompressed on
the fly with a hard limit on the expanded size, so a zip bomb stops with `archive_too_large`.

Every limit holds while streaming, so memory stays bounded whatever the input: a text line is read at most
`OMNISHOP_DATAHUB_MAX_LINE_BYTES` characters at a time (a longer one stops reading: `line_too_long`); an XML
text or attribute run, an XML record's bytes and element count, an XLSX cell or shared-strings table and a
Parquet row group have limits checked before or while they are read (`record_too_large`); an XLSX inside a
zip or gzip is checked to be a workbook before it is copied out, and the copy is capped.

A problem with one row (wrong column count, undecodable bytes, malformed JSON line) is reported on that
row (`SourceRow.problem`) so the engine can quarantine it; a problem with the file as a whole raises a
`SourceError` subclass.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import gzip
import io
import json
import os
import re
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from itertools import chain
from pathlib import Path
from typing import Any, BinaryIO

from django.conf import settings

from .errors import (
    ArchiveTooLarge,
    BinaryFile,
    LineTooLong,
    MalformedFile,
    RecordTooLarge,
    SourceError,
    TruncatedFile,
    UndecodableFile,
    UnsafeXml,
    UnsupportedFormat,
)

SAMPLE_BYTES = 64 * 1024
FORMATS = ("csv", "tsv", "json", "jsonl", "xlsx", "xml", "fixed_width", "parquet")
_EXTENSIONS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".txt": "csv",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".xlsx": "xlsx",
    ".xlsm": "xlsx",
    ".xml": "xml",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".dat": "fixed_width",
    ".fwf": "fixed_width",
}
_SURROGATES = re.compile("[\udc80-\udcff]")


def _limit(name: str, default: int) -> int:
    return int(getattr(settings, name, default))


@dataclass
class RowProblem:
    field: str | None
    code: str
    message: str

    def as_dict(self) -> dict:
        return {"field": self.field, "code": self.code, "message": self.message}


@dataclass(slots=True)
class SourceRow:
    line: int
    values: dict[str, Any]
    problem: RowProblem | None = None
    repaired: list[tuple[str, str, str]] | None = None  # (column, as read, as repaired): mojibake fixed
    # What a reader already has at hand, so the engine's raw digest need not rebuild it: the column names
    # (one tuple shared by the file's rows) and the cells joined by \x1f — both exactly `tuple(values)` and
    # `"\x1f".join(values.values())`, set only where they are (text cells, no repeated column name).
    columns: tuple[str, ...] | None = None
    joined: str | None = None


@dataclass
class Source:
    """An opened file: its detected format/encoding, header, and a one-pass row iterator."""

    format: str
    encoding: str
    columns: list[str]
    rows: Iterator[SourceRow]
    notes: list[str] = field(default_factory=list)
    _closers: list = field(default_factory=list)

    def close(self) -> None:
        for closer in reversed(self._closers):
            with contextlib.suppress(OSError):
                closer()

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# --- decompression --------------------------------------------------------------------------------------


class LimitedReader(io.RawIOBase):
    """Reads from a decompressing stream and fails once more than `limit` bytes came out of it."""

    def __init__(self, inner: BinaryIO, limit: int, name: str) -> None:
        self.inner = inner
        self.limit = limit
        self.name = name
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        try:
            data = self.inner.read(len(buffer))
        except (EOFError, zlib.error, gzip.BadGzipFile, zipfile.BadZipFile) as exc:
            raise TruncatedFile(
                f"{self.name}: the compressed data is truncated or corrupt ({exc})."
            ) from None
        self.count += len(data)
        if self.count > self.limit:
            raise ArchiveTooLarge(
                f"{self.name} expands beyond {self.limit} bytes; refused (possible zip bomb).",
                limit=self.limit,
            )
        buffer[: len(data)] = data
        return len(data)


def _open_binary(path: Path, closers: list) -> tuple[BinaryIO, str, bool]:
    """The decompressed byte stream of `path` and the name of the content (inner name for archives)."""
    limit = _limit("OMNISHOP_DATAHUB_MAX_DECOMPRESSED_BYTES", 4 * 1024**3)
    raw = open(path, "rb")  # noqa: SIM115 - closed by Source.close
    closers.append(raw.close)
    magic = raw.read(4)
    raw.seek(0)
    name = path.name
    if magic[:2] == b"\x1f\x8b":
        inner = gzip.GzipFile(fileobj=raw, mode="rb")
        closers.append(inner.close)
        stream = io.BufferedReader(LimitedReader(inner, limit, name), buffer_size=SAMPLE_BYTES)
        return stream, (name[:-3] if name.lower().endswith(".gz") else name), True
    if magic == b"PK\x03\x04" and not _is_xlsx(raw):
        try:
            archive = zipfile.ZipFile(raw)
        except zipfile.BadZipFile as exc:
            raise TruncatedFile(f"{name}: not a readable zip archive ({exc}).") from None
        closers.append(archive.close)
        members = [m for m in archive.infolist() if not m.is_dir() and not m.filename.startswith("__MACOSX")]
        if len(members) != 1:
            raise UnsupportedFormat(
                f"{name}: a zip archive must hold exactly one data file (it holds {len(members)})."
            )
        member = members[0]
        if member.file_size > limit:  # declared size: cheap first check; the stream is counted anyway
            raise ArchiveTooLarge(
                f"{member.filename} declares {member.file_size} bytes, more than the {limit} allowed.",
                limit=limit,
            )
        inner = archive.open(member)
        closers.append(inner.close)
        stream = io.BufferedReader(LimitedReader(inner, limit, member.filename), buffer_size=SAMPLE_BYTES)
        return stream, member.filename, True
    return raw, name, False


def _is_xlsx(raw: BinaryIO) -> bool:
    try:
        with zipfile.ZipFile(raw) as archive:
            names = set(archive.namelist())
        return "[Content_Types].xml" in names and any(n.startswith("xl/") for n in names)
    except zipfile.BadZipFile:
        return False
    finally:
        raw.seek(0)


_MAGIC = {".xlsx": (b"PK\x03\x04", "an XLSX workbook (a zip)"), ".parquet": (b"PAR1", "a Parquet file")}


def _materialise(stream: BinaryIO, closers: list, suffix: str, name: str) -> Path:
    """Formats that need random access (XLSX, Parquet) inside gzip/zip: copy out, after checking that the
    content starts like one (a member merely *named* .xlsx is not unpacked), and never more than
    `OMNISHOP_DATAHUB_MAX_MATERIALISED_BYTES` (the decompressed stream is counted as well)."""
    magic, what = _MAGIC[suffix]
    head = stream.peek(len(magic))[: len(magic)] if hasattr(stream, "peek") else b""
    if head != magic:
        raise MalformedFile(f"{name} is not {what}; nothing was unpacked.")
    cap = _limit("OMNISHOP_DATAHUB_MAX_MATERIALISED_BYTES", 512 * 1024**2)
    handle = tempfile.NamedTemporaryFile(prefix="datahub-", suffix=suffix, delete=False)  # noqa: SIM115
    closers.append(lambda: os.unlink(handle.name))
    written = 0
    with handle:
        while chunk := stream.read(1024 * 1024):
            written += len(chunk)
            if written > cap:
                raise ArchiveTooLarge(
                    f"{name} is larger than the {cap} bytes a workbook or Parquet file inside an archive may "
                    "have; unpack it and import the file itself.",
                    limit=cap,
                )
            handle.write(chunk)
    return Path(handle.name)


def _bounded_lines(text, limit: int) -> Iterator[str]:
    """The lines of `text` (terminators kept: \\n, \\r\\n or \\r, as `text` was opened with
    `newline=""`), with no line held longer than `limit` characters: a longer line stops the file with
    `line_too_long` instead of being assembled in memory. The text is read a block at a time and split in C
    (`StringIO.readlines`), not a `readline` call per line: at most one block plus `limit` characters are
    held at once."""
    return chain.from_iterable(_line_blocks(text, limit))


_LINE_BLOCK = 64 * 1024  # characters: what a broken stream (a truncated gzip) loses at most of what it held


def _line_blocks(text, limit: int) -> Iterator[list[str]]:
    number = 0  # lines handed out so far
    tail = ""  # the unfinished line at the end of the last block
    while True:
        chunk = text.read(_LINE_BLOCK)
        if not chunk:
            if tail:
                if len(tail.rstrip("\r\n")) > limit:
                    raise _too_long(number + 1, limit)
                yield [tail]
            return
        lines = io.StringIO(tail + chunk, newline="").readlines()
        tail = lines.pop()
        if tail[-1] == "\n":
            lines.append(tail)
            tail = ""
        # (A last line ending in \r may be the first half of \r\n: it waits for the next block.)
        if lines and max(map(len, lines)) > limit:
            for index, line in enumerate(lines):
                if len(line.rstrip("\r\n")) > limit:
                    yield lines[:index]
                    raise _too_long(number + index + 1, limit)
        number += len(lines)
        if len(tail.rstrip("\r\n")) > limit:  # it can only grow
            yield lines
            raise _too_long(number + 1, limit)
        yield lines


def _too_long(number: int, limit: int) -> LineTooLong:
    return LineTooLong(
        f"Line {number} is longer than {limit} characters; reading stopped there (OMNISHOP_DATAHUB_MAX_LINE_BYTES).",
        limit=limit,
        line=number,
    )


def _line_limit() -> int:
    return _limit("OMNISHOP_DATAHUB_MAX_LINE_BYTES", 16 * 1024**2)


# --- detection ------------------------------------------------------------------------------------------


def detect_format(name: str, sample: bytes) -> str:
    suffix = Path(name.lower()).suffix
    if suffix in _EXTENSIONS:
        return _EXTENSIONS[suffix]
    if sample.startswith(b"PAR1"):
        return "parquet"
    if sample.startswith(b"PK\x03\x04"):
        return "xlsx"
    head = sample.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    if head == b"[":
        return "json"
    if head == b"{":
        return "jsonl"
    if head == b"<":
        return "xml"
    return "csv"


def detect_encoding(sample: bytes, *, complete: bool = False) -> str:
    """UTF-8 (with or without BOM), UTF-16 with BOM, then GB18030 or Latin-1/cp1252 by charset-normalizer."""
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if b"\x00" in sample[:4096]:
        raise BinaryFile("The file contains NUL bytes: it is binary data, not a text export.")
    try:
        sample.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        # A sample cut in the middle of a multi-byte character is still UTF-8.
        if not complete and exc.start >= len(sample) - 3 and exc.reason == "unexpected end of data":
            return "utf-8"
    from charset_normalizer import from_bytes

    # The encodings merchants' exports actually come in when they are not UTF-8: Chinese (GB18030, a
    # superset of GBK/GB2312) and Western European (cp1252, a superset of Latin-1's printable range).
    best = from_bytes(sample, cp_isolation=["gb18030", "cp1252"]).best()
    if best is None:
        # A Windows-1252 file with rows pasted from a UTF-8 export: a UTF-8 byte that Windows-1252 leaves
        # undefined (Ł is C5 81) rules cp1252 out for the whole sample. Decide on the other lines; the
        # UTF-8 rows are repaired one by one when they are read (`_repair_mojibake`).
        rest = b"\n".join(line for line in sample.split(b"\n") if not _utf8_beyond_ascii(line))
        if rest and len(rest) < len(sample):
            best = from_bytes(rest, cp_isolation=["gb18030", "cp1252"]).best()
    if best is None:
        raise UndecodableFile("The text encoding of the file could not be determined.")
    encoding = best.encoding
    if encoding in ("latin_1", "iso8859_1"):
        encoding = "cp1252"  # a superset for the printable range exporters actually write
    if best.chaos > 0.5 and encoding not in ("gb18030", "cp1252"):
        raise UndecodableFile("The file is neither UTF-8, GB18030 nor Latin-1 text.")
    return encoding


def _utf8_beyond_ascii(line: bytes) -> bool:
    if line.isascii():
        return False
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _control_ratio(text: str) -> float:
    if not text:
        return 0.0
    bad = sum(1 for ch in text if (ord(ch) < 32 and ch not in "\r\n\t") or 0xFFF0 <= ord(ch) <= 0xFFFF)
    return bad / len(text)


# --- opening --------------------------------------------------------------------------------------------


def open_source(path: str | Path, *, format: str | None = None, options: dict | None = None) -> Source:
    """Open `path` for streaming. `format` overrides detection; `options` are the profile's reader options
    (delimiter, encoding, sheet, record_tag, columns for fixed width, ...)."""
    path = Path(path)
    options = dict(options or {})
    closers: list = []
    try:
        stream, inner_name, compressed = _open_binary(path, closers)
        peek = stream.peek(SAMPLE_BYTES)[:SAMPLE_BYTES] if hasattr(stream, "peek") else b""
        if not hasattr(stream, "peek"):
            peek = stream.read(SAMPLE_BYTES)
            stream.seek(0)
        fmt = format or options.get("format") or detect_format(inner_name, peek)
        if fmt not in FORMATS:
            raise UnsupportedFormat(f"Format '{fmt}' is not supported; use one of {', '.join(FORMATS)}.")
        if fmt == "xlsx":
            file_path = _materialise(stream, closers, ".xlsx", inner_name) if compressed else path
            return _open_xlsx(file_path, inner_name, options, closers)
        if fmt == "parquet":
            file_path = _materialise(stream, closers, ".parquet", inner_name) if compressed else path
            return _open_parquet(file_path, inner_name, options, closers)
        if fmt == "xml":
            return _open_xml(stream, options, closers)
        encoding = options.get("encoding") or detect_encoding(peek, complete=len(peek) < SAMPLE_BYTES)
        text = io.TextIOWrapper(stream, encoding=encoding, errors="surrogateescape", newline="")
        if _control_ratio(peek[:4096].decode(encoding, errors="replace")) > 0.05:
            raise BinaryFile("The file is mostly control characters: binary data, not a text export.")
        if fmt in ("csv", "tsv"):
            return _open_csv(text, fmt, encoding, options, closers)
        if fmt == "jsonl":
            return Source("jsonl", encoding, [], _jsonl_rows(text), _closers=closers)
        if fmt == "json":
            return Source("json", encoding, [], _json_array_rows(text), _closers=closers)
        return _open_fixed_width(text, encoding, options, closers)
    except BaseException:
        for closer in reversed(closers):
            with contextlib.suppress(OSError):
                closer()
        raise


def _decode_guard(values: list[str]) -> RowProblem | None:
    """Bytes the file's encoding could not decode survive as lone surrogates (surrogateescape): one
    search over the whole row finds them."""
    if _SURROGATES.search("".join(values)):
        return RowProblem(
            None, "bad_encoding", "The row contains bytes that are not valid in the file's encoding."
        )
    return None


_SINGLE_BYTE = {"cp1252", "iso8859-1", "iso8859-15", "latin-1"}


def _repair_mojibake(record: list[str], single_byte: str | None) -> tuple[list[str], list[int]] | None:
    """A row whose text is UTF-8 read as another encoding ("CAFÃ‰" for "CAFÉ"), repaired, and which cells
    changed; None for a clean row (an ASCII row costs one C-level check).

    In a file read as Windows-1252/Latin-1, the row's own bytes are recovered exactly (undecodable ones
    survive as surrogates) and decoded as UTF-8: that only succeeds for text that was UTF-8. Otherwise —
    mojibake already baked into the text, in any file — ftfy's badness heuristic flags the row and
    `fix_encoding` undoes it."""
    joined = "\x1f".join(record)
    if joined.isascii():
        return None
    fixed: list[str] | None = None
    if single_byte:
        try:
            candidate = joined.encode(single_byte, "surrogateescape").decode("utf-8")
        except UnicodeError:
            candidate = None
        if candidate is not None and candidate != joined:
            fixed = candidate.split("\x1f")
    if fixed is None:
        from ftfy import badness, fix_encoding

        if _SURROGATES.search(joined) or not badness.is_bad(joined):
            return None
        fixed = [value if value.isascii() else fix_encoding(value) for value in record]
    if len(fixed) != len(record):
        return None
    changed = [i for i, (before, after) in enumerate(zip(record, fixed, strict=True)) if before != after]
    return (fixed, changed) if changed else None


def _shown(text: str) -> str:
    """Text as read, for a report: bytes the encoding could not decode (kept as surrogates) as \\xNN."""
    return _SURROGATES.sub(lambda m: f"\\x{ord(m.group()) - 0xDC00:02x}", text)


def _open_csv(text, fmt: str, encoding: str, options: dict, closers: list) -> Source:
    max_columns = int(options.get("max_columns", _limit("OMNISHOP_DATAHUB_MAX_COLUMNS", 1000)))
    csv.field_size_limit(_limit("DATAHUB_MAX_FIELD_BYTES", 1024 * 1024))
    delimiter = options.get("delimiter") or ("\t" if fmt == "tsv" else None)
    if delimiter is None:
        sample = text.buffer.peek(SAMPLE_BYTES)[:16384].decode(encoding, errors="replace")
        # Sniff on whole lines only, quote-aware: a comma inside a quoted HTML description must not win.
        try:
            delimiter = csv.Sniffer().sniff(sample.rsplit("\n", 1)[0] or sample, delimiters=",;\t|").delimiter
        except csv.Error:
            delimiter = ","
    lines = _bounded_lines(text, _line_limit())
    reader = csv.reader(lines, delimiter=delimiter, quotechar=options.get("quotechar", '"'), strict=False)
    try:
        header = next(reader)
    except StopIteration:
        return Source(fmt, encoding, [], iter(()), _closers=closers)
    except csv.Error as exc:
        raise MalformedFile(f"The header line cannot be read: {exc}.") from None
    if len(header) > max_columns:
        raise MalformedFile(f"The header has {len(header)} columns; at most {max_columns} are allowed.")
    header = [h.lstrip("\ufeff").strip() for h in header]
    if _decode_guard(header):
        raise UndecodableFile(f"The header is not valid {encoding} text; give the encoding explicitly.")

    name = codecs.lookup(encoding).name
    single_byte = name if name in _SINGLE_BYTE or name.startswith("cp125") else None
    # A repeated column name keeps only its last cell in a row's values: the joined record would not be them.
    columns = tuple(header) if len(set(header)) == len(header) else None

    width = len(header)

    def odd(start: int, record: list[str]) -> SourceRow | None:
        """A record that is not a plain row of text: blank (None), of another width, or not ASCII."""
        if not record:
            return None  # blank line
        if len(record) != width:
            if len(record) > max_columns:
                values = {"_raw": delimiter.join(record[:50])[:2000] + " ..."}
                problem = RowProblem(
                    None,
                    "too_many_columns",
                    f"The row has {len(record)} columns; the header has {width}.",
                )
                return SourceRow(start, values, problem)
            if len(record) < width and not any(record):
                return None
            values = dict(zip(header, record, strict=False))
            if len(record) > width:
                values["_extra"] = record[width:]
            problem = RowProblem(
                None, "wrong_column_count", f"The row has {len(record)} columns; the header has {width}."
            )
            return SourceRow(start, values, problem)
        repair = _repair_mojibake(record, single_byte)
        if repair is not None:
            fixed, changed = repair
            notes = [(header[i], _shown(record[i][:200]), fixed[i][:200]) for i in changed]
            return SourceRow(start, dict(zip(header, fixed)), _decode_guard(fixed), notes)  # noqa: B905
        # The width was checked above: no `strict` zip needed.
        return SourceRow(start, dict(zip(header, record)), _decode_guard(record))  # noqa: B905

    def rows() -> Iterator[SourceRow]:
        line = reader.line_num
        while True:  # a malformed record ends the inner loop; reading goes on after it
            try:
                for record in reader:
                    start, line = line + 1, reader.line_num
                    if record and len(record) == width:
                        joined = "\x1f".join(record)
                        if joined.isascii():
                            # Most rows: nothing to repair, and no undecodable byte (its surrogate is not
                            # ASCII). The width was checked: no `strict` zip needed.
                            values = dict(zip(header, record))  # noqa: B905
                            yield SourceRow(start, values, None, None, columns, joined if columns else None)
                            continue
                    row = odd(start, record)
                    if row is not None:
                        yield row
                return
            except csv.Error as exc:
                start, line = line + 1, reader.line_num
                yield SourceRow(start, {"_raw": ""}, RowProblem(None, "malformed_row", str(exc)))

    return Source(fmt, encoding, header, rows(), notes=[f"delimiter {delimiter!r}"], _closers=closers)


def _jsonl_rows(text) -> Iterator[SourceRow]:
    max_bytes = _limit("DATAHUB_MAX_RECORD_BYTES", 4 * 1024 * 1024)
    for number, line in enumerate(_bounded_lines(text, _line_limit()), start=1):
        if not line.strip():
            continue
        if len(line) > max_bytes:
            yield SourceRow(
                number, {"_raw": line[:2000]}, RowProblem(None, "record_too_large", "Line too long.")
            )
            continue
        try:
            value = json.loads(line, parse_float=Decimal)
        except (json.JSONDecodeError, UnicodeError) as exc:
            yield SourceRow(number, {"_raw": line[:2000]}, RowProblem(None, "malformed_json", str(exc)))
            continue
        if not isinstance(value, dict):
            yield SourceRow(
                number, {"_raw": line[:2000]}, RowProblem(None, "not_an_object", "Not an object.")
            )
            continue
        yield SourceRow(number, value, _decode_guard([line]))


def _json_array_rows(text) -> Iterator[SourceRow]:
    """Stream the elements of a top-level JSON array without loading the document."""
    decoder = json.JSONDecoder(parse_float=Decimal)
    max_bytes = _limit("DATAHUB_MAX_RECORD_BYTES", 4 * 1024 * 1024)
    buffer = ""
    position = 0
    eof = False

    def fill() -> bool:
        nonlocal buffer, position, eof
        chunk = text.read(256 * 1024)
        if not chunk:
            eof = True
            return False
        buffer = buffer[position:] + chunk
        position = 0
        return True

    def skip_ws() -> None:
        nonlocal position
        while True:
            while position < len(buffer) and buffer[position] in " \t\r\n":
                position += 1
            if position < len(buffer) or eof or not fill():
                return

    fill()
    skip_ws()
    if position < len(buffer) and buffer[position] == "\ufeff":
        position += 1
        skip_ws()
    if position >= len(buffer) or buffer[position] != "[":
        raise MalformedFile("A JSON file must hold a top-level array of objects (or use JSON Lines).")
    position += 1
    number = 0
    while True:
        skip_ws()
        if position >= len(buffer):
            raise TruncatedFile("The JSON array is not closed: the file is truncated.")
        if buffer[position] == "]":
            return
        if buffer[position] == ",":
            position += 1
            continue
        while True:
            try:
                value, end = decoder.raw_decode(buffer, position)
                break
            except json.JSONDecodeError as exc:
                if eof or len(buffer) - position > max_bytes:
                    if eof:
                        raise TruncatedFile(
                            f"The JSON ends inside element {number + 1}: {exc.msg}."
                        ) from None
                    raise MalformedFile(
                        f"JSON element {number + 1} is larger than {max_bytes} bytes."
                    ) from None
                fill()
        number += 1
        position = end
        if isinstance(value, dict):
            yield SourceRow(number, value)
        else:
            yield SourceRow(
                number,
                {"_raw": json.dumps(value, default=str)[:2000]},
                RowProblem(None, "not_an_object", "The array element is not an object."),
            )


def _open_fixed_width(text, encoding: str, options: dict, closers: list) -> Source:
    """Fixed-width records: `columns = [{name, start, end}, ...]` (0-based, end exclusive), or
    `whitespace = true` to split right-aligned columns on runs of blanks (names from the header line or
    `names`)."""
    columns = options.get("columns")
    names = options.get("names")
    has_header = options.get("header", True)
    lines = _bounded_lines(text, _line_limit())
    line_no = 0
    if has_header:
        header_line = next(lines, "")
        line_no = 1
        if not names and not columns:
            names = header_line.split()
    if columns:
        names = [c["name"] for c in columns]
    if not names:
        raise MalformedFile("A fixed-width profile needs `columns` or `names` (or a header line).")

    def rows() -> Iterator[SourceRow]:
        nonlocal line_no
        for raw_line in lines:
            line_no += 1
            line = raw_line.rstrip("\r\n")
            if not line.strip():
                continue
            if columns:
                if len(line) < columns[-1]["start"]:
                    yield SourceRow(
                        line_no,
                        {"_raw": line},
                        RowProblem(None, "short_record", "The record is shorter than the layout."),
                    )
                    continue
                values = {c["name"]: line[c["start"] : c.get("end")] for c in columns}
            else:
                parts = line.split()
                if len(parts) != len(names):
                    yield SourceRow(
                        line_no,
                        {"_raw": line[:2000]},
                        RowProblem(
                            None,
                            "wrong_column_count",
                            f"The record has {len(parts)} fields; expected {len(names)}.",
                        ),
                    )
                    continue
                values = dict(zip(names, parts, strict=True))
            yield SourceRow(line_no, values, _decode_guard([line]))

    return Source("fixed_width", encoding, list(names), rows(), _closers=closers)


def _cell(value: Any) -> Any:
    """XLSX/Parquet cells keep their type where the cleaners understand it (numbers, datetimes)."""
    if value is None:
        return ""
    if isinstance(value, datetime | date | time | int | float | Decimal | bool):
        return value
    return str(value)


def _open_xlsx(file_path: Path, inner_name: str, options: dict, closers: list) -> Source:
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    _check_xlsx_parts(file_path, inner_name)
    try:
        workbook = load_workbook(file_path, read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError) as exc:
        raise MalformedFile(f"{inner_name} is not a readable XLSX workbook ({exc}).") from None
    closers.append(workbook.close)
    sheet_name = options.get("sheet")
    if sheet_name and sheet_name not in workbook.sheetnames:
        raise MalformedFile(f"The workbook has no sheet '{sheet_name}'.", field="sheet")
    sheet = workbook[sheet_name] if sheet_name else workbook.worksheets[0]
    rows_iter = sheet.iter_rows(values_only=True)
    # Cells are read as their saved values. A formula saved without one (files written by scripts, never
    # opened in a spreadsheet) reads as empty: the same sheet read as formulas, in step, tells them apart.
    formulas_iter: Iterator | None = None
    if _scan_sheet(file_path, getattr(sheet, "_worksheet_path", None), inner_name):
        formula_book = load_workbook(file_path, read_only=True, data_only=False)
        closers.append(formula_book.close)
        formulas_iter = formula_book[sheet.title].iter_rows(values_only=True)
        next(formulas_iter, None)
    header_row = next(rows_iter, None) or ()
    header = [str(h).strip() if h is not None else "" for h in header_row]
    while header and header[-1] == "":
        header.pop()
    max_columns = _limit("OMNISHOP_DATAHUB_MAX_COLUMNS", 1000)
    if len(header) > max_columns:
        raise MalformedFile(f"The header has {len(header)} columns; at most {max_columns} are allowed.")

    used = set(options.get("used_columns") or header)

    def rows() -> Iterator[SourceRow]:
        width = len(header)
        for number, record in enumerate(rows_iter, start=2):
            formulas = next(formulas_iter, None) if formulas_iter is not None else None
            if formulas and None in record[:width]:
                problem = _formula_without_value(header, record, formulas, number, used)
                if problem is not None:
                    # The row as the merchant sees it: saved values, and the formulas where none was saved.
                    values = {
                        header[i]: _cell(
                            record[i]
                            if i < len(record) and record[i] is not None
                            else (formulas[i] if i < len(formulas) else None)
                        )
                        for i in range(width)
                    }
                    yield SourceRow(number, values, problem)
                    continue
            if record is None or all(v is None or v == "" for v in record):
                continue
            values = {header[i]: _cell(record[i]) if i < len(record) else "" for i in range(width)}
            extra = [v for v in record[width:] if v not in (None, "")]
            if extra:
                yield SourceRow(
                    number, values, RowProblem(None, "wrong_column_count", "Cells right of the header.")
                )
                continue
            yield SourceRow(number, values)

    return Source("xlsx", "xlsx", header, rows(), notes=[f"sheet {sheet.title!r}"], _closers=closers)


_FORMULA_TAG = re.compile(rb"<(?:\w+:)?f[\s>/]")


def _check_xlsx_parts(file_path: Path, name: str) -> None:
    """Before openpyxl opens the workbook: the parts it reads whole (shared strings, styles, the workbook)
    must be small, and the declared sizes (which bound what zipfile will decompress) must add up to no more
    than the decompression limit. A worksheet is streamed, and checked by `_scan_sheet`."""
    limit = _limit("OMNISHOP_DATAHUB_MAX_DECOMPRESSED_BYTES", 4 * 1024**3)
    part_limit = _limit("OMNISHOP_DATAHUB_MAX_XLSX_PART_BYTES", 32 * 1024**2)
    try:
        with zipfile.ZipFile(file_path) as archive:
            parts = archive.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise MalformedFile(f"{name} is not a readable XLSX workbook ({exc}).") from None
    total = sum(part.file_size for part in parts)
    if total > limit:
        raise ArchiveTooLarge(f"{name} expands to {total} bytes, more than the {limit} allowed.", limit=limit)
    for part in parts:
        if not part.filename.startswith("xl/worksheets/") and part.file_size > part_limit:
            raise RecordTooLarge(
                f"{name}: {part.filename} expands to {part.file_size} bytes; a workbook part read whole may "
                f"have at most {part_limit} (OMNISHOP_DATAHUB_MAX_XLSX_PART_BYTES).",
                limit=part_limit,
            )


def _scan_sheet(file_path: Path, member: str | None, name: str) -> bool:
    """Stream the sheet's XML through zlib once, before openpyxl parses it: a cell (a run between two `<`)
    longer than `OMNISHOP_DATAHUB_MAX_CELL_BYTES` stops the file before it can be built in memory; the
    answer is whether the sheet holds a formula (`<f>`), so only workbooks with formulas pay for reading
    the sheet a second time as formulas."""
    cell = _limit("OMNISHOP_DATAHUB_MAX_CELL_BYTES", 16 * 1024**2)
    formulas = False
    try:
        with zipfile.ZipFile(file_path) as archive:
            names = [member] if member in archive.namelist() else archive.namelist()
            for sheet in names:
                if not sheet.startswith("xl/worksheets/"):
                    continue
                with archive.open(sheet) as handle:
                    guard = _XmlGuard(handle, cell=cell, record=2**62)
                    tail = b""
                    while chunk := guard.read(1024 * 1024):
                        if not formulas and _FORMULA_TAG.search(tail + chunk):
                            formulas = True
                        tail = chunk[-16:]
    except (zipfile.BadZipFile, OSError, KeyError):
        return formulas
    except RecordTooLarge:
        raise RecordTooLarge(
            f"{name}: a cell is longer than {cell} bytes; reading stopped there (OMNISHOP_DATAHUB_MAX_CELL_BYTES).",
            limit=cell,
        ) from None
    return formulas


def _formula_without_value(
    header: list[str], record: tuple, formulas: tuple, number: int, used: set[str]
) -> RowProblem | None:
    """A cell the profile reads that holds a formula but no saved value: the row cannot be trusted."""
    found = []
    for i, name in enumerate(header):
        formula = formulas[i] if i < len(formulas) else None
        value = record[i] if i < len(record) else None
        if value is None and name in used and isinstance(formula, str) and formula.startswith("="):
            found.append(f"{name} ({_column_letter(i)}{number}) is {formula}")
    if not found:
        return None
    column = found[0].split(" (", 1)[0]
    return RowProblem(
        column,
        "formula_without_value",
        "Formula without a saved value: "
        + "; ".join(found)
        + ". Open the file in a spreadsheet, let it calculate, save it and import it again.",
    )


def _column_letter(index: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(index + 1)


def _open_parquet(file_path: Path, inner_name: str, options: dict, closers: list) -> Source:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(file_path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise MalformedFile(f"{inner_name} is not a readable Parquet file ({exc}).") from None
    closers.append(parquet.close)
    # Rows are read a batch at a time. The footer declares each row group's uncompressed size: a batch is
    # sized so that rows of that average size stay under the limit, and a row group whose rows average more
    # than the limit (one giant value) is refused before anything is decompressed.
    batch_limit = _limit("OMNISHOP_DATAHUB_MAX_BATCH_BYTES", 64 * 1024**2)
    batch_size = int(options.get("batch_size", 10000))
    for index in range(parquet.metadata.num_row_groups):
        group = parquet.metadata.row_group(index)
        per_row = group.total_byte_size / max(1, group.num_rows)
        if per_row > batch_limit:
            raise RecordTooLarge(
                f"{inner_name}: the rows of row group {index + 1} hold {int(per_row)} bytes each; at most "
                f"{batch_limit} are read at once (OMNISHOP_DATAHUB_MAX_BATCH_BYTES).",
                limit=batch_limit,
            )
        batch_size = max(1, min(batch_size, int(batch_limit // max(per_row, 1))))
    header = list(parquet.schema_arrow.names)

    def rows() -> Iterator[SourceRow]:
        number = 0
        try:
            for batch in parquet.iter_batches(batch_size=batch_size):
                for record in batch.to_pylist():
                    number += 1
                    yield SourceRow(number, {k: _cell(v) for k, v in record.items()})
        except (pa.ArrowInvalid, OSError) as exc:
            raise TruncatedFile(f"The Parquet data is corrupt after record {number}: {exc}.") from None

    return Source("parquet", "parquet", header, rows(), _closers=closers)


class _XmlGuard(io.RawIOBase):
    """Counts the XML as the parser reads it: a text or attribute run (the bytes between two `<`) longer
    than `cell` bytes, or more than `record` bytes since the last record ended, stops the file before the
    parser can build it in memory."""

    def __init__(self, inner: BinaryIO, *, cell: int, record: int) -> None:
        self.inner = inner
        self.cell = cell
        self.record = record
        self.run = 0
        self.since_record = 0

    def readable(self) -> bool:
        return True

    def mark(self) -> None:
        self.since_record = 0

    def readinto(self, buffer) -> int:
        data = self.inner.read(len(buffer))
        parts = data.split(b"<")
        if len(parts) == 1:
            self.run += len(data)
            longest = self.run
        else:
            longest = max(self.run + len(parts[0]), max(map(len, parts[1:])))
            self.run = len(parts[-1])
        if longest > self.cell:
            raise RecordTooLarge(
                f"The XML holds a text or attribute longer than {self.cell} bytes; reading stopped there "
                "(OMNISHOP_DATAHUB_MAX_CELL_BYTES).",
                limit=self.cell,
            )
        self.since_record += len(data)
        if self.since_record > self.record:
            raise RecordTooLarge(
                f"An XML record is larger than {self.record} bytes; reading stopped there "
                "(OMNISHOP_DATAHUB_MAX_XML_RECORD_BYTES).",
                limit=self.record,
            )
        buffer[: len(data)] = data
        return len(data)


def _open_xml(stream, options: dict, closers: list) -> Source:
    """Records are the elements named `record_tag` (default: the root's children); a record's fields are
    its attributes and its children's text. DTDs, entities and external references are refused.

    Names: a namespaced element is named with the prefix the document declares for its namespace
    (`content:encoded`, `excerpt:encoded`, `wp:post_type`); an element without one, or in the default
    namespace, by its plain name. A child's attributes become `child@attribute` fields. A child met more
    than once in a record becomes a list of its values, in document order (`category`, `wp:postmeta`).
    Two reader options turn generic repeated children into named fields:
    - `pairs = [{element = "wp:postmeta", key = "wp:meta_key", value = "wp:meta_value", prefix = "meta."}]`:
      each such child becomes the field prefix + its key's text (`meta._sku`) holding its value's text;
    - `keyed_by_attribute = [{element = "category", attribute = "domain"}]`: each such child also becomes
      the field element.attribute-value (`category.product_cat`) holding its text.
    A field met more than once is a list either way. Records are cleared as soon as they are read, so
    memory stays bounded by one record whatever the document's size — and one record is bounded too: its
    bytes, its number of elements and the length of any text or attribute (`_XmlGuard`)."""
    from xml.etree.ElementTree import ParseError

    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import iterparse

    record_tag = options.get("record_tag")
    pairs = {p["element"]: p for p in options.get("pairs") or []}
    keyed = {k["element"]: k["attribute"] for k in options.get("keyed_by_attribute") or []}
    prefixes: dict[str, str] = {}  # namespace URI -> the prefix first declared for it
    names: dict[str, str] = {}  # Clark name {uri}local -> its name as written

    def name_of(tag: str) -> str:
        name = names.get(tag)
        if name is None:
            uri, _, local = tag[1:].partition("}") if tag.startswith("{") else ("", "", tag)
            prefix = prefixes.get(uri)
            name = names[tag] = f"{prefix}:{local}" if prefix else local
        return name

    guard = _XmlGuard(
        stream,
        cell=_limit("OMNISHOP_DATAHUB_MAX_CELL_BYTES", 16 * 1024**2),
        record=_limit("OMNISHOP_DATAHUB_MAX_XML_RECORD_BYTES", 32 * 1024**2),
    )
    max_elements = _limit("OMNISHOP_DATAHUB_MAX_XML_RECORD_ELEMENTS", 100_000)

    def is_record(element, depth: int) -> bool:
        if record_tag:
            return record_tag in (name_of(element.tag), _local(element.tag))
        return depth == 2  # the root's children

    def rows() -> Iterator[SourceRow]:
        number = 0
        open_: list = []  # the elements started and not yet ended, outermost first
        records = 0  # how many of them are records
        elements = 0  # started since the last record ended
        try:
            for event, element in iterparse(guard, events=("start-ns", "start", "end"), forbid_dtd=True):
                if event == "start-ns":
                    prefix, uri = element
                    prefixes.setdefault(uri, prefix)
                    continue
                if event == "start":
                    open_.append(element)
                    records += is_record(element, len(open_))
                    elements += 1
                    if elements > max_elements:
                        raise RecordTooLarge(
                            f"XML record {number + 1} has more than {max_elements} elements; reading stopped "
                            "there (OMNISHOP_DATAHUB_MAX_XML_RECORD_ELEMENTS).",
                            limit=max_elements,
                        )
                    continue
                record = is_record(element, len(open_))
                open_.pop()
                if record:
                    records -= 1
                    number += 1
                    elements = 0
                    guard.mark()
                    yield SourceRow(number, _record_values(element, name_of, pairs, keyed))
                    element.clear()
                if open_ and (record or not records):
                    # A record, once read, and anything outside every record is dropped from its parent
                    # at once: the tree never holds more than the open elements and the current record.
                    open_[-1].remove(element)
        except DefusedXmlException as exc:
            raise UnsafeXml(f"The XML uses a DTD, entities or external references, refused: {exc}.") from None
        except ParseError as exc:
            if "no element found" in str(exc) or "unclosed token" in str(exc):
                raise TruncatedFile(f"The XML ends unexpectedly after record {number}: {exc}.") from None
            raise MalformedFile(f"The XML is not well-formed after record {number}: {exc}.") from None

    return Source("xml", "xml", [], rows(), _closers=closers)


def _record_values(element, name_of, pairs: dict, keyed: dict) -> dict[str, Any]:
    values: dict[str, Any] = {name_of(k): v for k, v in element.attrib.items()}
    for child in element:
        name = name_of(child.tag)
        pair = pairs.get(name)
        if pair is not None:
            key = value = None
            for part in child:
                part_name = name_of(part.tag)
                if part_name == pair["key"]:
                    key = (part.text or "").strip()
                elif part_name == pair["value"]:
                    value = (part.text or "").strip()
            if key:
                _add(values, f"{pair.get('prefix', '')}{key}", value or "")
                continue
        text = (child.text or "").strip() if len(child) == 0 else _flatten(child, name_of)
        _add(values, name, text)
        for attribute, attribute_value in child.attrib.items():
            _add(values, f"{name}@{name_of(attribute)}", attribute_value)
        if name in keyed and child.get(keyed[name]):
            _add(values, f"{name}.{child.get(keyed[name])}", text)
    if not len(element) and element.text and element.text.strip():
        values.setdefault(name_of(element.tag), element.text.strip())
    return values


def _add(values: dict[str, Any], name: str, value: Any) -> None:
    """A name met once holds its value; met again, the list of its values in document order."""
    if name not in values:
        values[name] = value
        return
    held = values[name]
    if type(held) is list:  # an XML value is otherwise a text or a dict: a list means "repeated"
        held.append(value)
    else:
        values[name] = [held, value]


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _flatten(element, name_of=_local) -> dict:
    return {name_of(c.tag): (c.text or "").strip() for c in element}


def columns_of(source: Source, first: SourceRow | None) -> list[str]:
    """Header for formats without one (JSON, XML): the keys of the first record."""
    if source.columns:
        return source.columns
    return list(first.values) if first else []


__all__ = ["FORMATS", "RowProblem", "Source", "SourceError", "SourceRow", "detect_encoding", "open_source"]
