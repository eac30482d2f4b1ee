"""Label and field selectors: parsed, printed and matched like the real API server."""

from __future__ import annotations

import pytest

from minikube_py.apiserver.selectors import (
    SelectorError,
    label_selector_from_match,
    parse_field_selector,
    parse_label_selector,
)
from minikube_py.errors import MinikubeError

WEB = {"app": "web", "tier": "front", "replicas": "3"}


@pytest.mark.parametrize(("text", "matches"), [
    ("app=web", True),
    ("app==web", True),
    ("app=db", False),
    ("app!=db", True),
    ("missing!=x", True),                 # != is true when the label is absent
    ("app in (web,db)", True),
    ("app in (db)", False),
    ("app notin (db)", True),
    ("missing notin (x)", True),
    ("app notin (web)", False),
    ("app", True),
    ("missing", False),
    ("!missing", True),
    ("!app", False),
    ("app=web,tier=front", True),
    ("app=web,tier=back", False),
    ("  app = web ,  tier in ( front , back )  ", True),
    ("replicas>2", True),
    ("replicas<3", False),
    ("app>2", False),                     # not an integer label: no match
    ("", True),
])
def test_label_selector_matches_like_upstream(text: str, matches: bool) -> None:
    assert parse_label_selector(text).matches(WEB) is matches


@pytest.mark.parametrize(("text", "canonical"), [
    ("app=nginx", "app=nginx"),
    ("tier in (b,a),app==x", "app==x,tier in (a,b)"),
    ("!canary,app", "app,!canary"),
    ("x in (foo,,baz),y,z notin ()", "x in (,baz,foo),y,z notin ()"),
    ("k != v", "k!=v"),
    ("example.com/role=web", "example.com/role=web"),
])
def test_label_selector_prints_its_canonical_string(text: str, canonical: str) -> None:
    assert str(parse_label_selector(text)) == canonical


@pytest.mark.parametrize(("text", "message"), [
    ("a b", "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"),
    ("a in (x", "unable to parse requirement: found '', expected: ',' or ')'"),
    ("a in x", "unable to parse requirement: found 'x' expected: '('"),
    ("a=b c", "found 'c', expected: ',' or 'end of string'"),
    ("a,", "found '', expected: identifier after ','"),
    (",a", "found ',', expected: !, identifier, or 'end of string'"),
    ("a=(", "unable to parse requirement: found '(', expected: identifier"),
    ("-a=b", 'unable to parse requirement: <nil>: Invalid value: "-a": name part must'),
    ("a=b/c", 'unable to parse requirement: values[0][a]: Invalid value: "b/c": a valid'),
    ("a>b", 'unable to parse requirement: values[0]: Invalid value: "b": for \'Gt\''),
    ("!a=b", "found '=', expected: ',' or 'end of string'"),
])
def test_label_selector_parse_errors_name_the_problem(text: str, message: str) -> None:
    with pytest.raises(SelectorError) as err:
        parse_label_selector(text)
    assert str(err.value).startswith(message)
    assert isinstance(err.value, MinikubeError)


def test_in_and_notin_are_values_inside_parentheses() -> None:
    selector = parse_label_selector("mode in (in,notin)")
    assert selector.matches({"mode": "notin"})
    assert str(selector) == "mode in (in,notin)"


def test_match_labels_become_an_equality_selector_for_scale_status() -> None:
    selector = label_selector_from_match({"matchLabels": {"app": "nginx"}})
    assert str(selector) == "app=nginx"
    assert selector.matches({"app": "nginx", "pod-template-hash": "abc"})
    assert not selector.matches({"app": "other"})


def test_match_expressions_support_all_four_operators() -> None:
    selector = label_selector_from_match({
        "matchLabels": {"app": "web"},
        "matchExpressions": [{"key": "tier", "operator": "In", "values": ["b", "a", "a"]},
                             {"key": "env", "operator": "NotIn", "values": ["prod"]},
                             {"key": "team", "operator": "Exists"},
                             {"key": "canary", "operator": "DoesNotExist"}]})
    assert str(selector) == "app=web,!canary,env notin (prod),team,tier in (a,b)"
    assert selector.matches({"app": "web", "tier": "a", "team": "x"})
    assert not selector.matches({"app": "web", "tier": "a", "team": "x", "canary": "1"})
    assert not selector.matches({"app": "web", "tier": "a"})


