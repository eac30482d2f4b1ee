"""Label and field selectors: how a client asks for "only these objects".

A **label selector** (``kubectl get pods -l 'app=web,tier in (front,back),!canary'``) is an
AND of requirements on an object's ``metadata.labels``: ``key=value`` (or ``==``),
``key!=value`` (true also when the label is absent), ``key in (a,b)``, ``key notin (a)``,
``key`` (exists), ``!key`` (does not exist), and ``key>3`` / ``key<3`` for integers. A
Deployment, ReplicaSet or Service carries the same thing as a structured
``selector: {matchLabels: {...}, matchExpressions: [...]}``; :func:`label_selector_from_match`
turns that into the same object, and ``str()`` of it is the canonical text the API prints
(``kubectl get rs -o wide`` SELECTOR column, ``Scale.status.selector``).

A **field selector** (``--field-selector spec.nodeName=node-1``) compares a few fixed object
fields, and only with ``=``, ``==`` and ``!=``. Each kind supports its own short list;
anything else is refused like upstream: ``field label not supported: spec.foo``. The kubelet
watches ``spec.nodeName=<its node>``; the scheduler watches ``spec.nodeName=`` (empty: pods
not yet bound). See the parsing with ``kubectl get pods -l 'a in (x' -v=8``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from minikube_py.api.names import is_label_value, is_qualified_name
from minikube_py.api.resources import lookup
from minikube_py.errors import MinikubeError

__all__ = ["SelectorError", "Requirement", "LabelSelector", "parse_label_selector",
           "label_selector_from_match", "FieldSelector", "parse_field_selector",
           "FIELD_LABELS"]


class SelectorError(MinikubeError):
    """A label or field selector could not be parsed; the message names the bad part."""


_BINARY = ("in", "notin", "=", "==", "!=", "gt", "lt")
_SYMBOLS = {"in": " in ", "notin": " notin ", "=": "=", "==": "==", "!=": "!=", "gt": ">",
            "lt": "<"}


@dataclass(frozen=True)
class Requirement:
    """One condition on one label; ``operator`` uses upstream's names (``in``, ``!=``,
    ``exists``, ``!`` for does-not-exist, ``gt``, ``lt``)."""

    key: str
    operator: str
    values: tuple[str, ...] = ()

    def matches(self, labels: dict[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key, "")
        if self.operator in ("in", "=", "=="):
            return present and value in self.values
        if self.operator in ("notin", "!="):
            return not present or value not in self.values
        if self.operator == "exists":
            return present
        if self.operator == "!":
            return not present
        if not present or not re.fullmatch(r"[+-]?\d+", value):
            return False
        limit = int(self.values[0])
        return int(value) > limit if self.operator == "gt" else int(value) < limit

    def __str__(self) -> str:
        if self.operator == "exists":
            return self.key
        if self.operator == "!":
            return "!" + self.key
        values = ",".join(sorted(self.values))
        if self.operator in ("in", "notin"):
            values = f"({values})"
        return self.key + _SYMBOLS[self.operator] + values


@dataclass(frozen=True)
class LabelSelector:
    """An AND of requirements, sorted by key. ``nothing=True`` is the selector that matches
    no object (what a missing ``selector`` means upstream)."""

    requirements: tuple[Requirement, ...] = ()
    nothing: bool = False

    def matches(self, labels: dict[str, str] | None) -> bool:
        if self.nothing:
            return False
        return all(r.matches(labels or {}) for r in self.requirements)

    @property
    def empty(self) -> bool:
        """True when it selects everything."""
        return not self.nothing and not self.requirements

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


def _requirement(key: str, operator: str, values: list[str], key_path: str) -> Requirement:
    """Upstream ``NewRequirement``: validate, then build; errors read like field errors."""
    errors: list[str] = []
    if problems := is_qualified_name(key):
        errors.append(f'{key_path}: Invalid value: "{key}": {"; ".join(problems)}')
    if operator in ("in", "notin") and not values:
        errors.append("values: Invalid value: []: for 'in', 'notin' operators, values set "
                      "can't be empty")
    elif operator in ("=", "==", "!=") and len(values) != 1:
        errors.append("values: Invalid value: exact-match compatibility requires one single "
                      "value")
    elif operator in ("exists", "!") and values:
        errors.append("values: Invalid value: values set must be empty for exists and does "
                      "not exist")
    elif operator in ("gt", "lt"):
        for i, v in enumerate(values):
            if not re.fullmatch(r"[+-]?\d+", v):
                errors.append(f'values[{i}]: Invalid value: "{v}": for \'Gt\', \'Lt\' '
                              "operators, the value must be an integer")
    for i, v in enumerate(values):
        if problems := is_label_value(v):
            errors.append(f'values[{i}][{key}]: Invalid value: "{v}": {"; ".join(problems)}')
    if errors:
        raise SelectorError(errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]")
    return Requirement(key, operator, tuple(values))


# ------------------------------------------------------------------------ the parser

_IDENT, _END, _OPEN, _CLOSE, _COMMA, _NOT, _OP = "ident", "end", "(", ")", ",", "!", "op"
_SPECIAL = "=!(),<>"
_TOKENS = {"(": _OPEN, ")": _CLOSE, ",": _COMMA, "!": _NOT}
_OPERATORS = {"=": "=", "==": "==", "!=": "!=", ">": "gt", "<": "lt", "in": "in",
              "notin": "notin"}


def _lex(text: str) -> list[tuple[str, str]]:
    """Split into (token, literal) like upstream's lexer: specials greedily (``!=``, ``==``),
    everything else up to a special or a blank is an identifier or ``in``/``notin``."""
    tokens: list[tuple[str, str]] = []
    i = 0
    while True:
        while i < len(text) and text[i] in " \t\r\n":
            i += 1
        if i == len(text):
            return tokens + [(_END, "")]
        if text[i] in _SPECIAL:
            lit = text[i:i + 2] if text[i:i + 2] in ("!=", "==") else text[i]
            i += len(lit)
            tokens.append((_TOKENS.get(lit, _OP), lit))
            continue
        start = i
        while i < len(text) and text[i] not in _SPECIAL and text[i] not in " \t\r\n":
            i += 1
        word = text[start:i]
        tokens.append((_OP if word in ("in", "notin") else _IDENT, word))


class _Parser:
    def __init__(self, text: str):
        self.tokens = _lex(text)
        self.pos = 0

    def peek(self, values: bool = True) -> tuple[str, str]:
        tok, lit = self.tokens[self.pos]
        return (_IDENT, lit) if values and lit in ("in", "notin") and tok == _OP else (tok, lit)

    def take(self, values: bool = True) -> tuple[str, str]:
        item = self.peek(values)
        self.pos += 1
        return item

    def selector(self) -> list[Requirement]:
        found: list[Requirement] = []
        while True:
            tok, lit = self.peek()
            if tok == _END:
                return found
            if tok not in (_IDENT, _NOT):
                raise SelectorError(f"found '{lit}', expected: !, identifier, or 'end of "
                                    "string'")
            try:
                found.append(self.requirement())
            except SelectorError as e:
                raise SelectorError(f"unable to parse requirement: {e}") from None
            tok, lit = self.take()
            if tok == _END:
                return found
            if tok != _COMMA:
                raise SelectorError(f"found '{lit}', expected: ',' or 'end of string'")
            tok, lit = self.peek()
            if tok not in (_IDENT, _NOT):
                raise SelectorError(f"found '{lit}', expected: identifier after ','")

    def requirement(self) -> Requirement:
        tok, key = self.take()
        negated = tok == _NOT
        if negated:
            tok, key = self.take()
        if tok != _IDENT:
            raise SelectorError(f"found '{key}', expected: identifier")
        if problems := is_qualified_name(key):
            raise SelectorError(f'<nil>: Invalid value: "{key}": {"; ".join(problems)}')
        if negated or self.peek()[0] in (_END, _COMMA):
            return _requirement(key, "!" if negated else "exists", [], "key")
        tok, lit = self.take(values=False)
        if tok != _OP:
            raise SelectorError(f"found '{lit}', expected: {', '.join(_BINARY)}")
        operator = _OPERATORS[lit]
        values = self.value_set() if operator in ("in", "notin") else self.exact_value()
        return _requirement(key, operator, sorted(values), "key")

    def value_set(self) -> set[str]:
        tok, lit = self.take()
        if tok != _OPEN:
            raise SelectorError(f"found '{lit}' expected: '('")
        tok, lit = self.peek()
        if tok == _CLOSE:
            self.take()
            return {""}
        if tok not in (_IDENT, _COMMA):
            raise SelectorError(f"found '{lit}', expected: ',', ')' or identifier")
        values: set[str] = set()
        while True:  # identifiers separated by commas; an empty slot is the value ""
            tok, lit = self.take()
            if tok == _IDENT:
                values.add(lit)
                tok, lit = self.peek()
                if tok == _CLOSE:
                    break
                if tok != _COMMA:
                    raise SelectorError(f"found '{lit}', expected: ',' or ')'")
            elif tok == _COMMA:
                if self.peek()[0] in (_COMMA, _CLOSE) or not values:
                    values.add("")
                if self.peek()[0] == _CLOSE:
                    break
            else:
                raise SelectorError(f"found '{lit}', expected: ',', or identifier")
        self.take()  # the ")"
        return values

    def exact_value(self) -> set[str]:
        tok, lit = self.peek()
        if tok in (_END, _COMMA):
            return {""}
        tok, lit = self.take()
        if tok != _IDENT:
            raise SelectorError(f"found '{lit}', expected: identifier")
        return {lit}


def parse_label_selector(text: str) -> LabelSelector:
    """Parse ``a=b,c!=d,e in (x,y),!f``; the empty string selects everything."""
    found = _Parser(text).selector()
    return LabelSelector(tuple(sorted(found, key=lambda r: r.key)))


_MATCH_OPERATORS = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}


def label_selector_from_match(selector: dict[str, Any] | None) -> LabelSelector:
    """A ``LabelSelector`` API object -> :class:`LabelSelector`, like upstream
    ``LabelSelectorAsSelector``: None matches nothing, ``{}`` matches everything."""
    if selector is None:
        return LabelSelector(nothing=True)
    found: list[Requirement] = []
    for key, value in (selector.get("matchLabels") or {}).items():
        found.append(_requirement(key, "=", [value], "key"))
    for expr in selector.get("matchExpressions") or []:
        operator = _MATCH_OPERATORS.get(expr.get("operator"))
        if operator is None:
            raise SelectorError(f'"{expr.get("operator")}" is not a valid label selector '
                                "operator")
        values = sorted(set(expr.get("values") or []))
        found.append(_requirement(expr.get("key", ""), operator, values, "key"))
    return LabelSelector(tuple(sorted(found, key=lambda r: r.key)))


# ------------------------------------------------------------------- field selectors

_COMMON_FIELDS = ("metadata.name", "metadata.namespace")
FIELD_LABELS: dict[str, tuple[str, ...]] = {  # per kind, as upstream's ConvertFieldLabel
    "Pod": ("spec.nodeName", "spec.restartPolicy", "spec.schedulerName",
            "spec.serviceAccountName", "spec.hostNetwork", "status.phase", "status.podIP",
            "status.podIPs", "status.nominatedNodeName"),
    "Event": ("involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
              "involvedObject.uid", "involvedObject.apiVersion",
              "involvedObject.resourceVersion", "involvedObject.fieldPath", "reason",
              "reportingComponent", "source", "type"),
    "Node": ("spec.unschedulable",),
    "Namespace": ("status.phase",),
    "ReplicaSet": ("status.replicas",),
}
_READ_AS = {"status.podIPs": "status.podIP", "source": "source.component"}


@dataclass(frozen=True)
class FieldTerm:
    field: str
    operator: str  # "=" or "!="
    value: str

    def matches(self, obj: dict[str, Any]) -> bool:
        equal = _field_value(obj, self.field) == self.value
        return equal if self.operator == "=" else not equal

    def __str__(self) -> str:
        escaped = re.sub(r"([\\,=])", r"\\\1", self.value)
        return f"{self.field}{self.operator}{escaped}"


@dataclass(frozen=True)
class FieldSelector:
    """An AND of ``field=value`` / ``field!=value`` terms; empty selects everything."""

    terms: tuple[FieldTerm, ...] = ()

    def matches(self, obj: dict[str, Any]) -> bool:
        return all(term.matches(obj) for term in self.terms)

    def __str__(self) -> str:
        return ",".join(str(t) for t in self.terms)


def _field_value(obj: dict[str, Any], name: str) -> str:
    """Read a dotted path as the string upstream compares: missing -> "", bools lower-case."""
    value: Any = obj
    for part in _READ_AS.get(name, name).split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _split_unescaped(text: str, sep: str) -> list[str]:
    parts, current, i = [], "", 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text):
            current += text[i:i + 2]
            i += 2
            continue
        if text[i] == sep:
            parts.append(current)
            current = ""
        else:
            current += text[i]
        i += 1
    return parts + [current]


def _unescape(value: str, selector: str) -> str:
    out, i = "", 0
    while i < len(value):
        if value[i] == "\\":
            if i + 1 == len(value) or value[i + 1] not in "\\,=":
                raise SelectorError(f"invalid field selector: invalid escape sequence: "
                                    f"{value[i:i + 2]}")
            out += value[i + 1]
            i += 2
            continue
        if value[i] in ",=":
            raise SelectorError(f"invalid field selector: unescaped character in value: "
                                f"{value[i]} in '{selector}'")
        out += value[i]
        i += 1
    return out


def _split_term(term: str, selector: str) -> tuple[str, str, str]:
    """``a!=b`` -> ("a", "!=", "b"): the first operator outside an escape wins."""
    i = 0
    while i < len(term):
        if term[i] == "\\":
            i += 2
            continue
        for operator in ("!=", "==", "="):
            if term.startswith(operator, i):
                return term[:i], operator, term[i + len(operator):]
        i += 1
    raise SelectorError(f"invalid selector: '{selector}'; can't understand '{term}'")


def parse_field_selector(text: str, kind: str) -> FieldSelector:
    """Parse ``a=b,c!=d`` (``==`` too) for objects of ``kind`` (``Pod`` or ``pods``)."""
    resource = lookup(kind)
    kind = resource.kind if resource else kind
    supported = _COMMON_FIELDS + FIELD_LABELS.get(kind, ())
    terms: list[FieldTerm] = []
    for part in sorted(_split_unescaped(text, ",")):
        if not part:
            continue
        name, operator, value = _split_term(part, text)
        if name not in supported:
            raise SelectorError(f"field label not supported: {name}")
        terms.append(FieldTerm(name, "!=" if operator == "!=" else "=",
                               _unescape(value, text)))
    return FieldSelector(tuple(terms))
