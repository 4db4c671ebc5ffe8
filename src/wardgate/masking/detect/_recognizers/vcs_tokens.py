"""GitHub and GitLab tokens, recognised by their documented prefixes and lengths."""

from __future__ import annotations

from .._base import Recognizer


class GitHubToken(Recognizer):
    """Classic (``ghp_``, ``gho_``, ``ghu_``, ``ghs_``, ``ghr_``) and fine-grained tokens."""

    entity = "github_token"
    trigger = "gh[pousr]_|github_pat_"
    candidate = (
        r"(?<![\w-])(?:gh[pousr]_[A-Za-z0-9]{36,251}|github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59})"
        r"(?![\w-])"
    )
    score = 0.98


class GitLabToken(Recognizer):
    """Personal (``glpat-``), deploy, runner, trigger, feed and OAuth tokens."""

    entity = "gitlab_token"
    trigger = "gl(?:pat|dt|rt|ptt|oas|cbt|ft|imt|agent|soat)-"
    candidate = (
        r"(?<![\w-])gl(?:pat|dt|rt|ptt|oas|cbt|ft|imt|agent|soat)-[A-Za-z0-9_\-.]{20,300}"
        r"(?![\w-])"
    )
    score = 0.98
