"""Errors of signing review decisions: signatures, reviews, the text typed for them."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from nbmlops.errors.categories import IntegrityError, RefusedError

__all__ = [
    "EvidenceChangedError",
    "PhiInTextError",
    "ReviewError",
    "SignatureError",
]


class SignatureError(RefusedError):
    """An electronic signature, or a change to the signers, was refused.

    ``signer`` is the signer id as given (empty when there is none); ``reason`` says why, and
    never holds a password. A wrong password and an unknown signer give the same ``reason``.
    ``refused`` says what was refused when it is not a signature (``"signer 'jdoe' not added"``)
    and ``fix`` what to do then; by default the message is about a refused signature and says
    how a signer is added.
    """

    def __init__(
        self, *, signer: str, reason: str, refused: str | None = None, fix: str | None = None
    ) -> None:
        who = f" for '{signer}'" if signer else ""
        head = refused or f"signature refused{who}"
        super().__init__(f"{head}: {reason}. {_SIGNATURE_FIX if fix is None else fix}")
        self.signer = signer
        self.reason = reason


_SIGNATURE_FIX = (
    "Check the signer id and password. A signer is added with `nbmlops signer add ID --name "
    "'Full Name'` (the project's first signer by anyone, each later one with an administrator's "
    "`--by`); `nbmlops signer list` shows who can sign."
)


class ReviewError(RefusedError):
    """A review session cannot open, or a decision cannot be signed; nothing was signed.

    ``run_id`` is the pipeline run under review, ``reason`` what is wrong and ``path`` the
    evidence file concerned, if any.
    """

    def __init__(self, *, run_id: str, reason: str, path: Path | None = None) -> None:
        where = f" ({path})" if path else ""
        super().__init__(f"review of run {run_id}: {reason}{where}")
        self.run_id = run_id
        self.reason = reason
        self.path = path


class PhiInTextError(RefusedError):
    """Free text typed for a signed or audited record looks like it holds PHI; nothing was kept.

    ``field`` names the text (``"meaning"``, ``"comment"``, ``"reason"``), ``subject`` what it was
    for (e.g. ``"the decision on run R"``) and ``kinds`` the kinds found - never the value.
    """

    def __init__(self, *, field: str, subject: str, kinds: Sequence[str]) -> None:
        found = ", ".join(kinds)
        super().__init__(
            f"the {field} for {subject} looks like it holds PHI ({found}), so nothing was signed "
            "or recorded: it would be kept in records that are signed and copied. Write it "
            "without patient identifiers (say 'the patient in row 12 of the holdout', not a "
            "name or MRN), or set phi_policy = 'redact' to record it redacted."
        )
        self.field = field
        self.subject = subject
        self.kinds = tuple(kinds)


class EvidenceChangedError(IntegrityError, ReviewError):
    """A file a review rests on no longer has the digest its run recorded (a later run overwrote
    it, or it changed after the review opened); nothing was signed. Fields as :class:`ReviewError`.
    """
