"""``nbmlops review`` and ``nbmlops signer``: review sessions, signed decisions, signers.

Passwords are read with ``getpass`` (never echoed, never an argument: argv is visible to every
user of the machine) or, for scripts, one line from standard input with ``--password-stdin``.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_parsers"]


def _password(args: argparse.Namespace, prompt: str, *, confirm: bool = False) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass(prompt)
    if confirm and getpass.getpass("again: ") != first:
        raise SystemExit("nbmlops: the passwords differ; nothing was changed")
    return first


def cmd_signer_add(args: argparse.Namespace) -> int:
    from nbmlops.approval.signing import LocalSignerRegistry
    from nbmlops.cli.output import console as _console

    by_password = _password(args, f"password for {args.by}: ") if args.by else None
    password = _password(args, f"new password for {args.signer_id}: ", confirm=True)
    signer = LocalSignerRegistry(Path(args.root)).add(
        args.signer_id,
        args.name,
        password,
        title=args.title or "",
        by=args.by,
        by_password=by_password,
    )
    _console().print(
        f"added signer {signer.id} ({signer.printed_name}); recorded in the ledger with their "
        "public key" + (f", authorised by {args.by}" if args.by else " as its first administrator")
    )
    return 0


def cmd_signer_rekey(args: argparse.Namespace) -> int:
    from nbmlops.approval.signing import LocalSignerRegistry
    from nbmlops.cli.output import console as _console

    by = args.by or args.signer_id
    which = "current password" if by == args.signer_id else "password"
    by_password = _password(args, f"{which} for {by}: ")
    password = _password(args, f"new password for {args.signer_id}: ", confirm=True)
    LocalSignerRegistry(Path(args.root)).rekey(
        args.signer_id, password, by=by, by_password=by_password
    )
    _console().print(f"re-keyed signer {args.signer_id}, signed by {by} (recorded in the ledger)")
    return 0


# an administrator's act on a signer: action -> (LocalSignerRegistry method, what it did)
_ADMIN_ACTS = {
    "grant-admin": ("grant_admin", "{id} is an administrator, granted by {by}"),
    "endorse": ("endorse", "endorsed signer {id}, signed by {by}"),
    "unlock": ("unlock", "unlocked signer {id}, signed by {by}"),
}


def cmd_signer_admin_act(args: argparse.Namespace) -> int:
    from nbmlops.approval.signing import LocalSignerRegistry
    from nbmlops.cli.output import console as _console

    method, done = _ADMIN_ACTS[args.signer_command]
    by_password = _password(args, f"password for {args.by}: ")
    act = getattr(LocalSignerRegistry(Path(args.root)), method)
    act(args.signer_id, by=args.by, by_password=by_password)
    _console().print(done.format(id=args.signer_id, by=args.by) + " (recorded in the ledger)")
    return 0


def cmd_signer_list(args: argparse.Namespace) -> int:
    from nbmlops.approval.signing import LocalSignerRegistry
    from nbmlops.cli.output import console as _console

    signers = LocalSignerRegistry(Path(args.root)).list(include_inactive=args.all)
    console = _console()
    for s in signers:
        console.print(f"{s.id}\t{s.printed_name}\t{s.title}")
    if not signers:
        console.print("no signers yet: add one with `nbmlops signer add ID --name 'Full Name'`")
    return 0


def cmd_signer_deactivate(args: argparse.Namespace) -> int:
    from nbmlops.approval.signing import LocalSignerRegistry
    from nbmlops.cli.output import console as _console

    LocalSignerRegistry(Path(args.root)).deactivate(args.signer_id, reason=args.reason or "")
    _console().print(f"deactivated signer {args.signer_id} (recorded in the ledger)")
    return 0


def cmd_review_list(args: argparse.Namespace) -> int:
    import json

    from rich.table import Table

    from nbmlops.approval.evidence import no_review_reason
    from nbmlops.approval.reviews import list_reviews
    from nbmlops.cli.output import console as _console

    reviews = list_reviews(Path(args.root), stage=args.stage)
    if args.json:
        sys.stdout.write(json.dumps([r.to_dict() for r in reviews], indent=2) + "\n")
        return 0
    console = _console()
    if not reviews:
        console.print(no_review_reason(Path(args.root), args.stage))
        return 0
    if not console.is_terminal:
        console.width = 160  # a pipe or file has no width: keep each run on one line
    table = Table()
    for column in ("run", "status"):  # what a user copies and reads first is never cut
        table.add_column(column, no_wrap=True)
    for column in ("pipeline", "finished (UTC)", "decided by", "decided (UTC)"):
        table.add_column(column)
    for r in reviews:
        finished, decided = _minute(r.finished_at), _minute(r.decided_at or "")
        table.add_row(r.run_id, r.status, r.pipeline, finished, r.decided_by or "", decided)
    console.print(table)
    return 0


def _minute(timestamp: str) -> str:
    """``2026-12-03T08:41:05.123Z`` as ``2026-12-03 08:41``: a table needs no more."""
    return timestamp[:16].replace("T", " ")


def cmd_review(args: argparse.Namespace) -> int:
    from nbmlops.cli.output import console as _console
    from nbmlops.cli.output import styled as _styled

    if args.run_id == "list":  # never a run id: those start with their UTC time
        return cmd_review_list(args)
    if args.json:
        raise SystemExit("nbmlops: --json goes with `nbmlops review list`")
    root = Path(args.root)
    console = _console()
    if args.decision is None:
        from nbmlops.review.session import write_review_notebook

        output = Path(args.output) if args.output else None
        path = write_review_notebook(root, args.run_id, output, stage=args.stage)
        console.print(f"review notebook: {path}")
        console.print(f"open it in JupyterLab (`jupyter lab {path}`) and run its cell")
        return 0
    from nbmlops.report.card import card_for_approval
    from nbmlops.review.session import session

    review = session(
        args.run_id,
        root=root,
        stage=args.stage,
        authenticator=args.authenticator,
        card=card_for_approval,
    )
    if not args.signer:
        raise SystemExit("nbmlops: --decision needs --signer ID")
    password = _password(args, f"password for {args.signer}: ")
    signed = review.sign(
        args.decision,
        meaning=args.meaning or "",
        comment=args.comment or "",
        signer_id=args.signer,
        password=password,
    )
    console.print(signed.manifestation())
    console.print(f"evidence digest {signed.record['evidence_digest']}")
    console.print(f"ledger entry {signed.ledger_entry}")
    if signed.model_version:
        console.print(f"MLflow model version {signed.model_version}")
        if signed.decision == "approve" and not any("model card" in n for n in signed.not_recorded):
            from nbmlops._core.paths import REPORTS

            folder = Path(root) / REPORTS / str(signed.record["run_id"])
            console.print(f"model card logged with it: {folder / 'model_card.md'} (and .html)")
    for note in signed.not_recorded:
        console.print(_styled("[yellow]not recorded:[/] {}", note))
    return 0


def add_parsers(sub: Any) -> None:
    """Add ``review`` and ``signer`` to the ``nbmlops`` command's subparsers."""
    s = sub.add_parser(
        "review",
        help="write a review notebook for a run, sign a decision on it, or list reviews",
        description="Without --decision: write reviews/review-RUN_ID.ipynb, which opens the "
        "tabbed review widget (any past run: its evidence is archived when it finishes). With "
        "--decision: sign a decision on the run's evidence. `nbmlops review list [--json]`: the "
        "reviewable runs, newest first, with their status.",
    )
    s.add_argument(
        "run_id", metavar="RUN_ID", help="a run id from `nbmlops run`, 'latest', or 'list'"
    )
    s.add_argument("--json", action="store_true", help="with 'list': print JSON")
    s.add_argument("--root", default=".", help="project root (holds .nbmlops/)")
    s.add_argument("--stage", default="review", help="the stage that computed the review")
    s.add_argument("--output", "-o", help="where to write the notebook")
    s.add_argument(
        "--decision", choices=("approve", "reject", "request_changes"), help="sign this decision"
    )
    s.add_argument("--meaning", help="what the signature means (required with --decision)")
    s.add_argument("--comment", help="the reasons (required with --decision)")
    s.add_argument("--signer", metavar="ID", help="the signer's id")
    s.add_argument("--authenticator", default="local", help="identity provider (default local)")
    s.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    s.set_defaults(func=cmd_review)

    _add_signer_parsers(sub)


