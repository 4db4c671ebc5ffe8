"""Settings a client passes in the startup ``options`` parameter, read as PostgreSQL reads them.

``options`` is split on whitespace, a backslash escapes the next character (``a\\ b`` is one
word), and a setting is ``-c name=value``, ``-cname=value`` or ``--name=value`` (where dashes in
the name stand for underscores). When a name appears more than once, the last one wins.
"""

from __future__ import annotations

__all__ = ["startup_setting"]


def _words(options: str) -> list[str]:
    words: list[str] = []
    current, escaped, started = "", False, False
    for ch in options:
        if escaped:
            current, escaped, started = current + ch, False, True
        elif ch == "\\":
            escaped, started = True, True
        elif ch.isspace():
            if started:
                words.append(current)
            current, started = "", False
        else:
            current, started = current + ch, True
    if started:
        words.append(current)
    return words


def startup_setting(options: str | None, name: str) -> str | None:
    """The value the client's ``options`` give setting ``name``, or None when not given."""
    if not options:
        return None
    words = _words(options)
    found = None
    for i, word in enumerate(words):
        if word == "-c" and i + 1 < len(words):
            setting = words[i + 1]
        elif word.startswith("--"):
            key, sep, value = word[2:].partition("=")
            setting = key.replace("-", "_") + sep + value
        elif word.startswith("-c") and len(word) > 2:
            setting = word[2:]
        else:
            continue
        key, sep, value = setting.partition("=")
        if sep and key == name:
            found = value
    return found
