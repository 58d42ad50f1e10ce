"""Pretraining corpora for PPO-ptx: imported once, frozen as content-hashed JSONL.

A corpus comes from a file or from a Hugging Face dataset that is on this machine already
(Preflab never downloads one: training hosts are often offline, and a corpus that changed
upstream would make a job impossible to re-run). Whatever the source, the texts are written
as ``{"text": ...}`` lines to ``PREFLAB_ARTIFACTS_DIR/corpora/<sha256>.jsonl``, made read-only,
and a ``PretrainingCorpus`` row points at that copy: a job reads exactly what was imported,
however the source changes later.

Accepted files (``import_file``):

- ``.jsonl`` / ``.json``: one JSON value a line, either a string or an object with a string
  ``"text"``; blank lines are skipped.
- any other file (``.txt``, ``.md``...): plain UTF-8 text, one document per block of lines
  separated by one or more blank lines. Documents keep their inner line breaks, as a
  pretraining text would; a file of one-line documents therefore needs a blank line between
  them (or JSONL).

A bad row is a ``CorpusError`` naming where it is (``FILE:LINE``, or the dataset's row) and
nothing is written: the copy is built in a temporary file and the row is saved last.
"""

import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, transaction

from labeling.errors import ServiceError

from .models import PretrainingCorpus

JSONL_SUFFIXES = (".jsonl", ".json")


class CorpusError(ServiceError):
    """A corpus that cannot be imported as given; ``field`` names what to fix."""


def corpora_root() -> Path:
    root = Path(settings.PREFLAB_ARTIFACTS_DIR) / "corpora"
    root.mkdir(parents=True, exist_ok=True)
    return root


# --- reading sources: each yields (where, text) and raises CorpusError at a bad row -------


def _jsonl_texts(path: Path) -> Iterator[tuple[str, str]]:
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            where = f"{path}:{number}"
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as exc:
                raise CorpusError("text", f"{where}: not JSON ({exc.msg})") from exc
            if isinstance(value, dict):
                if "text" not in value:
                    raise CorpusError("text", f'{where}: an object needs a "text" key')
                value = value["text"]
            yield where, value


def _block_texts(path: Path) -> Iterator[tuple[str, str]]:
    block: list[str] = []
    start = 0
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                if not block:
                    start = number
                block.append(line.rstrip("\n"))
            elif block:
                yield f"{path}:{start}", "\n".join(block)
                block = []
    if block:
        yield f"{path}:{start}", "\n".join(block)


def _checked(rows: Iterator[tuple[str, object]]) -> Iterator[str]:
    for where, text in rows:
        if not isinstance(text, str):
            raise CorpusError("text", f"{where}: text must be a string, not {type(text).__name__}")
        if not text.strip():
            raise CorpusError("text", f"{where}: text is empty")
        yield text


def _file_texts(path: Path) -> Iterator[str]:
    rows = _jsonl_texts(path) if path.suffix.lower() in JSONL_SUFFIXES else _block_texts(path)
    try:
        yield from _checked(rows)
    except UnicodeDecodeError as exc:
        raise CorpusError("file", f"{path}: not UTF-8 text ({exc.reason})") from exc


