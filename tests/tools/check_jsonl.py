#!/usr/bin/env python3
"""Validate JSONL event files against the v1 event schema.

Reads every ``*.jsonl`` file in DIR (a filesystem backend writes one file per process and
more when it rotates; pass --recursive to descend into sub-directories), validates every line
against tests/schema/event-v1.schema.json, and optionally checks the idempotency keys:

  --expect-distinct N   exactly N distinct idempotency keys
  --no-duplicates       no idempotency key appears on more than one line
  --expect-kind K=N     exactly N events of kind K (repeatable)
  --expect-lines N      exactly N lines in total

Validation uses the `jsonschema` package; when `fastjsonschema` is installed too, it
pre-screens lines ~50x faster and jsonschema re-checks every line it rejects plus a sample of
the ones it accepts (tests/requirements.txt installs both).

Exit code 0 when everything holds, 1 on any failure (each failure is printed on stderr), 2 on
usage errors.  The last line on stdout is a one-line summary.

Examples:
  check_jsonl.py ./monitoring-events
  check_jsonl.py out/events --expect-distinct 100014 --no-duplicates --expect-kind log=100000
"""

import argparse
import collections
import glob
import json
import os
import sys

try:
    import jsonschema
except ImportError:  # pragma: no cover - environment problem, not a test failure
    sys.stderr.write("check_jsonl.py: the 'jsonschema' package is missing: "
                     "pip install -r tests/requirements.txt\n")
    sys.exit(2)

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_SCHEMA = os.path.join(HERE, "..", "schema", "event-v1.schema.json")
MAX_REPORTED = 20  # print at most this many individual problems of each sort
PARALLEL_MIN_LINES = 5000  # below this many lines per worker, one process is faster
CROSS_CHECK_EVERY = 50  # see _is_valid


def kind_count(text):
    kind, sep, count = text.partition("=")
    if not sep or not kind:
        raise argparse.ArgumentTypeError("expected KIND=N, got %r" % text)
    try:
        return kind, int(count)
    except ValueError:
        raise argparse.ArgumentTypeError("expected KIND=N with an integer N, got %r" % text)


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("dir", help="directory holding *.jsonl files")
    p.add_argument("--schema", default=DEFAULT_SCHEMA, help="JSON Schema file (default: %(default)s)")
    p.add_argument("--recursive", action="store_true", help="also read *.jsonl in sub-directories")
    p.add_argument("--expect-distinct", type=int, metavar="N",
                   help="exactly N distinct idempotency keys")
    p.add_argument("--no-duplicates", action="store_true",
                   help="fail when an idempotency key appears on more than one line")
    p.add_argument("--expect-lines", type=int, metavar="N", help="exactly N lines in total")
    p.add_argument("--jobs", type=int, metavar="N",
                   help="validate in N processes (default: 1 with fastjsonschema, else the number of CPUs)")
    p.add_argument("--expect-kind", type=kind_count, action="append", default=[], metavar="KIND=N",
                   help="exactly N events of this kind (repeatable)")
    return p.parse_args(argv)


_validator = None  # jsonschema: the validator of record, and the error messages
_fast = None  # fastjsonschema (optional): a compiled pre-screen, ~50x faster


def _init_worker(schema):
    global _validator, _fast
    _validator = jsonschema.Draft202012Validator(schema)
    try:
        import fastjsonschema
        _fast = fastjsonschema.compile(schema)
    except Exception:  # not installed, or cannot compile this schema: jsonschema only
        _fast = None


def _is_valid(event, index):
    """jsonschema decides. With fastjsonschema available, a line it accepts is taken as
    valid, except every CROSS_CHECK_EVERY-th line, which jsonschema validates too (and a
    disagreement is reported as a failure of the checker itself)."""
    if _fast is None:
        return _validator.is_valid(event)
    try:
        _fast(event)
    except Exception:
        return _validator.is_valid(event)
    if index % CROSS_CHECK_EVERY == 0 and not _validator.is_valid(event):
        raise RuntimeError("fastjsonschema accepted an event that jsonschema rejects; "
                           "uninstall fastjsonschema or fix the schema: %r" % (event,))
    return True


