"""Import profiles are data: one TOML file per channel format under datahub/profiles/ (or a directory in
settings.OMNISHOP_DATAHUB_PROFILE_DIRS), mapping source columns to Omnishop fields with per-field cleaners and
naming the target that writes the cleaned rows. A new channel format is a new file, not new code.

    name = "online_retail"            # what `omnishop import online_retail FILE` and the API call it
    target = "transactions"           # transactions | products | customers | suppliers | supplier_offers
    [reader]                          # reader options: format, delimiter, encoding, sheet, columns ...
    [options]                         # target options: currency, timezone, flavour ...
    [fields.document_no]
    column = "InvoiceNo"              # or columns = [...] (first non-empty wins), or value = constant
    required = true
    clean = ["identifier"]            # cleaner names or {name = "...", option = ...} tables

A field may also gather every column whose name starts with a prefix: `column_prefix = "meta.attribute_"`
gives a table of (the column's name without the prefix) -> (its value cleaned by the field's chain), empty
values left out (a WordPress export's `attribute_*` meta of a variation, however many the shop has).

A profile may keep only some rows of a file (a WordPress export holds pages and attachments besides the
products): `filter` is one condition or a list of conditions that must all hold, each on a source field
as read, with exactly one of `equals = "x"`, `in = ["x", "y"]` or `not_in = ["x", "y"]`:

    filter = { field = "wp:post_type", in = ["product", "product_variation"] }

Rows the filter leaves out are not read into the job (not imported, not quarantined); the quality report
counts them under `filtered`.
"""

from __future__ import annotations

import operator
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from itertools import repeat
from operator import itemgetter
from pathlib import Path
from typing import Any

from django.conf import settings

from .cleaners import Chain, Failure, build_chain, is_empty
from .errors import InvalidProfile, MissingColumns, UnknownProfile

BUILTIN_DIR = Path(__file__).resolve().parent / "profiles"
# Columns the data hub adds itself (a downloaded quarantine file): never "unknown".
_OWN_COLUMNS = frozenset({"_quarantine_id", "_line", "_reasons"})
TARGETS = ("transactions", "products", "customers", "suppliers", "supplier_offers", "stock_levels")


@dataclass
class FieldSpec:
    name: str
    columns: tuple[str, ...]
    required: bool
    constant: Any
    clean: Chain
    steps: list
    prefix: str | None = None  # `column_prefix`: every column starting with it, as a table


_OPERATORS = ("equals", "in", "not_in")


@dataclass(frozen=True)
class Condition:
    field: str
    operator: str  # equals | in | not_in
    values: frozenset[str]

    def holds(self, values: dict[str, Any]) -> bool:
        """Compared as trimmed text; a repeated element (a list) matches when any of its values does, a
        missing field matches nothing (so `not_in` keeps it)."""
        raw = values.get(self.field)
        items = raw if isinstance(raw, list) else ([] if raw is None else [raw])
        found = any(str(item).strip() in self.values for item in items)
        return not found if self.operator == "not_in" else found

    def describe(self) -> str:
        listed = ", ".join(sorted(self.values))
        if self.operator == "equals":
            return f"{self.field} = {listed}"
        return f"{self.field} {'in' if self.operator == 'in' else 'not in'} [{listed}]"


@dataclass(frozen=True)
class RowFilter:
    """The profile's `filter`: the rows of a file it imports; all conditions must hold."""

    conditions: tuple[Condition, ...]

    def accepts(self, values: dict[str, Any]) -> bool:
        return all(condition.holds(values) for condition in self.conditions)

    def describe(self) -> str:
        return " and ".join(condition.describe() for condition in self.conditions)


