"""Reading a policy directory: every file parsed, validated and compiled, or nothing loads.

Errors are collected across all files and raised together, each with the file and the YAML line of
the offending node, so an operator fixes a broken policy in one pass. A policy that raises never
replaces the running one: there is no half-loaded state to fall back from.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from ._cel import Condition
from ._match import CompiledRule
from ._schema import AccessSpec, CaseSpec, ClassifySpec, EntitySpec, PolicyFile

__all__ = [
    "LoadedCase",
    "Policy",
    "PolicyError",
    "PolicyLoadError",
    "load_policy",
    "policy_version",
]


@dataclass(frozen=True, slots=True)
class PolicyError:
    """One problem in one policy file; ``line`` is 1-based (0 when the file itself is at fault)."""

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


class PolicyLoadError(Exception):
    """Every problem found while loading a policy directory."""

    def __init__(self, errors: list[PolicyError]) -> None:
        self.errors = tuple(errors)
        super().__init__("\n".join(str(e) for e in errors))


@dataclass(frozen=True, slots=True)
class LoadedCase:
    """A policy test case and where it was written."""

    spec: CaseSpec
    file: str
    line: int


@dataclass(frozen=True, slots=True)
class Policy:
    """A loaded policy: rules in file order (files sorted), its tests, and its content hash."""

    version: str
    rules: tuple[CompiledRule, ...]
    tests: tuple[LoadedCase, ...] = ()
    entities: tuple[EntitySpec, ...] = ()  # custom entity types, for the detectors
    classify: tuple[ClassifySpec, ...] = ()  # column pins, for the masking planner
    access: tuple[AccessSpec, ...] = ()  # roles for just-in-time grants

    def access_role(self, role: str, connection: str) -> AccessSpec | None:
        """The access spec for ``role`` on ``connection`` (first match in file order)."""
        for spec in self.access:
            if spec.role == role and any(fnmatchcase(connection, c) for c in spec.connections):
                return spec
        return None


def _files(directory: Path) -> list[tuple[str, Path]]:
    found = [
        (path.relative_to(directory).as_posix(), path)
        for path in directory.rglob("*.yaml")
        if path.is_file()
        and not any(part.startswith(".") for part in path.relative_to(directory).parts)
    ]
    return sorted(found)


def policy_version(contents: list[tuple[str, bytes]]) -> str:
    """SHA-256 over sorted (relative path, bytes), length-prefixed so no two layouts collide."""
    digest = hashlib.sha256()
    for rel, data in sorted(contents):
        name = rel.encode()
        digest.update(len(name).to_bytes(8, "big") + name)
        digest.update(len(data).to_bytes(8, "big") + data)
    return digest.hexdigest()


def _line_at(root: yaml.Node | None, loc: tuple[int | str, ...]) -> int:
    """The 1-based line of the deepest node along a pydantic error location."""
    node = root
    line = root.start_mark.line + 1 if root is not None else 1
    for step in loc:
        child: yaml.Node | None = None
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value == step:
                    child = value if not isinstance(value, yaml.ScalarNode) else key
                    break
        elif (
            isinstance(node, yaml.SequenceNode)
            and isinstance(step, int)
            and 0 <= step < len(node.value)
        ):
            child = node.value[step]
        if child is None:
            break
        node = child
        line = node.start_mark.line + 1
    return line


def _duplicate_keys(node: yaml.Node | None, rel: str, errors: list[PolicyError]) -> None:
    """PyYAML keeps the last of two equal keys silently; a policy must not."""
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                if key.value in seen:
                    errors.append(
                        PolicyError(rel, key.start_mark.line + 1, f"duplicate key {key.value!r}")
                    )
                seen.add(key.value)
            _duplicate_keys(value, rel, errors)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _duplicate_keys(item, rel, errors)


def _parse(rel: str, data: bytes, errors: list[PolicyError]) -> tuple[bool, Any, yaml.Node | None]:
    """(parsed, document, root node); an empty file parses to (True, None, None)."""
    try:
        loader = yaml.SafeLoader(data.decode("utf-8"))
        try:
            root = loader.get_single_node()
            document = loader.construct_document(root) if root is not None else None
        finally:
            loader.dispose()
    except UnicodeDecodeError as exc:
        errors.append(PolicyError(rel, 0, f"not UTF-8: {exc}"))
        return False, None, None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 0
        errors.append(PolicyError(rel, line, f"invalid YAML: {exc.problem or exc}"))
        return False, None, None
    except yaml.YAMLError as exc:
        errors.append(PolicyError(rel, 0, f"invalid YAML: {exc}"))
        return False, None, None
    _duplicate_keys(root, rel, errors)
    return True, document, root


def _validate(
    rel: str, document: Any, root: yaml.Node | None, errors: list[PolicyError]
) -> PolicyFile | None:
    if document is None:
        return PolicyFile()
    try:
        return PolicyFile.model_validate(document)
    except ValidationError as exc:
        for err in exc.errors():
            loc = tuple(err["loc"])
            where = ".".join(str(p) for p in loc) or "(top level)"
            errors.append(PolicyError(rel, _line_at(root, loc), f"{where}: {err['msg']}"))
        return None


def _compile(
    rel: str,
    spec: PolicyFile,
    root: yaml.Node | None,
    seen: dict[str, PolicyError],
    errors: list[PolicyError],
) -> tuple[list[CompiledRule], list[LoadedCase]]:
    rules: list[CompiledRule] = []
    for index, rule in enumerate(spec.rules):
        line = _line_at(root, ("rules", index))
        if rule.id in seen:
            first = seen[rule.id]
            errors.append(
                PolicyError(
                    rel,
                    _line_at(root, ("rules", index, "id")),
                    f"duplicate rule id {rule.id!r} (first at {first.file}:{first.line})",
                )
            )
        else:
            seen[rule.id] = PolicyError(rel, line, "")
        condition = None
        if rule.match.when is not None:
            try:
                condition = Condition(rule.match.when)
            except ValueError as exc:
                where = _line_at(root, ("rules", index, "match", "when"))
                errors.append(PolicyError(rel, where, f"rule {rule.id!r}: {exc}"))
        rules.append(CompiledRule(rule, condition, rel, line))
    cases = [
        LoadedCase(case, rel, _line_at(root, ("tests", index)))
        for index, case in enumerate(spec.tests)
    ]
    return rules, cases


def load_policy(directory: str | Path) -> Policy:
    """Load every ``*.yaml`` under ``directory``, sorted by relative path.

    Raises PolicyLoadError with every problem found, in every file; never returns a partial policy.
    """
    base = Path(directory)
    if not base.is_dir():
        raise PolicyLoadError([PolicyError(str(base), 0, "not a directory")])
    errors: list[PolicyError] = []
    contents: list[tuple[str, bytes]] = []
    rules: list[CompiledRule] = []
    cases: list[LoadedCase] = []
    entities: dict[str, EntitySpec] = {}
    classify: list[ClassifySpec] = []
    access: list[AccessSpec] = []
    seen: dict[str, PolicyError] = {}
    for rel, path in _files(base):
        data = path.read_bytes()
        contents.append((rel, data))
        parsed, document, root = _parse(rel, data, errors)
        if not parsed:
            continue
        spec = _validate(rel, document, root, errors)
        if spec is None:
            continue
        file_rules, file_cases = _compile(rel, spec, root, seen, errors)
        rules.extend(file_rules)
        cases.extend(file_cases)
        for index, entity in enumerate(spec.entities):
            if entity.name in entities:
                where = _line_at(root, ("entities", index, "name"))
                errors.append(PolicyError(rel, where, f"entity {entity.name!r} defined twice"))
            entities[entity.name] = entity
        classify.extend(spec.classify)
        access.extend(spec.access)
    if errors:
        raise PolicyLoadError(errors)
    return Policy(
        version=policy_version(contents),
        rules=tuple(rules),
        tests=tuple(cases),
        entities=tuple(entities.values()),
        classify=tuple(classify),
        access=tuple(access),
    )