def _check_chunk(entries):
    """Validates (where, raw) lines; returns (problems, invalid count, [(key, where)], kinds)."""
    problems, keys, kinds, invalid = [], [], collections.Counter(), 0
    for index, (where, raw) in enumerate(entries):
        if not raw.strip():
            problems.append("%s: empty line" % where)
            invalid += 1
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            problems.append("%s: not UTF-8: %s" % (where, e))
            invalid += 1
            continue
        try:
            event = json.loads(text)
        except ValueError as e:
            problems.append("%s: not JSON: %s: %.120s" % (where, e, text))
            invalid += 1
            continue
        if not _is_valid(event, index):
            invalid += 1
            errors = sorted(_validator.iter_errors(event), key=lambda e: [str(x) for x in e.absolute_path])
            for err in errors[:3]:
                path_s = ".".join(str(x) for x in err.absolute_path) or "(top level)"
                problems.append("%s: schema: at %s: %s" % (where, path_s, err.message))
        if isinstance(event, dict):
            key = event.get("idempotency_key")
            if isinstance(key, str):
                keys.append((key, where))
            ev = event.get("event")
            if isinstance(ev, dict) and isinstance(ev.get("kind"), str):
                kinds[ev["kind"]] += 1
    return problems, invalid, keys, kinds


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    failures = []

    def fail(msg):
        failures.append(msg)
        if len(failures) <= MAX_REPORTED:
            sys.stderr.write("check_jsonl: FAIL: %s\n" % msg)
        elif len(failures) == MAX_REPORTED + 1:
            sys.stderr.write("check_jsonl: (further failures not printed)\n")

    if not os.path.isdir(args.dir):
        sys.stderr.write("check_jsonl: %s is not a directory\n" % args.dir)
        return 1
    try:
        with open(args.schema, encoding="utf-8") as f:
            schema = json.load(f)
        jsonschema.Draft202012Validator.check_schema(schema)
    except (OSError, ValueError, jsonschema.SchemaError) as e:
        sys.stderr.write("check_jsonl: cannot load schema %s: %s\n" % (args.schema, e))
        return 2

    pattern = os.path.join(args.dir, "**", "*.jsonl") if args.recursive else os.path.join(args.dir, "*.jsonl")
    files = sorted(glob.glob(pattern, recursive=args.recursive))
    if not files:
        fail("no *.jsonl file in %s" % args.dir)

    # Read every line, then validate in chunks, in parallel for big inputs: jsonschema alone
    # takes about half a millisecond per event (100,000 events: a minute on one core), hence
    # also the optional fastjsonschema pre-screen (see _is_valid).
    entries = []  # (where, raw line without its newline)
    for path in files:
        with open(path, "rb") as f:
            for lineno, raw in enumerate(f, 1):
                where = "%s:%d" % (os.path.relpath(path), lineno)
                if not raw.endswith(b"\n"):
                    fail("%s: last line is not terminated by a newline (torn write?)" % where)
                entries.append((where, raw.rstrip(b"\r\n")))
    lines = len(entries)
    if args.jobs is None:
        try:
            import fastjsonschema  # noqa: F401  (fast enough in one process)
            args.jobs = 1
        except ImportError:
            args.jobs = os.cpu_count() or 1
    jobs = max(1, min(args.jobs, lines // PARALLEL_MIN_LINES))
    size = (lines + jobs - 1) // jobs if lines else 1
    chunks = [entries[i:i + size] for i in range(0, lines, size)]
    if jobs > 1:
        import multiprocessing
        with multiprocessing.Pool(jobs, initializer=_init_worker, initargs=(schema,)) as pool:
            results = pool.map(_check_chunk, chunks)
    else:
        _init_worker(schema)
        results = [_check_chunk(c) for c in chunks]

    keys = collections.Counter()
    first_seen = {}
    kinds = collections.Counter()
    invalid = 0
    for problems, n_invalid, chunk_keys, chunk_kinds in results:
        for msg in problems:
            fail(msg)
        invalid += n_invalid
        for key, where in chunk_keys:
            keys[key] += 1
            first_seen.setdefault(key, where)
        kinds.update(chunk_kinds)

    duplicates = {k: n for k, n in keys.items() if n > 1}
    if args.no_duplicates and duplicates:
        fail("%d idempotency keys appear more than once (%d extra lines)"
             % (len(duplicates), sum(n - 1 for n in duplicates.values())))
        for k, n in list(duplicates.items())[:5]:
            fail("  key %s appears %d times (first at %s)" % (k, n, first_seen[k]))
    if args.expect_distinct is not None and len(keys) != args.expect_distinct:
        fail("expected %d distinct idempotency keys, found %d (in %d lines)"
             % (args.expect_distinct, len(keys), lines))
    if args.expect_lines is not None and lines != args.expect_lines:
        fail("expected %d lines, found %d" % (args.expect_lines, lines))
    for kind, n in args.expect_kind:
        if kinds.get(kind, 0) != n:
            fail("expected %d events of kind %r, found %d" % (n, kind, kinds.get(kind, 0)))

    kinds_s = ", ".join("%s=%d" % kv for kv in sorted(kinds.items()))
    summary = ("%s: %d files, %d lines, %d schema-invalid, %d distinct keys, %d duplicated keys; kinds: %s"
               % (args.dir, len(files), lines, invalid, len(keys), len(duplicates), kinds_s or "-"))
    if failures:
        print("FAIL " + summary)
        return 1
    print("OK " + summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