def parse_filter(spec: Any, source: str) -> RowFilter | None:
    if spec is None:
        return None
    specs = spec if isinstance(spec, list) else [spec]
    conditions = []
    for item in specs:
        if not isinstance(item, dict) or not isinstance(item.get("field"), str) or not item["field"]:
            raise InvalidProfile(f"{source}: each filter condition needs a `field` (a source field name).")
        operators = [name for name in _OPERATORS if name in item]
        if len(operators) != 1 or set(item) - {"field", *_OPERATORS}:
            raise InvalidProfile(
                f"{source}: filter on {item['field']} needs exactly one of equals, in or not_in.",
                field="filter",
            )
        operator = operators[0]
        wanted = item[operator]
        if operator == "equals":
            if isinstance(wanted, list | dict):
                raise InvalidProfile(f"{source}: filter `equals` takes one value.", field="filter")
            wanted = [wanted]
        elif not isinstance(wanted, list) or not wanted:
            raise InvalidProfile(f"{source}: filter `{operator}` takes a list of values.", field="filter")
        conditions.append(Condition(item["field"], operator, frozenset(str(v).strip() for v in wanted)))
    return RowFilter(tuple(conditions))


@dataclass
class Profile:
    name: str
    title: str
    description: str
    target: str
    source: str
    reader: dict
    options: dict
    fields: list[FieldSpec]
    path: Path
    extra_columns: str = "ignore"
    notes: list[str] = field(default_factory=list)
    row_filter: RowFilter | None = None

    def required_columns(self) -> set[tuple[str, ...]]:
        return {f.columns for f in self.fields if f.required and f.columns}

    def check_columns(self, header: list[str]) -> list[str]:
        """Raise `missing_columns` when a required field has none of its columns; return the optional
        columns that are absent (reported in the quality report, their fields stay empty)."""
        present = set(header)
        missing = [
            " or ".join(f.columns)
            for f in self.fields
            if f.required and f.columns and not present & set(f.columns)
        ]
        if missing:
            raise MissingColumns(
                f"The file lacks column(s) the '{self.name}' profile requires: {', '.join(missing)}.",
                missing=missing,
                found=header[:100],
            )
        return [" or ".join(f.columns) for f in self.fields if f.columns and not present & set(f.columns)]

    def used_columns(self) -> list[str]:
        """Every source column some field reads."""
        return list(dict.fromkeys(column for f in self.fields for column in f.columns))

    def unknown_columns(self, header: list[str]) -> list[str]:
        """Columns of the file no field reads (a platform added a column, or a field is missing from the
        profile): their data is not imported, and the quality report says so."""
        used = set(self.used_columns())
        prefixes = tuple(f.prefix for f in self.fields if f.prefix)
        return [
            c
            for c in dict.fromkeys(header)
            if c and c not in used and c not in _OWN_COLUMNS and not (prefixes and c.startswith(prefixes))
        ]

    def apply(self, values: dict[str, Any]) -> tuple[dict[str, Any], list[dict]]:
        """Clean one source row: (Omnishop field -> value, reasons). Every failing field is reported,
        not just the first. `apply_many` does the same for a batch, faster."""
        get = values.get
        cleaned = []
        for _name, chain, _required, column, columns, constant, prefix in self._plan:
            if prefix is not None:
                cleaned.append(_prefixed(chain, values, prefix))
                continue
            if column is not None:
                raw = get(column)
            elif columns is not None:
                raw = _first_filled(values, columns)
            else:
                raw = constant
            cleaned.append(chain.outcome(raw))
        return self._assemble(cleaned)

    def apply_many(self, rows: list[dict[str, Any]]) -> list[tuple[dict[str, Any], list[dict]]]:
        """`[apply(values) for values in rows]`, column by column (the per-row hot path of an import): a
        field's raw values are pulled out and looked up in its chain's memo with C-level `map`s, and so
        are the flags of empty and failing values. A row whose fields all have a value becomes its dict
        in one step, one with only optional fields empty drops them, and only a row with a failing or
        empty required field is assembled field by field, with its reasons."""
        count = len(rows)
        no = [False] * count
        broken, gaps = no, no  # per row: a failing or empty required field / an empty optional field
        cleaned_columns = []
        for spec in self._plan:
            required = spec[2]
            cleaned = _cleaned_column(spec, rows)
            cleaned_columns.append(cleaned)
            if None in cleaned:
                empty = list(map(operator.is_, cleaned, repeat(None)))
                if required:
                    broken = list(map(operator.or_, broken, empty))
                else:
                    gaps = list(map(operator.or_, gaps, empty))
            if any(map(isinstance, cleaned, repeat(Failure))):
                broken = list(map(operator.or_, broken, map(isinstance, cleaned, repeat(Failure))))
        names = [spec[0] for spec in self._plan]
        rows_cleaned = zip(*cleaned_columns, strict=True)
        if broken is no and gaps is no:
            return [(dict(zip(names, values, strict=True)), []) for values in rows_cleaned]
        results: list[tuple[dict[str, Any], list[dict]]] = []
        append = results.append
        for values, is_broken, has_gaps in zip(rows_cleaned, broken, gaps, strict=True):
            if is_broken:
                append(self._assemble(values))
            elif has_gaps:
                append(({name: value for name, value in zip(names, values) if value is not None}, []))  # noqa: B905
            else:
                append((dict(zip(names, values)), []))  # noqa: B905
        return results

    def clean_fields(self, rows: list[dict[str, Any]], names: Sequence[str]) -> list[tuple]:
        """Only the fields `names` of each row, cleaned as `apply_many` cleans them: per row a tuple in the
        order of `names`, None for a field that is empty, fails, or is not in the profile."""
        columns = []
        plan = {spec[0]: spec for spec in self._plan}
        for name in names:
            spec = plan.get(name)
            if spec is None or spec[6] is not None:  # unknown, or a `column_prefix` table
                columns.append([None] * len(rows))
                continue
            columns.append([None if type(v) is Failure else v for v in _cleaned_column(spec, rows)])
        return list(zip(*columns, strict=True)) if columns else [()] * len(rows)

    def _assemble(self, cleaned: Sequence[Any]) -> tuple[dict[str, Any], list[dict]]:
        """(field -> value, reasons) from each field's cleaned value, None or Failure, in plan order."""
        out: dict[str, Any] = {}
        reasons: list[dict] = []
        for spec, value in zip(self._plan, cleaned, strict=True):
            if value is None:
                if spec[2]:
                    reasons.append({"field": spec[0], "code": "required", "message": f"{spec[0]} is empty."})
            elif type(value) is Failure:
                reasons.append({"field": spec[0], "code": value.code, "message": value.message})
            else:
                out[spec[0]] = value
        return out, reasons

    @property
    def _plan(self) -> list[tuple]:
        """(name, chain, required, the single column, the several columns, the constant, the column
        prefix) per field."""
        plan = self.__dict__.get("_compiled_plan")
        if plan is None:
            plan = self.__dict__["_compiled_plan"] = [
                (
                    f.name,
                    f.clean,
                    f.required,
                    f.columns[0] if len(f.columns) == 1 else None,
                    f.columns if len(f.columns) > 1 else None,
                    f.constant,
                    f.prefix,
                )
                for f in self.fields
            ]
        return plan

    def describe(self) -> dict:
        return {
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "target": self.target,
            "source": self.source,
            "format": self.reader.get("format"),
            "fields": [
                {
                    "field": f.name,
                    "columns": list(f.columns) or ([f"{f.prefix}*"] if f.prefix else []),
                    "required": f.required,
                    "clean": f.steps,
                }
                for f in self.fields
            ],
        }