def _load_offline(dataset: str, split: str):
    """A saved dataset folder (``Dataset.save_to_disk``), or a dataset in the local Hugging
    Face cache, loaded with the hub switched off: nothing is ever downloaded. The switch is
    put back afterwards, so the process's other users of the hub are left as they were."""
    import datasets

    saved_env = {key: os.environ.get(key) for key in ("HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE")}
    saved_config = datasets.config.HF_HUB_OFFLINE
    os.environ.update(HF_DATASETS_OFFLINE="1", HF_HUB_OFFLINE="1")
    datasets.config.HF_HUB_OFFLINE = True  # read at import time from the environment
    try:
        if Path(dataset).is_dir():
            loaded = datasets.load_from_disk(dataset)
            if isinstance(loaded, datasets.DatasetDict):
                if split not in loaded:
                    raise CorpusError(
                        "split", f"{dataset} has no split {split!r} (it has: {', '.join(loaded)})"
                    )
                loaded = loaded[split]
            return loaded
        return datasets.load_dataset(dataset, split=split)
    except CorpusError:
        raise
    except Exception as exc:  # noqa: BLE001 - `datasets` raises many kinds for "not here"
        raise CorpusError(
            "hf_dataset",
            f"{dataset!r} (split {split!r}) is not available offline: {type(exc).__name__}: "
            f"{exc}. Save it on a connected machine with Dataset.save_to_disk and import "
            "that folder.",
        ) from exc
    finally:
        datasets.config.HF_HUB_OFFLINE = saved_config
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _dataset_texts(loaded, dataset: str, text_column: str) -> Iterator[str]:
    if text_column not in loaded.column_names:
        raise CorpusError(
            "text_column",
            f"{dataset} has no column {text_column!r} (it has: {', '.join(loaded.column_names)})",
        )
    rows = ((f"{dataset} row {i}", text) for i, text in enumerate(loaded[text_column]))
    return _checked(rows)


# --- storing --------------------------------------------------------------------------------


def _store(project, name: str, source: str, origin: str, texts: Iterator[str], user):
    if not name or not name.strip():
        raise CorpusError("name", "a corpus needs a name")
    name = name.strip()
    if PretrainingCorpus.objects.filter(project=project, name=name).exists():
        raise CorpusError("name", f"the project already has a corpus named {name!r}")
    root = corpora_root()
    handle, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".jsonl", dir=root)
    hasher, n_rows = hashlib.sha256(), 0
    try:
        with os.fdopen(handle, "wb") as out:
            for text in texts:
                line = json.dumps({"text": text}, ensure_ascii=False).encode("utf-8") + b"\n"
                hasher.update(line)
                out.write(line)
                n_rows += 1
        if n_rows == 0:
            raise CorpusError("file", f"{origin}: no texts")
        content_hash = hasher.hexdigest()
        final = root / f"{content_hash}.jsonl"
        if final.exists():  # the same texts imported before: one copy serves both
            os.unlink(tmp)
        else:
            os.chmod(tmp, 0o444)
            os.replace(tmp, final)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    try:
        with transaction.atomic():
            return PretrainingCorpus.objects.create(
                project=project,
                name=name,
                source=source,
                origin=origin,
                content_hash=content_hash,
                path=str(final),
                n_rows=n_rows,
                created_by=user,
            )
    except IntegrityError as exc:  # the same name imported concurrently
        raise CorpusError("name", f"the project already has a corpus named {name!r}") from exc


def import_file(project, path, *, name: str | None = None, user=None) -> PretrainingCorpus:
    """A JSONL or plain-text file as a corpus (formats: this module's docstring)."""
    path = Path(path)
    if not path.is_file():
        raise CorpusError("file", f"no file {path}")
    return _store(
        project,
        name or path.stem,
        PretrainingCorpus.Source.FILE,
        str(path),
        _file_texts(path),
        user,
    )


def import_hf_dataset(
    project,
    dataset: str,
    *,
    split: str = "train",
    text_column: str = "text",
    name: str | None = None,
    user=None,
) -> PretrainingCorpus:
    """A Hugging Face dataset available offline (a saved folder or the local cache)."""
    loaded = _load_offline(dataset, split)
    return _store(
        project,
        name or Path(dataset).name,
        PretrainingCorpus.Source.HF_DATASET,
        f"{dataset} [{split}]",
        _dataset_texts(loaded, dataset, text_column),
        user,
    )


def corpus_texts(corpus: PretrainingCorpus) -> list[str]:
    """The corpus's texts, as imported."""
    try:
        with open(corpus.path, encoding="utf-8") as handle:
            return [json.loads(line)["text"] for line in handle]
    except FileNotFoundError as exc:
        raise CorpusError(
            "pretrain_corpus", f"corpus {corpus.pk}'s file {corpus.path} is missing"
        ) from exc