def _add_signer_parsers(sub: Any) -> None:
    signer = sub.add_parser("signer", help="people who may sign review decisions")
    signer_sub = signer.add_subparsers(dest="signer_command", required=True, metavar="ACTION")
    s = signer_sub.add_parser(
        "add",
        help="register a signer (asks for their password)",
        description="The project's first signer becomes its administrator; every later signer "
        "is authorised by an administrator (--by). With --password-stdin, give the "
        "administrator's password on the first line and the new signer's on the next.",
    )
    s.add_argument("signer_id", metavar="ID", help="2-32 characters: a-z, then a-z 0-9 . _ -")
    s.add_argument("--name", required=True, help="printed name shown on signed records")
    s.add_argument("--title", help="role shown on signed records, e.g. 'Clinical QA'")
    s.add_argument("--by", metavar="ADMIN", help="the administrator who authorises this signer")
    _common(s)
    s.set_defaults(func=cmd_signer_add)
    s = signer_sub.add_parser(
        "rekey",
        help="give a signer a new key and password (signed with their old key, or by an admin)",
        description="Without --by the signer re-keys themself with their current password (the "
        "old key signs the new one); an administrator re-keys someone whose password is lost. "
        "With --password-stdin: the authorising password first, then the new one.",
    )
    s.add_argument("signer_id", metavar="ID")
    s.add_argument("--by", metavar="ADMIN", help="an administrator, instead of the signer")
    _common(s)
    s.set_defaults(func=cmd_signer_rekey)
    admin_acts = (
        ("grant-admin", "make a signer an administrator"),
        ("endorse", "confirm a signer an older nbmlops added unauthorised"),
        ("unlock", "lift a signer's lockout before it expires"),
    )
    for action, text in admin_acts:
        s = signer_sub.add_parser(action, help=f"{text} (signed by an administrator)")
        s.add_argument("signer_id", metavar="ID")
        s.add_argument("--by", metavar="ADMIN", required=True, help="an administrator")
        _common(s)
        s.set_defaults(func=cmd_signer_admin_act)
    s = signer_sub.add_parser("list", help="list signers, with the names the ledger recorded")
    s.add_argument("--all", action="store_true", help="include deactivated signers")
    s.add_argument("--root", default=".", help="project root (holds .nbmlops/)")
    s.set_defaults(func=cmd_signer_list)
    s = signer_sub.add_parser("deactivate", help="stop a signer from signing")
    s.add_argument("signer_id", metavar="ID")
    s.add_argument("--reason", help="why (recorded in the ledger)")
    s.add_argument("--root", default=".", help="project root (holds .nbmlops/)")
    s.set_defaults(func=cmd_signer_deactivate)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--password-stdin", action="store_true", help="read passwords from stdin, one a line"
    )
    parser.add_argument("--root", default=".", help="project root (holds .nbmlops/)")