def test_an_empty_selector_matches_everything_and_none_matches_nothing() -> None:
    assert label_selector_from_match({}).matches({"any": "thing"})
    assert label_selector_from_match({}).empty
    nothing = label_selector_from_match(None)
    assert not nothing.matches({}) and not nothing.empty and str(nothing) == ""


def test_match_expressions_with_a_bad_operator_or_no_values_are_errors() -> None:
    with pytest.raises(SelectorError, match='"Near" is not a valid label selector operator'):
        label_selector_from_match({"matchExpressions": [{"key": "a", "operator": "Near"}]})
    with pytest.raises(SelectorError, match="values set can't be empty"):
        label_selector_from_match({"matchExpressions": [{"key": "a", "operator": "In"}]})


# ------------------------------------------------------------------- field selectors

UNBOUND = {"metadata": {"name": "web-1", "namespace": "default"}, "spec": {},
           "status": {"phase": "Pending"}}
BOUND = {"metadata": {"name": "web-2", "namespace": "default"},
         "spec": {"nodeName": "node-1", "hostNetwork": True}, "status": {"phase": "Running"}}


def test_the_scheduler_selector_picks_only_unscheduled_pods() -> None:
    selector = parse_field_selector("spec.nodeName=", "Pod")
    assert selector.matches(UNBOUND) and not selector.matches(BOUND)


def test_the_kubelet_selector_picks_only_its_own_pods() -> None:
    selector = parse_field_selector("spec.nodeName=node-1", "pods")
    assert selector.matches(BOUND) and not selector.matches(UNBOUND)


def test_field_selector_supports_equal_double_equal_and_not_equal() -> None:
    assert parse_field_selector("metadata.name==web-2", "Pod").matches(BOUND)
    assert parse_field_selector("status.phase!=Running", "Pod").matches(UNBOUND)
    assert not parse_field_selector("status.phase!=Running", "Pod").matches(BOUND)
    assert parse_field_selector("spec.hostNetwork=true", "Pod").matches(BOUND)
    assert parse_field_selector("", "Pod").matches(BOUND)


def test_describe_finds_events_by_involved_object() -> None:
    event = {"metadata": {"name": "web.1", "namespace": "default"},
             "involvedObject": {"kind": "Pod", "name": "web", "namespace": "default",
                                "uid": "u1"}, "reason": "Pulled", "type": "Normal",
             "source": {"component": "kubelet"}}
    text = ("involvedObject.name=web,involvedObject.namespace=default,"
            "involvedObject.uid=u1,involvedObject.kind=Pod")
    assert parse_field_selector(text, "Event").matches(event)
    assert not parse_field_selector("involvedObject.uid=u2", "Event").matches(event)
    assert parse_field_selector("source=kubelet,type=Normal", "Event").matches(event)


def test_unsupported_field_labels_are_refused_like_upstream() -> None:
    with pytest.raises(SelectorError, match="^field label not supported: spec.foo$"):
        parse_field_selector("spec.foo=bar", "Pod")
    with pytest.raises(SelectorError, match="field label not supported: spec.nodeName"):
        parse_field_selector("spec.nodeName=x", "Deployment")
    with pytest.raises(SelectorError, match="can't understand 'metadata.name'"):
        parse_field_selector("metadata.name", "Pod")


def test_field_selector_values_can_escape_commas_and_equals() -> None:
    selector = parse_field_selector(r"metadata.name=a\,b\=c", "ConfigMap")
    assert selector.matches({"metadata": {"name": "a,b=c"}})
    assert str(selector) == r"metadata.name=a\,b\=c"
    with pytest.raises(SelectorError, match="invalid escape sequence"):
        parse_field_selector(r"metadata.name=a\x", "ConfigMap")