def _cleaned_column(spec: tuple, rows: list[dict[str, Any]]) -> list:
    """One field of every row, cleaned (value, None for empty, or `Failure`): the field's raw values pulled
    out and looked up in its chain's memo with C-level `map`s (`apply_many`'s per-field step)."""
    _name, chain, _required, column, columns, constant, prefix = spec
    if prefix is not None:
        return [_prefixed(chain, row, prefix) for row in rows]
    if column is not None:
        try:
            raws = list(map(itemgetter(column), rows))
        except KeyError:  # a JSON/XML record without the key
            raws = [row.get(column) for row in rows]
    elif columns is not None:
        raws = [_first_filled(row, columns) for row in rows]
    else:
        raws = [constant] * len(rows)
    if set(map(type, raws)) == {str}:
        return list(map(chain.memo.__getitem__, raws))
    return list(map(chain.outcome, raws))  # empty cells, typed cells (XLSX, JSON numbers)


def _first_filled(values: dict[str, Any], columns: tuple[str, ...]) -> Any:
    """The first of `columns` with a non-empty value (`columns = [...]` in a profile)."""
    for column in columns:
        candidate = values.get(column)
        if not is_empty(candidate):
            return candidate
    return None


def _prefixed(chain: Chain, values: dict[str, Any], prefix: str) -> Any:
    """A `column_prefix` field: {name without the prefix: cleaned value} of the filled columns, None when
    none is filled, or the first `Failure`."""
    out = {}
    for column, raw in values.items():
        if column.startswith(prefix) and len(column) > len(prefix):
            value = chain.outcome(raw)
            if type(value) is Failure:
                return value
            if value is not None:
                out[column[len(prefix) :]] = value
    return out or None


