"""Loading manifests from files, directories and standard input, with readable errors."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import pytest

from minikube_py.api.manifest import load_manifests, parse_manifests
from minikube_py.errors import ManifestError, MinikubeError

POD = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n"


def write(path, text):
    path.write_text(text)
    return str(path)


def test_a_multi_document_file_gives_every_object_in_order(tmp_path):
    path = write(tmp_path / "two.yml", POD.format(name="a") + "---\n" + POD.format(name="b"))
    found = load_manifests(path)
    assert [(src, i, obj["metadata"]["name"]) for src, i, obj in found] == [
        (path, 0, "a"), (path, 1, "b")]


def test_empty_documents_are_skipped_but_keep_their_numbers(tmp_path):
    text = "---\n# just a comment\n---\n" + POD.format(name="a") + "---\n---\n"
    found = load_manifests(write(tmp_path / "x.yaml", text))
    assert [(i, obj["metadata"]["name"]) for _, i, obj in found] == [(1, "a")]  # 2nd document


def test_a_directory_is_read_in_sorted_order_and_other_files_are_ignored(tmp_path):
    write(tmp_path / "b.yaml", POD.format(name="from-b"))
    write(tmp_path / "a.yml", POD.format(name="from-a"))
    write(tmp_path / "c.json", json.dumps({"apiVersion": "v1", "kind": "Pod",
                                           "metadata": {"name": "from-c"}}))
    write(tmp_path / "notes.txt", "not a manifest")
    names = [obj["metadata"]["name"] for _, _, obj in load_manifests(str(tmp_path))]
    assert names == ["from-a", "from-b", "from-c"]


def test_an_empty_directory_is_an_error(tmp_path):
    with pytest.raises(ManifestError, match="no \\*.yaml, \\*.yml or \\*.json files"):
        load_manifests(str(tmp_path))


def test_dash_reads_standard_input(monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO(POD.format(name="piped")))
    [(source, index, obj)] = load_manifests("-")
    assert (source, index, obj["metadata"]["name"]) == ("<stdin>", 0, "piped")


def test_dash_reads_a_real_pipe():
    code = ("from minikube_py.api.manifest import load_manifests;"
            "print([o['metadata']['name'] for _, _, o in load_manifests('-')])")
    result = subprocess.run([sys.executable, "-c", code], input=POD.format(name="via-pipe"),
                            capture_output=True, text=True, check=True,
                            cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    assert result.stdout.strip() == "['via-pipe']"


def test_yaml_errors_name_the_file_the_document_and_the_line(tmp_path):
    text = (POD.format(name="a") + "---\n" + POD.format(name="b")
            + "  labels:\n    app: b\n   - oops\n")
    path = write(tmp_path / "x.yml", text)
    with pytest.raises(ManifestError) as err:
        load_manifests(path)
    message = str(err.value)
    assert message.startswith(f"{path}: document 2: while parsing a block mapping")
    assert "line 12" in message
    assert isinstance(err.value, MinikubeError)


def test_tabs_are_reported_with_their_line(tmp_path):
    path = write(tmp_path / "tab.yaml", "apiVersion: v1\nkind: Pod\nmetadata:\n\tname: x\n")
    with pytest.raises(ManifestError, match=r"document 1: .*line 4"):
        load_manifests(path)


@pytest.mark.parametrize("text, message", [
    ("kind: Pod\nmetadata: {}\n", "document 1: apiVersion not set"),
    ("apiVersion: v1\n", "document 1: kind not set"),
    ("metadata: {}\n", "document 1: apiVersion not set, kind not set"),
    ("- a\n- b\n", "document 1: expected a mapping (an object with apiVersion and kind), "
                   "found a list"),
    ("just text\n", "document 1: expected a mapping"),
])
def test_objects_must_say_what_they_are(tmp_path, text, message):
    path = write(tmp_path / "bad.yaml", text)
    with pytest.raises(ManifestError) as err:
        load_manifests(path)
    assert str(err.value).startswith(f"{path}: {message}")


def test_a_list_object_is_unpacked():
    text = json.dumps({"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a"}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "b"}}]})
    kinds = [obj["kind"] for _, _, obj in parse_manifests(text, "list.json")]
    assert kinds == ["Pod", "Service"]


def test_list_items_are_checked_too():
    text = json.dumps({"apiVersion": "v1", "kind": "List", "items": [{"kind": "Pod"}]})
    with pytest.raises(ManifestError, match=r"document 1: items\[0\]: apiVersion not set"):
        parse_manifests(text, "list.json")


def test_dates_stay_strings_like_in_json():
    text = POD.format(name="a") + "  annotations:\n    built: 2024-01-31\n"
    [(_, _, obj)] = parse_manifests(text, "x.yaml")
    assert obj["metadata"]["annotations"]["built"] == "2024-01-31"
    json.dumps(obj)


def test_bad_json_is_reported_with_its_line(tmp_path):
    path = write(tmp_path / "x.json", '{\n  "apiVersion": "v1",\n  "kind": \n}\n')
    with pytest.raises(ManifestError, match=r"x.json: document 1: Expecting value \(line 4"):
        load_manifests(path)


def test_a_missing_file_fails_with_the_house_message(tmp_path):
    path = str(tmp_path / "nope.yaml")
    with pytest.raises(ManifestError) as err:
        load_manifests(path)
    assert str(err.value).startswith(f"failed to read manifest {path}: ")
