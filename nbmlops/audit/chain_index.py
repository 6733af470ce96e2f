"""One pass over the ledger: what the audit's cross-checks need to know about the chain."""

from __future__ import annotations

from pathlib import Path

from nbmlops.errors import LedgerTamperedError
from nbmlops.records.archive import ARCHIVED_EVENT, archived_digests
from nbmlops.records.ledger import (
    GENESIS,
    LedgerEntry,
    LedgerReport,
    ledger_path,
    read_entries,
)

__all__ = ["ChainIndex", "scan_chain"]


class ChainIndex:
    """What the cross-checks need from one pass over the chain (about 100 bytes per entry)."""

    def __init__(self) -> None:
        self.hashes: list[str] = []
        self.seq_of: dict[str, int] = {}
        self.started: dict[str, tuple[int, str]] = {}
        self.finished: dict[str, tuple[int, str]] = {}
        self.runs: set[str] = set()
        self.evidence: set[str] = set()
        self.decision_hashes: set[str] = set()
        self.decision_files: set[str] = set()  # record digests of review_signed entries
        self.decisions = 0

    def add(self, entry: LedgerEntry) -> None:
        self.seq_of[entry.hash] = len(self.hashes)
        self.hashes.append(entry.hash)
        if entry.run_id is not None:
            self.runs.add(entry.run_id)
            if entry.event == "run_started":
                self.started[entry.run_id] = (entry.seq, entry.ts)
            elif entry.event == "run_finished":
                self.finished[entry.run_id] = (entry.seq, entry.hash)
        if entry.event == ARCHIVED_EVENT:
            self.evidence.update(archived_digests(entry.data))
        if entry.event == "review_signed":
            self.decisions += 1
            self.decision_hashes.add(entry.hash)
            self.decision_files.add(f"{entry.data.get('record_digest')}.json")
            evidence = entry.data.get("evidence")  # a forged entry may hold anything here
            items = evidence.get("items") if isinstance(evidence, dict) else None
            if isinstance(items, list):
                self.evidence.update(str(i.get("digest")) for i in items if isinstance(i, dict))

    def at(self, seq: object, digest: object, what: str) -> str | None:
        """Why ``digest`` is not the ledger's entry at ``seq`` (None when it is)."""
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
            return f"{what} names no valid ledger seq ({seq!r})"
        if not isinstance(digest, str) or len(digest) != len(GENESIS):
            return f"{what} names no valid entry hash ({digest!r})"
        if seq >= len(self.hashes):
            return (
                f"{what} names entry seq {seq} (hash {digest[:16]}…), past the end of the ledger "
                f"({len(self.hashes)} entries): entries were removed"
            )
        if self.hashes[seq] != digest:
            elsewhere = self.seq_of.get(digest)
            moved = f"; that hash is at seq {elsewhere}" if elsewhere is not None else ""
            return (
                f"{what} names entry seq {seq} with hash {digest[:16]}…, the ledger holds "
                f"{self.hashes[seq][:16]}… there{moved}: the ledger was rewritten"
            )
        return None


def scan_chain(root: Path) -> tuple[ChainIndex, LedgerReport]:
    """One pass over the chain: the index of what verified, and the chain's own verdict."""
    index, path = ChainIndex(), ledger_path(root)
    head, problem = GENESIS, None
    try:
        for entry in read_entries(root):
            index.add(entry)
            head = entry.hash
    except LedgerTamperedError as found:
        problem = found
    report = LedgerReport(path=path, entries=len(index.hashes), head=head, problem=problem)
    return index, report
