"""Writers for export rows: JSONL (optionally gzip), Parquet, and an HF ``datasets`` folder.

Every writer consumes a row iterator batch by batch, so memory stays bounded by one
batch whatever the export's size. Bytes are deterministic for the same rows: JSON keys
keep the generator's order with fixed separators, and gzip is written with a zeroed
timestamp and no file name (``zlib`` with ``wbits=31``), so a snapshot written twice is
byte-identical.
"""

import json
import shutil
import tempfile
import zlib
from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from labeling.vocabulary import SPLITS

FORMATS = ("jsonl", "parquet", "hf")
BATCH_ROWS = 10_000
CHUNK_BYTES = 256 * 1024

MESSAGES = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
_TAIL = [
    ("ranking_id", pa.int64()),
    ("task_id", pa.int64()),
    ("labeler", pa.string()),
    ("split", pa.string()),
]


def schema(kind: str, *, conversational: bool, style: str = "prompt_completion") -> pa.Schema:
    """The Arrow schema of an export: fixed per kind, so even an empty export has columns."""
    text = MESSAGES if conversational else pa.string()
    if kind == "comparisons":
        return pa.schema([("prompt", text), ("chosen", text), ("rejected", text), *_TAIL])
    if kind == "rankings":
        return pa.schema(
            [
                ("prompt", text),
                ("responses", pa.list_(pa.string())),
                ("ranks", pa.list_(pa.int64())),
                *_TAIL,
            ]
        )
    if kind == "demonstrations":
        head = (
            [("messages", MESSAGES)]
            if style == "messages"
            else [("prompt", text), ("completion", text)]
        )
        return pa.schema(
            [
                *head,
                ("demonstration_id", pa.int64()),
                ("labeler", pa.string()),
                ("split", pa.string()),
            ]
        )
    if kind == "prompts":
        return pa.schema(
            [
                ("prompt", text),
                ("prompt_id", pa.int64()),
                ("category", pa.string()),
                ("split", pa.string()),
            ]
        )
    raise ValueError(f"kind: unknown export kind {kind!r}")


# --- JSONL ---------------------------------------------------------------------------------

_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
# what that encoder uses for strings and ints, called directly (the same bytes)
_encode_string = json.encoder.encode_basestring


class _LineEncoder:
    """One JSON object per row, byte-identical to ``_encode(row)``, but each distinct
    string is escaped once: a ranking of K repeats its prompt in all C(K,2) pair rows and
    each response in K-1 of them, so re-escaping them is most of the cost of an export.
    The cache keys on the string itself (its hash is cached by the str object) and is
    dropped when it grows, so memory stays bounded.
    """

    CACHE_LIMIT = 256

    def __init__(self):
        self.keys: dict[str, str] = {}
        self.strings: dict[str, str] = {}

    def __call__(self, row: dict) -> str:
        keys, strings = self.keys, self.strings
        parts = []
        for key, value in row.items():
            encoded_key = keys.get(key)
            if encoded_key is None:
                encoded_key = keys[key] = _encode(key) + ":"
            kind = type(value)
            if kind is str:
                encoded = strings.get(value)
                if encoded is None:
                    if len(strings) >= self.CACHE_LIMIT:
                        strings.clear()
                    encoded = strings[value] = _encode_string(value)
            elif kind is int:
                encoded = int.__repr__(value)
            elif value is None:
                encoded = "null"
            else:
                encoded = _encode(value)
            parts.append(encoded_key + encoded)
        return "{" + ",".join(parts) + "}\n"


def jsonl_chunks(rows: Iterable[dict], *, gzip: bool = False) -> Iterator[bytes]:
    """The JSONL bytes of ``rows`` in chunks of about CHUNK_BYTES (for streaming)."""
    compressor = zlib.compressobj(6, zlib.DEFLATED, 31) if gzip else None
    encode_line = _LineEncoder()
    buffer, size = [], 0
    for row in rows:
        line = encode_line(row)
        buffer.append(line)
        size += len(line)
        if size >= CHUNK_BYTES:
            data = "".join(buffer).encode("utf-8")
            buffer, size = [], 0
            if compressor is not None:
                data = compressor.compress(data)
                if not data:
                    continue
            yield data
    data = "".join(buffer).encode("utf-8")
    if compressor is not None:
        data = compressor.compress(data) + compressor.flush()
    if data:
        yield data


