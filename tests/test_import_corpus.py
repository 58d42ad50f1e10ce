"""`manage.py import_corpus`: PPO-ptx's pretraining texts, from a file or an offline dataset."""

import json
import os
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from training.corpora import corpus_texts
from training.models import PretrainingCorpus

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def artifacts(tmp_path, settings):
    settings.PREFLAB_ARTIFACTS_DIR = tmp_path / "artifacts"
    return settings.PREFLAB_ARTIFACTS_DIR


def run(*args) -> str:
    out = StringIO()
    call_command("import_corpus", "--project", "campaign", *args, stdout=out)
    return out.getvalue()


def test_jsonl_of_objects_and_strings(project, tmp_path, artifacts):
    path = tmp_path / "news.jsonl"
    path.write_text('{"text": "First document.\\nIts second line."}\n\n"A bare string."\n')
    out = run("--file", str(path))
    corpus = PretrainingCorpus.objects.get()
    assert f"corpus {corpus.pk} 'news': 2 texts" in out
    assert (corpus.project, corpus.source, corpus.origin) == (project, "file", str(path))
    assert corpus_texts(corpus) == ["First document.\nIts second line.", "A bare string."]
    # a read-only copy named by its content: the source may change, the corpus does not
    copy = Path(corpus.path)
    assert copy.parent == artifacts / "corpora" and copy.stem == corpus.content_hash
    assert not os.access(copy, os.W_OK) or os.geteuid() == 0
    path.write_text('"changed"\n')
    assert corpus_texts(corpus)[1] == "A bare string."


def test_text_file_one_document_per_block(project, tmp_path):
    path = tmp_path / "books.txt"
    path.write_text("Chapter one.\nIt rained.\n\n\nChapter two.\n  \nThe end.\n")
    run("--file", str(path), "--name", "books")
    corpus = PretrainingCorpus.objects.get(name="books")
    assert corpus_texts(corpus) == ["Chapter one.\nIt rained.", "Chapter two.", "The end."]


@pytest.mark.parametrize(
    "content, where",
    [
        ('{"text": "fine"}\n{"text": 3}\n', ":2: text must be a string, not int"),
        ('"fine"\n{"body": "x"}\n', ':2: an object needs a "text" key'),
        ('"fine"\n\n{not json\n', ":3: not JSON"),
        ('"fine"\n"   "\n', ":2: text is empty"),
    ],
)
def test_a_bad_line_is_refused_with_file_and_line(project, tmp_path, artifacts, content, where):
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    with pytest.raises(CommandError, match=f"text: {path}{where}"):
        run("--file", str(path))
    assert not PretrainingCorpus.objects.exists()
    assert list((artifacts / "corpora").iterdir()) == []  # no copy left behind


def test_refusals(project, tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    with pytest.raises(CommandError, match="file: .*empty.jsonl: no texts"):
        run("--file", str(empty))
    with pytest.raises(CommandError, match="file: no file"):
        run("--file", str(tmp_path / "missing.jsonl"))
    good = tmp_path / "good.txt"
    good.write_text("A text.\n")
    run("--file", str(good))
    with pytest.raises(CommandError, match="name: the project already has a corpus named 'good'"):
        run("--file", str(good))
    with pytest.raises(CommandError, match="--project: no project 'nope'"):
        call_command("import_corpus", "--project", "nope", "--file", str(good))
    assert PretrainingCorpus.objects.count() == 1


def test_offline_hf_dataset_folder(project, tmp_path):
    import datasets

    folder = tmp_path / "wiki"
    datasets.Dataset.from_dict({"body": ["Alpha text.", "Beta text."], "n": [1, 2]}).save_to_disk(
        str(folder)
    )
    with pytest.raises(CommandError, match="text_column: .* has no column 'text'"):
        run("--hf-dataset", str(folder))
    out = run("--hf-dataset", str(folder), "--text-column", "body")
    corpus = PretrainingCorpus.objects.get()
    assert "'wiki': 2 texts" in out and corpus.source == "hf_dataset"
    assert corpus_texts(corpus) == ["Alpha text.", "Beta text."]

    splits = tmp_path / "splits"
    datasets.DatasetDict({"train": datasets.Dataset.from_dict({"text": ["Gamma."]})}).save_to_disk(
        str(splits)
    )
    run("--hf-dataset", str(splits), "--name", "splits")
    assert corpus_texts(PretrainingCorpus.objects.get(name="splits")) == ["Gamma."]
    with pytest.raises(CommandError, match="split: .* has no split 'test'"):
        run("--hf-dataset", str(splits), "--split", "test", "--name", "other")


def test_a_dataset_not_available_offline_is_a_clear_error(project, tmp_path, monkeypatch):
    # an empty cache: a hub name would need a download, which is never attempted
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf" / "datasets"))
    with pytest.raises(CommandError, match="hf_dataset: 'nobody/no-such-corpus' .* offline"):
        run("--hf-dataset", "nobody/no-such-corpus")
    assert not PretrainingCorpus.objects.exists()


def test_the_copy_is_jsonl_of_texts(project, tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("Ünïcode stays.\n")
    run("--file", str(path))
    lines = Path(PretrainingCorpus.objects.get().path).read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == [{"text": "Ünïcode stays."}]
