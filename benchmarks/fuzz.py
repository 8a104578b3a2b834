"""``python -m benchmarks.fuzz --url http://127.0.0.1:3000 --key ADMIN_KEY``: requests generated
from the service's own OpenAPI document, checked against it.

`Schemathesis <https://schemathesis.readthedocs.io>`_ reads ``/docs.json`` and, for every
operation, sends the documented examples, boundary values, random valid and invalid bodies
and chains of calls, for ``--seconds`` or, with ``--examples N``, up to N cases per operation
whatever the machine's speed (what the test suite runs). Every answer must be a non-5xx with
the documented status, content type and schema; a 503 saying a model family has no champion
is the documented answer of a service whose workspace could not train it
(``benchmarks.fuzz_checks``). ``DELETE /customers/{id}`` is left out (each call erases a
customer). Prints ``N requests, F failures`` and exits 1 on any failure or on any schema
error (an operation schemathesis could not generate requests for).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys

CHECKS = ("not_a_server_error_but_an_untrained_family,status_code_conformance,content_type_conformance,"
          "response_schema_conformance")
HOOKS = "benchmarks.fuzz_checks"  # defines the first check


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", default="http://127.0.0.1:3000")
    p.add_argument("--key", default=os.environ.get("SHELFWISE_API_KEY"), help="an admin API key")
    p.add_argument("--seconds", type=int, default=600, help="time budget of the whole run")
    p.add_argument("--examples", type=int, help="cases per operation instead of a time budget")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if not args.key:
        p.error("give an admin API key: --key KEY or SHELFWISE_API_KEY (`shelfwise keys create`)")
    exe = shutil.which("schemathesis", path=os.path.dirname(sys.executable)) or "schemathesis"
    # Every POST says its body is JSON, even one without a body (serving.api.limits refuses others).
    cmd = [exe, "run", f"{args.url}/docs.json", "-H", f"Authorization: Bearer {args.key}",
           "-H", "Content-Type: application/json",
           "--checks", CHECKS, "--exclude-method", "DELETE", "--workers", "2", "--seed", str(args.seed),
           "--no-color", *(["--max-examples", str(args.examples)] if args.examples else
                           ["--max-time", str(args.seconds)])]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "NO_COLOR": "1", "SCHEMATHESIS_HOOKS": HOOKS,
           "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    text = out.stdout + out.stderr
    summary = text[text.rfind("SUMMARY"):]
    generated = re.search(r"(\d+) generated", summary)
    failures = re.search(r"(\d+) unique failures", summary)
    errors = set(re.findall(r"^_+ (\w+ \S+) _+\n(?:Schema Error)", text, re.M))
    n, f = int(generated.group(1)) if generated else 0, int(failures.group(1)) if failures else 0
    if f or errors or not generated:
        print(text[-20000:])
    budget = f"{args.examples} cases per operation" if args.examples else f"{args.seconds} s"
    print(f"fuzz: {n} requests, {f} failures in {budget} "
          f"({'schema errors: ' + ', '.join(sorted(errors)) if errors else 'no schema errors'})")
    return 1 if f or errors or not generated else 0


if __name__ == "__main__":
    sys.exit(main())
