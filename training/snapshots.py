"""Dataset snapshots: an export frozen as immutable, content-addressed files.

A snapshot is a folder ``PREFLAB_ARTIFACTS_DIR/snapshots/<hash>/`` holding
``manifest.json`` (project, kind, the fully resolved export options) and ``data.jsonl``
(the rows, deterministic order and bytes). The hash covers both, so it names exactly
what a training job read: the same project state and options always give the same hash
and byte-identical files, and any change in either gives a new snapshot. Files are
written to a temporary folder and renamed into place, so a reader never sees a half
snapshot; the folder is made read-only afterwards.
"""

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, transaction

from labeling.outputs.export_formats import write_jsonl
from labeling.outputs.exports import export_rows, resolve_options
from labeling.outputs.options import ExportOptions

from .models import DatasetSnapshot

DATA_FILE = "data.jsonl"
MANIFEST_FILE = "manifest.json"


def snapshots_root() -> Path:
    root = Path(settings.PREFLAB_ARTIFACTS_DIR) / "snapshots"
    root.mkdir(parents=True, exist_ok=True)
    return root


def _manifest_bytes(project, kind, options) -> bytes:
    manifest = {"project": project.slug, "kind": kind, "options": options, "format": "jsonl"}
    return json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode("utf-8")


def _content_hash(manifest: bytes, data_digest: bytes) -> str:
    return hashlib.sha256(manifest + b"\n" + data_digest).hexdigest()


def create_snapshot(
    project, kind: str, options: ExportOptions | Mapping | None = None, *, created_by=None
):
    """Freeze an export; returns the (possibly already existing) DatasetSnapshot.

    Raises ``labeling.outputs.options.ExportError`` for a bad option.
    """
    options = resolve_options(kind, project, options)
    # the kind's options, all resolved: the manifest names exactly what the rows are (as
    # JSON values, so the row's options read the same before and after a reload: ids are
    # a tuple in the dataclass, a list once stored)
    resolved = json.loads(json.dumps(asdict(options)))
    manifest = _manifest_bytes(project, kind, resolved)
    root = snapshots_root()
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=root))
    try:
        data_hasher = hashlib.sha256()
        # One transaction: the rows are one consistent view of the database.
        with transaction.atomic():
            n_rows = write_jsonl(
                export_rows(kind, project, options), tmp / DATA_FILE, hasher=data_hasher
            )
        (tmp / MANIFEST_FILE).write_bytes(manifest)
        content_hash = _content_hash(manifest, data_hasher.digest())
        final = root / content_hash
        if final.exists():
            shutil.rmtree(tmp)
        else:
            for name in (DATA_FILE, MANIFEST_FILE):
                os.chmod(tmp / name, 0o444)
            try:
                tmp.rename(final)
            except OSError:  # another process froze the same content meanwhile
                shutil.rmtree(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    try:
        with transaction.atomic():
            snapshot, _ = DatasetSnapshot.objects.get_or_create(
                project=project,
                kind=kind,
                content_hash=content_hash,
                defaults={
                    "options": resolved,
                    "path": str(final),
                    "n_rows": n_rows,
                    "created_by": created_by,
                },
            )
    except IntegrityError:  # a concurrent create of the same snapshot won
        snapshot = DatasetSnapshot.objects.get(
            project=project, kind=kind, content_hash=content_hash
        )
    return snapshot


def data_path(snapshot) -> Path:
    return Path(snapshot.path) / DATA_FILE


def verify_snapshot(snapshot) -> bool:
    """True when the files on disk still hash to the snapshot's content hash."""
    folder = Path(snapshot.path)
    try:
        manifest = (folder / MANIFEST_FILE).read_bytes()
        hasher = hashlib.sha256()
        with open(folder / DATA_FILE, "rb") as handle:
            while chunk := handle.read(1 << 20):
                hasher.update(chunk)
    except FileNotFoundError:
        return False
    return _content_hash(manifest, hasher.digest()) == snapshot.content_hash


def snapshot_rows(snapshot):
    """The snapshot's rows, one dict at a time."""
    with open(data_path(snapshot), encoding="utf-8") as handle:
        for line in handle:
            yield json.loads(line)
