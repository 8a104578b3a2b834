"""Forgetting a customer: ``DELETE /customers/{id}`` and ``shelfwise forget CUSTOMER_ID``.

In this order, so that nothing answers for the customer once the call returns:

1. the live store puts the id on its forgotten list and deletes the customer's live events
   and those of their sessions; every worker of the service checks that list before
   answering for a customer, so from here on no endpoint returns them (recommendations
   fall back to what an unknown visitor gets, scores and offers are 404, segments and
   exports leave them out); a pending record is written to ``audit/pending/``;
2. every file of the workspace loses the customer's rows (:func:`features.privacy.erase_from_files`:
   orders, events, derived tables, rejects, feature snapshots, plan exports, the offer
   decision log; the command log has the id blanked), so the next training run, which
   reads those files, excludes them; later imports of old files leave them out too;
3. an audit record (who, when, which customer, what was removed and how many rows) is
   appended to ``audit/erasures.jsonl`` and the pending record is removed.

The service does step 1 while the client waits and steps 2-3 in the background (202 and
``GET /customers/{id}/erasure``), since rewriting the files takes as long as the data is
big; a pending record left by a stopped service is finished when it starts again. The
command line does all three steps before it returns. Step 2 holds the workspace's write
lock (:meth:`Workspace.write_lock`), which every writer of the workspace takes: an import or
retrain that is running finishes first, and any table it writes leaves the customer out.

Replicas with their own workspaces (a networked live store, and a shared store,
:mod:`serving.runtime.shared_store`): step 1 reaches every replica at once through the live
store; step 2 erases the shared store's copy (offer decisions, score tables) once, whichever
replica gets there first, and each replica erases its own disk when it sees the id on the
forgotten list (:func:`forgotten_elsewhere`), with an audit record of its own.

The models already registered in MLflow keep the customer's factor row until the next
training run replaces them; the service never reads it for a forgotten id (step 1).
"""

from __future__ import annotations

import argparse
import getpass
import hashlib
import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from features.privacy import erase_from_files
from features.workspace import Settings, Workspace
from serving.runtime.shared_store import shared_store

ELSEWHERE = "forgotten through another replica"


def _pending(workspace: Workspace, customer_id: str) -> Path:
    # Hashed: an id may hold any character, a file name may not.
    return workspace.home / "audit" / "pending" / f"{hashlib.sha256(customer_id.encode()).hexdigest()}.json"


def begin(workspace: Workspace, customer_id: str, who: str, store=None) -> dict:
    """Step 1: no endpoint answers for ``customer_id`` from now on; returns the pending record."""
    store = store or workspace.live_store()
    removed = store.forget_customer(customer_id)
    path = _pending(workspace, customer_id)
    if path.exists():  # asked again while the files are rewritten: one erasure, one record
        pending = json.loads(path.read_text())
        pending["live_events"] += removed
        if pending["who"] == ELSEWHERE:  # a worker saw the id on the list a moment before this wrote it
            pending["who"] = who
    else:
        pending = _new_pending(customer_id, who, removed)
    _write_pending(path, pending)
    return pending


def _new_pending(customer_id: str, who: str, live_events: int) -> dict:
    return {"at": datetime.now(UTC).isoformat(timespec="seconds"), "who": who, "action": "forget",
            "customer_id": customer_id, "live_events": live_events, "started": time.time()}


