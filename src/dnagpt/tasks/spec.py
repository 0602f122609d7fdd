"""Downstream tasks as data: a small task file names a template, columns and labels.

A task file (TOML, YAML or JSON)::

    name = "tis"
    template = "classification"     # see TEMPLATES
    species = "human"               # the species token put before every sequence
    sequence_column = "sequence"
    label_column = "label"
    [labels]                        # classification: label value -> answer token
    "1" = "A"                       # yes / true
    "0" = "N"                       # no / false

Without ``[labels]``, a classification reads its labels from the training table
(:func:`with_labels_from`), and a template's name stands for a task file of that
template alone (``dnagpt finetune MODEL classification --train train.csv``, the
GUE / DNABERT-2 ``sequence,label`` layout).

A template is a prompt with placeholders plus where the answer is read (paper
Fig. 2b). ``{species}``, ``{sequence}``, ``{numbers}`` and ``{queries}`` are
filled per row. For "token" outputs the prompt ends with one ``<B>`` query per
label column (``label_columns``; several make a multi-label task), and the token
head answers at each of them. For "number" outputs the regression head answers
at the last position. A task file may give its own ``prompt`` and ``output``
instead of a named template.
"""

from __future__ import annotations

import math
import string
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from ..data.datasets import build_dataset, is_built
from ..data.regions import parse_region
from ..data.sources import cache_root
from ..data.tables import read_table
from ..errors import ConfigError, DataError, InvalidSequenceError
from ..io import read_structured
from ..tokenizers import normalise_bases, species_token
from ..validation import build, settings

# name -> (prompt, output)
TEMPLATES: dict[str, tuple[str, str]] = {
    "classification": ("{species}{sequence}<=>{queries}", "token"),
    "multilabel": ("{species}{sequence}<=>{queries}", "token"),  # with several label_columns
    "regression": ("{species}{sequence}<=><M>", "number"),
    "mixed_regression": ("{species}{sequence}<+><M>{numbers}<=><M>", "number"),
    # the model learns to write the sequence after the species token, then the stop symbol
    "generation": ("{species}{sequence}", "sequence"),
}


@settings
class TaskSpec:
    """A downstream task, read from a task file."""

    name: str
    prompt: str  # with {species}, {sequence}, {numbers}
    output: Literal["token", "number", "sequence"]  # classification, regression or generation
    species: str = ""  # species token, e.g. "<R>"; empty = none
    sequence_column: str = "sequence"
    label_column: str = "label"
    label_columns: list[str] = field(default_factory=list)  # classification; default [label_column]
    number_columns: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)  # label value -> answer token text
    stop: str = "<Z>"  # generation: the end-of-sequence symbol appended to every training sequence
    # where each sequence lies on the reference genome, CHR:START-END (1-based), for a model that reads a
    # multiple alignment beside the sequence (GPN-MSA); and the column of its strand (+ or -; default +)
    region_column: str = ""
    strand_column: str = ""

    @classmethod
    def load(cls, path: str | Path) -> TaskSpec:
        """A task file, or a template's name standing for a task of that template with every
        setting at its default (columns ``sequence`` and ``label``, labels from the training table)."""
        path = Path(path)
        if str(path) in TEMPLATES and not path.exists():
            return cls.from_dict({"template": str(path)}, str(path))
        return cls.from_dict(read_structured(path, "task file", ConfigError), str(path))

    @classmethod
    def from_dict(cls, d: dict, where: str = "task") -> TaskSpec:
        if not isinstance(d, dict):
            raise ConfigError(f"{where}: expected a table of task settings, got {d!r}")
        d = dict(d)
        template = d.pop("template", None)
        if template is not None:
            if not isinstance(template, str) or template not in TEMPLATES:
                raise ConfigError(f"{where}: unknown template {template!r}; choose one of: {', '.join(TEMPLATES)}")
            d.setdefault("prompt", TEMPLATES[template][0])
            d.setdefault("output", TEMPLATES[template][1])
        if "prompt" not in d or "output" not in d:
            raise ConfigError(f"{where}: give a template, or both prompt and output")
        if d.get("species"):
            try:
                d["species"] = species_token(str(d["species"]))
            except ConfigError as e:
                raise ConfigError(f"{where}: {e}") from None
        labels = d.get("labels") or {}
        if not isinstance(labels, dict):
            raise ConfigError(f"{where}: labels must be a table of label value -> answer token, got {labels!r}")
        d["labels"] = {str(k): str(v) for k, v in labels.items()}
        d.setdefault("name", Path(where).stem)
        spec = build(cls, d, where)
        if not spec.label_columns:
            spec.label_columns = [spec.label_column]
        if spec.output != "token" and len(spec.label_columns) > 1:
            raise ConfigError(f"{where}: several label_columns need a classification (token) output")
        if spec.output == "token" and "{queries}" not in spec.prompt and len(spec.label_columns) > 1:
            raise ConfigError(f"{where}: a multi-label prompt needs {{queries}} (one <B> per label column)")
        if spec.output == "token" and len(spec.labels) == 1:  # none: read from the training table
            raise ConfigError(f"{where}: a classification task needs [labels] mapping at least two values to tokens")
        if "{numbers}" in spec.prompt and not spec.number_columns:
            raise ConfigError(f"{where}: the prompt has {{numbers}} but number_columns is empty")
        _check_prompt(spec.prompt, where)
        return spec

    def text(self, sequence: str, numbers: list[float] | None = None) -> str:
        """The prompt of one example."""
        nums = ",".join(repr(float(x)) for x in (numbers or []))
        queries = "<B>" * len(self.label_columns) if self.output == "token" else ""
        return self.prompt.format(species=self.species, sequence=sequence, numbers=nums, queries=queries)