def _profile_dirs() -> list[Path]:
    extra = [Path(p) for p in getattr(settings, "OMNISHOP_DATAHUB_PROFILE_DIRS", [])]
    return [BUILTIN_DIR, *extra]


def _localise(steps: list, country: str | None) -> list:
    """`{name = "phone", region = "channel"}` takes the job's channel country as the default region."""
    out = []
    for step in steps:
        if isinstance(step, dict) and step.get("region") == "channel":
            step = {**step, "region": country or settings.OMNISHOP_DEFAULT_PHONE_REGION}
        out.append(step)
    return out


def parse_profile(path: Path, *, country: str | None = None) -> Profile:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InvalidProfile(f"{path.name}: not valid TOML ({exc}).") from None
    name = data.get("name") or path.stem
    target = data.get("target")
    if target not in TARGETS:
        raise InvalidProfile(f"{path.name}: target must be one of {', '.join(TARGETS)}.", field="target")
    fields = []
    for field_name, spec in (data.get("fields") or {}).items():
        if isinstance(spec, str):
            spec = {"column": spec}
        columns = tuple(spec.get("columns") or ([spec["column"]] if spec.get("column") else []))
        prefix = spec.get("column_prefix")
        if prefix is not None and (not isinstance(prefix, str) or not prefix or columns):
            raise InvalidProfile(
                f"{path.name}: field {field_name}: `column_prefix` is a non-empty text, without `column(s)`."
            )
        steps = list(spec.get("clean", []))
        try:
            chain = build_chain(_localise(steps, country))
        except KeyError as exc:
            raise InvalidProfile(f"{path.name}: field {field_name} uses unknown cleaner {exc}.") from None
        if not columns and not prefix and "value" not in spec:
            raise InvalidProfile(
                f"{path.name}: field {field_name} needs `column`, `columns`, `column_prefix` or `value`."
            )
        fields.append(
            FieldSpec(
                name=field_name,
                columns=columns,
                required=bool(spec.get("required", False)),
                constant=spec.get("value"),
                clean=chain,
                steps=steps,
                prefix=prefix,
            )
        )
    return Profile(
        name=name,
        title=data.get("title", name),
        description=data.get("description", ""),
        target=target,
        source=data.get("source", name),
        reader=dict(data.get("reader", {})),
        options=dict(data.get("options", {})),
        fields=fields,
        path=path,
        row_filter=parse_filter(data.get("filter"), path.name),
    )


@cache
def _index() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for directory in _profile_dirs():
        for path in sorted(directory.glob("*.toml")):
            found[path.stem] = path
    return found


def get_profile(name: str, *, country: str | None = None) -> Profile:
    """The profile `name`; `country` (the job's channel country) localises channel-dependent cleaners."""
    path = _index().get(name)
    if path is None:
        raise UnknownProfile(
            f"No import profile '{name}'. Known: {', '.join(sorted(_index()))}.", field="profile"
        )
    return parse_profile(path, country=country)


def list_profiles() -> list[Profile]:
    return [parse_profile(path) for _, path in sorted(_index().items())]