def _write_pending(path: Path, pending: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")  # workers writing the same record never share one
    tmp.write_text(json.dumps(pending))
    os.replace(tmp, path)  # a record is whole or absent, whenever the process stops


def finish(workspace: Workspace, customer_id: str) -> dict | None:
    """Steps 2 and 3 for a pending erasure; returns the audit record, or None when there
    was nothing pending (another process finished it)."""
    records = finish_all(workspace, [customer_id])
    return records[0] if records else None


def finish_all(workspace: Workspace, customer_ids: list[str]) -> list[dict]:
    """Steps 2 and 3 for several pending erasures in one pass over the files (a replica
    catching up with the customers forgotten through others); an audit record each, with
    the rows removed in that pass, and ``erased_with`` saying how many others it erased."""
    audit = workspace.home / "audit"
    audit.mkdir(parents=True, exist_ok=True)
    # The workspace's one write lock: a retrain or import that runs now finishes first (writing
    # without the customer: the forgotten list applies to every table write), then this erases
    # whatever it wrote.
    with workspace.write_lock("erase a forgotten customer's rows"):
        paths = {c: _pending(workspace, c) for c in customer_ids}
        pending = {c: json.loads(p.read_text()) for c, p in paths.items() if p.exists()}
        if not pending:
            return []
        files = erase_from_files(workspace.home, pending)
        shared = shared_store(workspace.shared_store_url)
        records = []
        for customer_id, started in pending.items():
            # Another replica that heard of the forget first may have erased the shared copy: 0 rows.
            in_shared = shared.erase(customer_id) if shared is not None else {}
            removed = {"live events": started["live_events"], **files.removed, **in_shared}
            record = {"at": started["at"], "who": started["who"], "action": "forget",
                      "customer_id": customer_id, "removed": {k: v for k, v in removed.items() if v},
                      "rows_removed": sum(removed.values()),
                      "seconds": round(time.time() - started["started"], 2)}
            if len(pending) > 1:
                record["erased_with"] = len(pending) - 1
            if files.torn_lines:
                record["torn_lines"] = files.torn_lines
            if files.unreadable:
                record["unreadable"] = files.unreadable
            records.append(record)
        log = audit / "erasures.jsonl"
        with open(log, "ab") as f:  # the pass's records in one append
            torn = f.tell() > 0 and not log.read_bytes().endswith(b"\n")  # a line cut by a full disk
            f.write((b"\n" if torn else b"") + b"".join(json.dumps(r).encode() + b"\n" for r in records))
        for customer_id in pending:  # recorded: no longer pending
            paths[customer_id].unlink()
    return records


def forget(workspace: Workspace, customer_id: str, who: str, store=None) -> dict:
    """Erase ``customer_id`` everywhere, all three steps; returns the audit record."""
    begin(workspace, customer_id, who, store)
    # None only if a starting service picked the pending record up first; it has finished.
    return finish(workspace, customer_id) or erasure_status(workspace, customer_id)["record"]


def forgotten_elsewhere(workspace: Workspace, store) -> list[str]:
    """Customers on the live store's forgotten list whose rows this workspace still holds:
    forgotten through another replica, which erased its own files and the shared store but
    cannot reach this one's disk. Each gets a pending record here, for :func:`finish`."""
    erased = {r.get("customer_id") for r in _audit_records(workspace)}
    todo = sorted(store.forgotten_ids() - erased - set(unfinished(workspace)))
    for customer_id in todo:
        _write_pending(_pending(workspace, customer_id), _new_pending(customer_id, ELSEWHERE, 0))
    return todo


def unfinished(workspace: Workspace) -> list[str]:
    """Customers whose erasure was begun and not finished (a service stopped mid-way)."""
    folder = workspace.home / "audit" / "pending"  # glob of a missing folder is empty
    return [json.loads(p.read_text())["customer_id"] for p in sorted(folder.glob("*.json"))]


RETRY_HINT = ("fix or delete the files named in `unreadable`, then forget the customer again "
              "(`shelfwise forget ID` or DELETE /customers/{id}); every other file is erased already")


def _audit_records(workspace: Workspace) -> list[dict]:
    log = workspace.home / "audit" / "erasures.jsonl"
    records = []
    if log.exists():
        for line in log.read_text(errors="replace").splitlines():
            try:
                records.append(json.loads(line))
            except ValueError:  # a line torn by a full disk: the others still count
                continue
    return [r for r in records if isinstance(r, dict)]


def erasure_status(workspace: Workspace, customer_id: str) -> dict | None:
    """``{"status": "erasing"}`` while files are rewritten, then ``done`` with the audit
    record, or ``failed`` with it and the reason when some files could not be read (the
    rest are erased); None if the customer was never forgotten."""
    if _pending(workspace, customer_id).exists():
        return {"customer_id": customer_id, "status": "erasing"}
    done = [r for r in _audit_records(workspace) if r.get("customer_id") == customer_id]
    if not done:
        return None
    record = done[-1]
    if record.get("unreadable"):
        return {"customer_id": customer_id, "status": "failed", "record": record,
                "reason": f"{len(record['unreadable'])} file(s) could not be read: "
                          f"{', '.join(record['unreadable'])}; {RETRY_HINT}"}
    return {"customer_id": customer_id, "status": "done", "record": record}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="shelfwise forget", description=__doc__.splitlines()[0])
    p.add_argument("customer_id")
    p.add_argument("--who", default=None, help="who asked, for the audit record (default: cli:$USER)")
    args = p.parse_args(argv)
    ws = Workspace.from_settings(Settings())
    record = forget(ws, args.customer_id, args.who or f"cli:{getpass.getuser()}")
    print(f"forgot customer {args.customer_id}: {record['rows_removed']:,} rows removed "
          f"in {record['seconds']:.1f}s")
    for where, n in record["removed"].items():
        print(f"  {where}: {n:,}")
    for where, n in record.get("torn_lines", {}).items():
        print(f"  {where}: {n:,} torn lines (not a record) skipped")
    for where, why in record.get("unreadable", {}).items():
        print(f"  {where}: NOT ERASED, {why}", file=sys.stderr)
    if record.get("unreadable"):
        print(f"error: {RETRY_HINT}", file=sys.stderr)
    print(f"audit record -> {ws.home / 'audit' / 'erasures.jsonl'}; a running service stops answering "
          "for this customer at once, and the next training run excludes them")
    return 1 if record.get("unreadable") else 0


if __name__ == "__main__":
    sys.exit(main())
