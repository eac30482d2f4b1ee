"""How get and describe print: kubectl's table layout, YAML/JSON output, Go's tabwriter."""

from __future__ import annotations

import json

import pytest

from minikube_py.apiserver.tables import human_duration
from minikube_py.cli.kubeconfig import parse_kubeconfig
from minikube_py.cli.printers import as_list, dump, print_table, tabwrite


def pod_table() -> dict:
    return {
        "kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": "9"},
        "columnDefinitions": [
            {"name": "Name", "type": "string", "priority": 0},
            {"name": "Ready", "type": "string", "priority": 0},
            {"name": "Status", "type": "string", "priority": 0},
            {"name": "Restarts", "type": "string", "priority": 0},
            {"name": "Age", "type": "string", "priority": 0},
            {"name": "IP", "type": "string", "priority": 1},
        ],
        "rows": [
            {"cells": ["nginx-7c5ddbdf54-abcde", "1/1", "Running", "0", "5m", "10.244.0.5"],
             "object": {"metadata": {"name": "nginx-7c5ddbdf54-abcde", "namespace": "default",
                                     "labels": {"app": "nginx"}}}},
            {"cells": ["web", "0/1", "Pending", "0", "12s", None],
             "object": {"metadata": {"name": "web", "namespace": "kube-system"}}},
        ],
    }


def test_a_table_prints_upper_case_headers_with_three_space_gaps(
        capsys: pytest.CaptureFixture[str]) -> None:
    print_table(pod_table())
    assert capsys.readouterr().out.splitlines() == [
        "NAME                     READY   STATUS    RESTARTS   AGE",
        "nginx-7c5ddbdf54-abcde   1/1     Running   0          5m",
        "web                      0/1     Pending   0          12s",
    ]


def test_wide_output_adds_the_priority_columns_and_none_for_empty_cells(
        capsys: pytest.CaptureFixture[str]) -> None:
    print_table(pod_table(), wide=True)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith("AGE   IP")
    assert lines[1].endswith("10.244.0.5")
    assert lines[2].endswith("<none>")


def test_all_namespaces_puts_the_namespace_column_first_and_labels_last(
        capsys: pytest.CaptureFixture[str]) -> None:
    print_table(pod_table(), namespace_column=True, labels_column=True)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("NAMESPACE     NAME")
    assert lines[0].endswith("LABELS")
    assert lines[1].startswith("default       nginx")
    assert lines[1].endswith("app=nginx")
    assert lines[2].startswith("kube-system   web")
    assert lines[2].endswith("<none>")


def test_yaml_output_looks_like_go_yaml() -> None:
    obj = {"metadata": {"resourceVersion": "6", "annotations": {"a": "x\n"}},
           "kind": "Pod", "spec": {"on": True}}
    text = dump(obj, "yaml")
    assert text.splitlines()[0] == "kind: Pod"  # keys sorted
    assert 'resourceVersion: "6"' in text
    assert "a: |\n" in text
    assert "\"on\": true" in text  # a key YAML 1.1 would read as a bool is quoted


def test_json_output_is_indented_by_four_and_sorted() -> None:
    text = dump(as_list([{"b": 1, "a": 2}]), "json")
    assert json.loads(text)["kind"] == "List"
    assert '\n    "apiVersion": "v1"' in text
    assert text.index('"a"') < text.index('"b"')


def test_tabwriter_aligns_blocks_of_lines_like_kubectl_describe() -> None:
    lines = tabwrite(["Name:\tweb", "Service Account:\tdefault", "Labels:\tapp=web",
                      "\ttier=front", "Containers:", "  nginx:", "    Image:\tnginx",
                      "    Restart Count:\t0"])
    assert lines == ["Name:             web",
                     "Service Account:  default",
                     "Labels:           app=web",
                     "                  tier=front",
                     "Containers:",
                     "  nginx:",
                     "    Image:          nginx",
                     "    Restart Count:  0"]


@pytest.mark.parametrize("seconds,text", [(45, "45s"), (119, "119s"), (150, "2m30s"),
                                          (600, "10m"), (3 * 3600 + 60, "3h1m"),
                                          (30 * 3600, "30h"), (50 * 3600, "2d2h"),
                                          (10 * 86400, "10d")])
def test_describe_ages_follow_apimachinery_human_duration(seconds: int, text: str) -> None:
    assert human_duration(seconds) == text


def test_the_kubeconfig_current_context_names_server_namespace_and_token() -> None:
    target = parse_kubeconfig("""
apiVersion: v1
kind: Config
current-context: mk
clusters: [{name: c, cluster: {server: "http://127.0.0.1:6443"}}]
users: [{name: u, user: {token: abc}}]
contexts: [{name: mk, context: {cluster: c, user: u, namespace: dev}}]
""")
    assert (target.server, target.namespace, target.token) == \
        ("http://127.0.0.1:6443", "dev", "abc")
