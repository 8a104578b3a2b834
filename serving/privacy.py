"""Forgetting a customer: ``DELETE /customers/{id}`` and ``shelfwise forget CUSTOMER_ID``.

In this order, so that nothing answers for the customer once the call returns:

1. the live store puts the id on its forgotten list and deletes the customer's live events
   and those of their sessions; every worker of the service checks that list before
   answering for a customer, so from here on no endpoint returns them (recommendations
   fall back to what an unknown visitor gets, scores and offers are 404, segments and
   exports leave them out);
2. every file of the workspace loses the customer's rows (:func:`features.privacy.erase_from_files`:
   orders, events, derived tables, rejects, feature snapshots, plan exports, the offer
   decision log; the command log has the id blanked), so the next training run, which
   reads those files, excludes them; later imports of old files leave them out too;
3. an audit record (who, when, which customer, what was removed and how many rows) is
   appended to ``audit/erasures.jsonl``.

The models already registered in MLflow keep the customer's factor row until the next
training run replaces them; the service never reads it for a forgotten id (step 1).
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
import time
from datetime import UTC, datetime

from features.privacy import erase_from_files
from features.workspace import Settings, Workspace


def forget(workspace: Workspace, customer_id: str, who: str, store=None) -> dict:
    """Erase ``customer_id`` everywhere; returns the audit record it wrote."""
    t0 = time.perf_counter()
    store = store or workspace.live_store()
    removed = {"live events": store.forget_customer(customer_id)}
    removed.update(erase_from_files(workspace.home, customer_id))
    record = {"at": datetime.now(UTC).isoformat(timespec="seconds"), "who": who,
              "action": "forget", "customer_id": customer_id,
              "removed": {k: v for k, v in removed.items() if v}, "rows_removed": sum(removed.values()),
              "seconds": round(time.perf_counter() - t0, 2)}
    audit = workspace.home / "audit"
    audit.mkdir(parents=True, exist_ok=True)
    with open(audit / "erasures.jsonl", "a") as f:
        f.write(json.dumps(record) + "\n")
    return record


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
