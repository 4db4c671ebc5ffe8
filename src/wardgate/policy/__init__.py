"""Policy-as-code: load a directory of YAML rules, decide statements, run the rules' own tests.

Pure functions apart from `load_policy` reading files. `decide` returns one `Decision` per query
string: the most restrictive effect over all matching rules and statements, default deny, the ids
of the rules that decided, the policy's content hash, masks, guardrails and review requirements.
See docs/policy.md for the file format and semantics.
"""

from __future__ import annotations

from ._decide import decide, session_cannot_name, session_read_only
from ._load import LoadedCase, Policy, PolicyError, PolicyLoadError, load_policy, policy_version
from ._match import CompiledRule
from ._schema import (
    KINDS,
    READ_KINDS,
    AccessSpec,
    ClassifySpec,
    EntitySpec,
    MaskDirective,
    PolicyFile,
    RuleSpec,
)
from ._tests import TestResult, analysis_from_facts, run_policy_tests
from ._types import (
    AnalysisLike,
    Analyzed,
    Connection,
    Decision,
    Facts,
    Guardrails,
    Identity,
    ObjectRefLike,
    Ref,
    ReviewRequirement,
    StatementFactsLike,
)

__all__ = [
    "KINDS",
    "READ_KINDS",
    "AccessSpec",
    "AnalysisLike",
    "Analyzed",
    "ClassifySpec",
    "CompiledRule",
    "Connection",
    "Decision",
    "EntitySpec",
    "Facts",
    "Guardrails",
    "Identity",
    "LoadedCase",
    "MaskDirective",
    "ObjectRefLike",
    "Policy",
    "PolicyError",
    "PolicyFile",
    "PolicyLoadError",
    "Ref",
    "ReviewRequirement",
    "RuleSpec",
    "StatementFactsLike",
    "TestResult",
    "analysis_from_facts",
    "decide",
    "load_policy",
    "policy_version",
    "run_policy_tests",
    "session_cannot_name",
    "session_read_only",
]