PLACEHOLDERS = ("species", "sequence", "numbers", "queries")


def _check_prompt(prompt: str, where: str) -> None:
    """A prompt holds text and the placeholders of :data:`PLACEHOLDERS` as they are: no other name, index,
    attribute, conversion or format (``{sequence:>999999999}`` would build a gigabyte of padding)."""
    try:
        fields = [(name, conversion, spec) for _, name, spec, conversion in string.Formatter().parse(prompt)
                  if name is not None]  # fmt: skip
    except ValueError as e:  # an unmatched brace
        raise ConfigError(
            f"{where}: prompt {prompt!r} is not a template ({e}); write a literal brace as {{{{ or }}}}"
        ) from None
    for name, conversion, spec in fields:
        if name not in PLACEHOLDERS or conversion or spec:
            written = "{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
            raise ConfigError(f"{where}: prompt {prompt!r} has the placeholder {written}; a prompt may hold only "
                              "{species}, {sequence}, {numbers} and {queries}, as they are")  # fmt: skip


@dataclass
class Example:
    """One row of a table, checked and ready to encode."""

    row: int  # 1-based data row in its file (the header is row 0)
    text: str
    sequence: str = ""  # the row's bases, as given
    numbers: list[float] = field(default_factory=list)
    labels: list[str] | None = None  # classification: one label per label column
    value: float | None = None  # regression
    source: str = "data"  # the file it was read from, for messages
    region: tuple[str, int, int, str] | None = (
        None  # (chromosome, 0-based start, end, strand): the task's region_column
    )


# Answer tokens given to labels read from a table, in this order. "0" is left out: the published
# code maps unknown pieces to its id. Every token language holds these (bases and reserved tokens).
INFERRED_ANSWER_TOKENS = ("A", "N", "C", "G", "T", "1", "2", "3", "4", "5", "6", "7", "8", "9")


@dataclass
class TaskData:
    """A task with its examples: training, dev (model selection) and, optionally, test (scored once)."""

    spec: TaskSpec
    train: list[Example]
    dev: list[Example]
    test: list[Example] | None = None


