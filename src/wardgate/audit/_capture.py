"""Result capture: keep the (masked) rows a client received, within per-statement and session caps.

Capture is for replaying a session as the user saw it, so it takes values *after* masking, as
text, and stops at the caps instead of buffering a whole result: the row stream goes on to the
client untouched, capture just stops copying (``truncated``) while still counting rows.
The size counted is the UTF-8 length of the values plus one byte per value, a stand-in for the
JSON that will be stored.
"""

from __future__ import annotations

from collections.abc import Sequence

from ._events import ResultCapture

__all__ = ["ResultCapturer", "StatementCapture"]


class StatementCapture:
    """Rows of one statement, copied while both budgets allow."""

    def __init__(
        self,
        owner: ResultCapturer,
        *,
        session_id: str,
        statement_seq: int,
        columns: Sequence[str],
        budget: int,
    ) -> None:
        self._owner = owner
        self._session_id = session_id
        self._statement_seq = statement_seq
        self._columns = tuple(columns)
        self._budget = budget
        self._rows: list[tuple[str | None, ...]] = []
        self._seen = 0
        self._truncated = False

    def add_row(self, values: Sequence[str | None]) -> None:
        self._seen += 1
        if self._truncated:
            return
        size = sum(len(v.encode()) + 1 if v is not None else 1 for v in values)
        if size > self._budget or size > self._owner.session_left:
            self._truncated = True
            return
        self._budget -= size
        self._owner.session_left -= size
        self._rows.append(tuple(values))

    def finish(self) -> ResultCapture:
        return ResultCapture(
            session_id=self._session_id,
            statement_seq=self._statement_seq,
            columns=self._columns,
            captured=tuple(self._rows),
            truncated=self._truncated,
            rows_seen=self._seen,
        )


class ResultCapturer:
    """One per session: hands out statement captures that share the session's budget."""

    def __init__(
        self, session_id: str, *, max_statement_bytes: int, max_session_bytes: int
    ) -> None:
        self.session_id = session_id
        self.max_statement_bytes = max_statement_bytes
        self.session_left = max_session_bytes

    def start(self, statement_seq: int, columns: Sequence[str]) -> StatementCapture:
        return StatementCapture(
            self,
            session_id=self.session_id,
            statement_seq=statement_seq,
            columns=columns,
            budget=self.max_statement_bytes,
        )
