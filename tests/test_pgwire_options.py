"""The startup ``options`` parameter, parsed as PostgreSQL parses it (one parser for the
gateway's own settings: review wait mode, stated reason, the person an agent acts for)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wardgate.pgwire import startup_setting


@pytest.mark.parametrize(
    ("options", "value"),
    [
        ("-c wardgate.x=a", "a"),
        ("-cwardgate.x=a", "a"),
        ("--wardgate.x=a", "a"),
        ("-c wardgate.x=first -c wardgate.x=last", "last"),
        (r"-c wardgate.x=INC-7\ fix -c other=1", "INC-7 fix"),
        ("-c wardgate.x=", ""),
        ("-c other=1", None),
        ("-c wardgate.x", None),
        ("-c", None),
        ("", None),
        (None, None),
    ],
)
def test_settings(options: str | None, value: str | None) -> None:
    assert startup_setting(options, "wardgate.x") == value


def test_dashes_in_long_form_names_are_underscores() -> None:
    assert startup_setting("--wardgate.on-behalf-of=carol", "wardgate.on_behalf_of") == "carol"
    assert startup_setting("-c wardgate.on-behalf-of=carol", "wardgate.on_behalf_of") is None


_safe = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=20)


@given(value=_safe, before=_safe, after=_safe)
def test_any_value_round_trips_when_escaped(value: str, before: str, after: str) -> None:
    def escape(text: str) -> str:
        return "".join("\\" + ch if ch.isspace() or ch == "\\" else ch for ch in text)

    options = f"-c a={escape(before)} -c wardgate.x={escape(value)} -c b={escape(after)}"
    assert startup_setting(options, "wardgate.x") == value