def with_labels_from(spec: TaskSpec, rows: list[dict], source: str) -> TaskSpec:
    """``spec`` as it is when it maps its labels (or is not a classification); otherwise ``spec`` with
    ``labels`` read from the label column(s) of ``rows`` (the training table): "1" and "0" become the
    yes / no tokens ``A`` / ``N`` of dnagpt's own datasets, other values take ``A``, ``N``, ``C``,
    ``G``, ``T``, ``1`` ... ``9`` in sorted order (numerically where all are numbers). The mapping is
    saved with the fine-tuned model (``task.json``), so predictions read the same."""
    if spec.output != "token" or spec.labels:
        return spec
    present = [c for c in spec.label_columns if rows and isinstance(rows[0], dict) and c in rows[0]]
    if not present:  # build_examples names the missing column
        return spec
    cells = [r.get(c) for r in rows if isinstance(r, dict) for c in present]  # build_examples names a row without
    values = {_label_key(v) for v in cells if v is not None and str(v).strip()}
    if len(values) < 2:
        raise DataError(f"{source}: column(s) {', '.join(present)} hold {len(values)} distinct label value(s) "
                        f"({', '.join(sorted(values))}); a classification needs at least two")  # fmt: skip
    if values == {"0", "1"}:
        return replace(spec, labels={"1": "A", "0": "N"})
    if len(values) > len(INFERRED_ANSWER_TOKENS):
        raise ConfigError(f"{source}: {len(values)} distinct label values, more than the "
                          f"{len(INFERRED_ANSWER_TOKENS)} that dnagpt maps on its own; map them to answer tokens in "
                          "the task file's [labels]")  # fmt: skip
    numeric = all(_is_number(v) for v in values)
    ordered = sorted(values, key=float) if numeric else sorted(values)
    return replace(spec, labels=dict(zip(ordered, INFERRED_ANSWER_TOKENS, strict=False)))


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def build_examples(
    spec: TaskSpec, rows: list[dict], source: str, need_labels: bool = True, row_numbers: list[int] | None = None
) -> list[Example]:
    """Check the rows of a table against a task; errors name the file and row.

    ``row_numbers`` gives each row's number in its file (default 1, 2, ...), e.g. after a split.
    """
    if not rows:
        raise ConfigError(f"{source}: the table has no rows")
    if not all(isinstance(r, dict) for r in rows):
        i = next(i for i, r in enumerate(rows, start=1) if not isinstance(r, dict))
        raise DataError(f"{source}, row {i}: expected a row of named columns, got {type(rows[i - 1]).__name__}")
    if need_labels and spec.output == "token" and not spec.labels:
        raise ConfigError(f"{source}: task {spec.name} has no [labels]; read them from the training table first "
                          "(with_labels_from), or give them in the task file")  # fmt: skip
    need_labels = need_labels and spec.output != "sequence"  # a generation task learns the sequence itself
    targets = spec.label_columns if spec.output == "token" else [spec.label_column]
    located = [c for c in (spec.region_column, spec.strand_column) if c]
    needed = [spec.sequence_column, *spec.number_columns, *located] + (targets if need_labels else [])
    missing = [c for c in needed if c not in rows[0]]
    if missing:
        raise ConfigError(f"{source}: missing column(s) {', '.join(missing)}; found {', '.join(rows[0])}")
    examples = []
    seq_column = spec.sequence_column
    for i, r in zip(row_numbers or range(1, len(rows) + 1), rows, strict=True):
        lacking = [c for c in needed if c not in r]
        if lacking:  # a table's rows all have every column; rows made otherwise may not
            raise DataError(f"{source}, row {i}: no value in column(s) {', '.join(lacking)}")
        raw = r[seq_column]
        if raw is not None and not isinstance(raw, str):  # e.g. a parquet column of numbers
            raise DataError(f"{source}, row {i}, column {seq_column}: {raw!r} is not a DNA sequence")
        seq = (raw or "").strip()
        if not seq:
            raise DataError(f"{source}, row {i}, column {seq_column}: empty sequence")
        try:
            normalise_bases(seq)  # only bases: '<', digits or commas would be read as tokens and numbers
        except InvalidSequenceError as e:
            raise DataError(f"{source}, row {i}, column {seq_column}: {e}") from None
        numbers = []
        for c in spec.number_columns:
            v = _number(r[c], f"{source}, row {i}, column {c}")
            numbers.append(v)
        ex = Example(i, spec.text(seq, numbers), seq, numbers, source=source,
                     region=_region(spec, r, len("".join(seq.split())), f"{source}, row {i}"))  # fmt: skip
        if need_labels and spec.output == "token":
            ex.labels = []
            for column in spec.label_columns:
                key = _label_key(r[column])
                if key not in spec.labels:
                    raise ConfigError(
                        f"{source}, row {i}, column {column}: label {r[column]!r} is not in the task's labels "
                        f"({', '.join(spec.labels)})"
                    )
                ex.labels.append(key)
        elif need_labels:
            ex.value = _number(r[spec.label_column], f"{source}, row {i}, column {spec.label_column}")
        examples.append(ex)
    return examples


def _region(spec: TaskSpec, row: dict, length: int, where: str) -> tuple[str, int, int, str] | None:
    """The row's region (chromosome, 0-based start, end, strand), checked to span its sequence."""
    if not spec.region_column:
        return None
    try:
        chrom, start, end = parse_region(str(row[spec.region_column]))
    except DataError as e:
        raise DataError(f"{where}, column {spec.region_column}: {e}") from None
    if end - start + 1 != length:
        raise DataError(f"{where}, column {spec.region_column}: {chrom}:{start}-{end} spans {end - start + 1} bases, "
                        f"the sequence {length}")  # fmt: skip
    strand = str(row[spec.strand_column]).strip() if spec.strand_column else "+"
    if strand not in ("+", "-"):
        raise DataError(f"{where}, column {spec.strand_column}: strand {strand!r}, expected + or -")
    return chrom, start - 1, end, strand


def _label_key(raw) -> str:
    if isinstance(raw, float) and raw.is_integer():
        return str(int(raw))
    return str(raw).strip()


def _number(raw, where: str) -> float:
    try:
        v = float(raw)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an int beyond any float
        shown = repr(raw) if len(repr(raw)) <= 60 else repr(raw)[:60] + "..."
        raise ConfigError(f"{where}: {shown} is not a number (or not a finite one)") from None
    if math.isnan(v) or math.isinf(v):
        raise ConfigError(f"{where}: value is {raw!r}; targets and inputs must be finite numbers")
    return v


def load_task_dataset(name: str, root: str | Path | None = None) -> tuple[TaskSpec, dict[str, list[dict]]]:
    """The task and the train / dev / test rows of a labelled dataset of ``dnagpt data build`` in
    ``root/NAME`` (default root: CACHE/datasets), built first when it is not there yet (or was
    built by an older version of dnagpt)."""
    where = Path(root or cache_root() / "datasets") / name
    if not is_built(name, where):
        build_dataset(name, where)
    return TaskSpec.load(where / "task.toml"), {s: read_table(where / f"{s}.csv.gz") for s in ("train", "dev", "test")}