class _Counted:
    """Counts rows as a writer pulls them, so callers learn n_rows without a second pass."""

    def __init__(self, rows):
        self.rows = iter(rows)
        self.count = 0

    def __iter__(self):
        for row in self.rows:
            self.count += 1
            yield row


def write_jsonl(rows: Iterable[dict], path, *, gzip: bool = False, hasher=None) -> int:
    counted = _Counted(rows)
    with open(path, "wb") as handle:
        for chunk in jsonl_chunks(counted, gzip=gzip):
            handle.write(chunk)
            if hasher is not None:
                hasher.update(chunk)
    return counted.count


# --- Parquet -------------------------------------------------------------------------------


def record_batches(rows: Iterable[dict], arrow_schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    rows = iter(rows)
    while batch := list(islice(rows, BATCH_ROWS)):
        yield pa.RecordBatch.from_pylist(batch, schema=arrow_schema)


def write_parquet(rows: Iterable[dict], path, arrow_schema: pa.Schema) -> int:
    import pyarrow.parquet as pq

    count = 0
    with pq.ParquetWriter(path, arrow_schema, compression="zstd") as writer:
        for batch in record_batches(rows, arrow_schema):
            writer.write_batch(batch)
            count += batch.num_rows
    return count


# --- HF datasets folder --------------------------------------------------------------------


def write_hf(rows: Iterable[dict], path, arrow_schema: pa.Schema) -> int:
    """A ``DatasetDict`` with train/validation/test from each row's ``split`` column;
    ``datasets.load_from_disk(path)`` opens it.

    Rows go to one Arrow stream file per split (what ``datasets`` memory-maps), so
    nothing is held in memory; ``save_to_disk`` then copies them into place.
    """
    from datasets import Dataset, DatasetDict, disable_progress_bars

    disable_progress_bars()  # a server-side writer: no tqdm bars in logs
    path = Path(path)
    count, written = 0, set()
    with tempfile.TemporaryDirectory(dir=path.parent if path.parent.exists() else None) as tmp:
        writers = {
            name: pa.ipc.new_stream(str(Path(tmp) / f"{name}.arrow"), arrow_schema)
            for name in SPLITS
        }
        try:
            for batch in record_batches(rows, arrow_schema):
                table = pa.Table.from_batches([batch])
                split_column = table.column("split")
                for name, writer in writers.items():
                    part = table.filter(pc.equal(split_column, name))
                    if part.num_rows:
                        writer.write_table(part)
                        written.add(name)
                count += batch.num_rows
            for name in set(SPLITS) - written:
                # datasets cannot open a stream without a batch: give empty splits one
                writers[name].write_batch(pa.RecordBatch.from_pylist([], schema=arrow_schema))
        finally:
            for writer in writers.values():
                writer.close()
        data = DatasetDict(
            {
                name: Dataset.from_file(str(Path(tmp) / f"{name}.arrow"), in_memory=False)
                for name in SPLITS
            }
        )
        if path.exists():
            shutil.rmtree(path)
        # An empty split would be saved as zero shards, which load_from_disk cannot open.
        empty = {name: 1 for name, split in data.items() if split.num_rows == 0}
        data.save_to_disk(str(path), num_shards=empty)
    return count


def write(rows: Iterable[dict], path, *, file_format: str, arrow_schema: pa.Schema, gzip=False):
    """Write rows to ``path`` in ``file_format``; returns the number of rows."""
    if file_format == "jsonl":
        return write_jsonl(rows, path, gzip=gzip)
    if file_format == "parquet":
        return write_parquet(rows, path, arrow_schema)
    if file_format == "hf":
        return write_hf(rows, path, arrow_schema)
    raise ValueError(f"format: {file_format!r} is not one of {', '.join(FORMATS)}")
