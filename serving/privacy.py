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
command line does all three steps before it returns. One erasure rewrites files at a time
(a lock file), whichever process runs it.

The models already registered in MLflow keep the customer's factor row until the next
training run replaces them; the service never reads it for a forgotten id (step 1).
"""

from __future__ import annotations

import argparse
import fcntl
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
    else:
        pending = {"at": datetime.now(UTC).isoformat(timespec="seconds"), "who": who, "action": "forget",
                   "customer_id": customer_id, "live_events": removed, "started": time.time()}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(pending))
    os.replace(tmp, path)  # a record is whole or absent, whenever the process stops
    return pending


def finish(workspace: Workspace, customer_id: str) -> dict | None:
    """Steps 2 and 3 for a pending erasure; returns the audit record, or None when there
    was nothing pending (another process finished it)."""
    audit = workspace.home / "audit"
    audit.mkdir(parents=True, exist_ok=True)
    with open(audit / ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        path = _pending(workspace, customer_id)
        if not path.exists():
            return None
        pending = json.loads(path.read_text())
        removed = {"live events": pending["live_events"]}
        removed.update(erase_from_files(workspace.home, customer_id))
        record = {"at": pending["at"], "who": pending["who"], "action": "forget", "customer_id": customer_id,
                  "removed": {k: v for k, v in removed.items() if v}, "rows_removed": sum(removed.values()),
                  "seconds": round(time.time() - pending["started"], 2)}
        with open(audit / "erasures.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")
        path.unlink()
    return record


def forget(workspace: Workspace, customer_id: str, who: str, store=None) -> dict:
    """Erase ``customer_id`` everywhere, all three steps; returns the audit record."""
    begin(workspace, customer_id, who, store)
    # None only if a starting service picked the pending record up first; it has finished.
    return finish(workspace, customer_id) or erasure_status(workspace, customer_id)["record"]


def unfinished(workspace: Workspace) -> list[str]:
    """Customers whose erasure was begun and not finished (a service stopped mid-way)."""
    folder = workspace.home / "audit" / "pending"  # glob of a missing folder is empty
    return [json.loads(p.read_text())["customer_id"] for p in sorted(folder.glob("*.json"))]


def erasure_status(workspace: Workspace, customer_id: str) -> dict | None:
    """``{"status": "erasing"}`` while files are rewritten, ``{"status": "done", "record": ...}``
    with the audit record after, None if the customer was never forgotten."""
    if _pending(workspace, customer_id).exists():
        return {"customer_id": customer_id, "status": "erasing"}
    log = workspace.home / "audit" / "erasures.jsonl"
    records = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    done = [r for r in records if r["customer_id"] == customer_id]
    return {"customer_id": customer_id, "status": "done", "record": done[-1]} if done else None


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
    print(f"audit record -> {ws.home / 'audit' / 'erasures.jsonl'}; a running service stops answering "
          "for this customer at once, and the next training run excludes them")
    return 0


if __name__ == "__main__":
    sys.exit(main())
