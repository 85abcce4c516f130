#!/usr/bin/env python3
"""Judge one conformance run. All comparison logic of the suite lives here.

    check.py SCENARIO.json RESULTS.jsonl OUT_DIR    compare one driver run, exit 0 (pass) / 1 (fail)
    check.py --lint SCENARIO.json...                validate scenario files only, exit 0 / 1

See README.md beside this file for the scenario, results and placeholder formats.
Standard library only (Python >= 3.8).
"""
import datetime
import json
import math
import os
import re
import sys

STATUSES = ("ok", "invalid_argument", "config", "queue_full", "timeout",
            "shutdown", "io", "internal")
# statuses a driver may record besides the library's own
DRIVER_STATUSES = ("driver_error", "unsupported")
SPECIAL_NUMBERS = ("NaN", "Infinity", "-Infinity")

# op -> (required keys, optional keys); "op" and "expect" are allowed everywhere
OPS = {
    "emit": ((), ("event", "event_json", "event_hex")),
    "job_start": (("job", "name"), ("entity_type", "parent", "parent_id")),
    "job_progress": (("job", "percent"), ("message",)),
    "job_metric": (("job", "name", "value"), ()),
    "job_metadata": (("job", "key", "value"), ()),
    "job_finish": (("job", "status"), ("message",)),
    "flush": ((), ("timeout_ms",)),
    "shutdown": ((), ("timeout_ms",)),
    "stats": ((), ()),
    "sleep": (("ms",), ()),
}
EXPECT_KEYS = ("status", "error_field", "error_contains", "error_matches", "value_includes")
SCENARIO_KEYS = ("name", "description", "config", "configure_expect", "steps", "expected_events")

UUID7_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
TS_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")
PH_RE = re.compile(r"^\{\{(.+)\}\}$", re.S)
COND_RE = re.compile(r"^(>=|<=|==|>|<)(-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)$")
NOW_TOLERANCE_S = 900
# "now" for {{now}}: when the driver finished (RESULTS.jsonl's modification time), set in main()
CHECK_TIME = datetime.datetime.now(datetime.timezone.utc)


class ScenarioError(Exception):
    pass


def jdump(v, limit=400):
    s = json.dumps(v, ensure_ascii=False, sort_keys=False)
    return s if len(s) <= limit else s[:limit] + "...(%d chars)" % len(s)


def is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


# ---------------------------------------------------------------- placeholders

def parse_placeholder(s):
    """Return (kind, arg) for a placeholder string, None for a literal string."""
    m = PH_RE.match(s)
    if not m:
        return None
    body = m.group(1)
    if body.startswith("number"):
        conds = []
        rest = body[len("number"):]
        if rest:
            for c in rest.split(","):
                cm = COND_RE.match(c.strip())
                if not cm:
                    raise ScenarioError("bad number condition %r in placeholder %s" % (c, s))
                conds.append((cm.group(1), float(cm.group(2))))
        return ("number", conds)
    kind, sep, arg = body.partition(":")
    if kind in ("any", "uuid7") and not sep:
        return (kind, None)
    if kind in ("any", "uuid7", "job_id") and sep and arg:
        return (kind, arg)
    if kind in ("string", "timestamp", "now") and not sep:
        return (kind, None)
    if kind == "regex" and sep:
        try:
            return (kind, re.compile(arg, re.S))
        except re.error as e:
            raise ScenarioError("bad regex in placeholder %s: %s" % (s, e))
    raise ScenarioError("unknown placeholder %s" % s)


def describe_placeholder(s, ph):
    kind, arg = ph
    if kind == "any":
        d = "any value" + ("" if arg is None else " (label %s)" % arg)
    elif kind == "string":
        d = "any string"
    elif kind == "uuid7":
        d = "a lowercase UUIDv7" + ("" if arg is None else " (label %s)" % arg)
    elif kind == "job_id":
        d = "the id job_start returned for job %s" % arg
    elif kind == "timestamp":
        d = "an RFC 3339 UTC timestamp with 6 fractional digits and Z"
    elif kind == "now":
        d = "an RFC 3339 UTC timestamp (6 digits, Z) within %ds of the run" % NOW_TOLERANCE_S
    elif kind == "number":
        d = "a finite number" + "".join(" %s %g" % (op, lim) for op, lim in arg)
    else:
        d = "a string matching /%s/" % arg.pattern
    return "%s %s" % (d, s)


def uuid7_problem(v):
    if not isinstance(v, str) or not UUID7_RE.match(v):
        return "not a lowercase canonical UUIDv7"
    ms = int(v[:8] + v[9:13], 16)
    when = datetime.datetime.fromtimestamp(ms / 1000.0, datetime.timezone.utc)
    if when.year < 2020 or when > CHECK_TIME + datetime.timedelta(days=1):
        return "UUIDv7 timestamp %s is implausible" % when.isoformat()
    return None


def timestamp_problem(v):
    if not isinstance(v, str) or not TS_RE.match(v):
        return "not YYYY-MM-DDTHH:MM:SS.ffffffZ"
    try:
        datetime.datetime.strptime(v, "%Y-%m-%dT%H:%M:%S.%fZ")
    except ValueError as e:
        return "not a valid date/time (%s)" % e
    return None


def bind(label, value, bindings, distinct):
    """Bind label to value; distinct labels (uuid7/job_id) must hold distinct values.
    Returns a problem string or None."""
    key = label
    if key in bindings:
        if bindings[key] != value:
            return "label %s is already bound to %s" % (label.split(":", 1)[1], jdump(bindings[key]))
        return None
    if distinct:
        for other, ov in bindings.items():
            if other.startswith("id:") and ov == value:
                return "value is already bound to label %s (distinct labels need distinct ids)" % other[3:]
    bindings[key] = value
    return None


def match_placeholder(s, ph, act, path, bindings):
    kind, arg = ph
    prob = None
    if kind == "any":
        if arg is not None:
            prob = bind("any:" + arg, act, bindings, False)
    elif kind == "string":
        if not isinstance(act, str):
            prob = "not a string"
    elif kind in ("uuid7", "job_id"):
        prob = uuid7_problem(act)
        if prob is None and arg is not None:
            prob = bind("id:" + arg, act, bindings, True)
    elif kind == "timestamp":
        prob = timestamp_problem(act)
    elif kind == "now":
        prob = timestamp_problem(act)
        if prob is None:
            t = datetime.datetime.strptime(act, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
                tzinfo=datetime.timezone.utc)
            skew = (t - CHECK_TIME).total_seconds()
            if abs(skew) > NOW_TOLERANCE_S:
                prob = "%.0f s away from the time of the run (local time mislabelled as UTC?)" % skew
    elif kind == "number":
        if not is_number(act) or not math.isfinite(act):
            prob = "not a finite number"
        else:
            for op, lim in arg:
                ok = {">=": act >= lim, "<=": act <= lim, "==": act == lim,
                      ">": act > lim, "<": act < lim}[op]
                if not ok:
                    prob = "violates %s %g" % (op, lim)
                    break
    elif kind == "regex":
        if not isinstance(act, str) or not arg.fullmatch(act):
            prob = "no match"
    if prob:
        return ["%s: expected %s, got %s (%s)" % (path or "<root>", describe_placeholder(s, ph),
                                                  jdump(act), prob)]
    return []


# ---------------------------------------------------------------- structural matching

def match(exp, act, path, bindings, subset=False):
    """Compare expected (with placeholders) to actual; return a list of diff strings.
    Mutates bindings (callers pass a copy when they may backtrack)."""
    where = path or "<root>"
    if isinstance(exp, str):
        ph = parse_placeholder(exp)
        if ph is not None:
            return match_placeholder(exp, ph, act, path, bindings)
        if act != exp:
            return ["%s: expected %s, got %s" % (where, jdump(exp), jdump(act))]
        return []
    if exp is None or isinstance(exp, bool):
        if act is not exp:
            return ["%s: expected %s, got %s" % (where, jdump(exp), jdump(act))]
        return []
    if is_number(exp):
        if not is_number(act) or act != exp:
            return ["%s: expected %s, got %s" % (where, jdump(exp), jdump(act))]
        return []
    if isinstance(exp, list):
        if not isinstance(act, list):
            return ["%s: expected an array, got %s" % (where, jdump(act))]
        if len(exp) != len(act):
            return ["%s: expected %d elements, got %d: %s" % (where, len(exp), len(act), jdump(act))]
        diffs = []
        for i, (e, a) in enumerate(zip(exp, act)):
            diffs += match(e, a, "%s[%d]" % (path, i), bindings, subset)
        return diffs
    if isinstance(exp, dict):
        if not isinstance(act, dict):
            return ["%s: expected an object, got %s" % (where, jdump(act))]
        diffs = []
        for k, e in exp.items():
            p = k if not path else path + "." + k
            if k not in act:
                diffs.append("%s: missing (expected %s)" % (p, jdump(e)))
            else:
                diffs += match(e, act[k], p, bindings, subset)
        if not subset:
            for k in act:
                if k not in exp:
                    p = k if not path else path + "." + k
                    diffs.append("%s: unexpected key (value %s)" % (p, jdump(act[k])))
        return diffs
    raise ScenarioError("unsupported expected value at %s: %r" % (where, exp))


def walk_placeholders(v, fn):
    if isinstance(v, str):
        ph = parse_placeholder(v)
        if ph is not None:
            fn(v, ph)
    elif isinstance(v, list):
        for x in v:
            walk_placeholders(x, fn)
    elif isinstance(v, dict):
        for x in v.values():
            walk_placeholders(x, fn)


# ---------------------------------------------------------------- scenario loading / lint

def strict_load(text, what):
    def bad_constant(c):
        raise ValueError("non-standard JSON constant %s" % c)
    try:
        return json.loads(text, parse_constant=bad_constant)
    except ValueError as e:
        raise ScenarioError("%s: invalid JSON: %s" % (what, e))


def is_numarg(v):
    return (is_number(v)) or v in SPECIAL_NUMBERS


def lint(sc, fname):
    """Raise ScenarioError on any problem in a scenario object."""
    def need(cond, msg):
        if not cond:
            raise ScenarioError("%s: %s" % (fname, msg))
    need(isinstance(sc, dict), "top level must be an object")
    for k in sc:
        need(k in SCENARIO_KEYS, "unknown top-level key %r" % k)
    for k in ("name", "description", "config", "steps", "expected_events"):
        need(k in sc, "missing key %r" % k)
    need(isinstance(sc["name"], str) and re.match(r"^[a-z0-9_]+$", sc["name"]),
         "name must be [a-z0-9_]+")
    base = os.path.basename(fname)
    need(base == sc["name"] + ".json" or not base.endswith(".json"),
         "file name must be NAME.json (name is %r)" % sc["name"])
    need(isinstance(sc["config"], dict), "config must be an object")
    need(isinstance(sc["steps"], list), "steps must be an array")
    need(isinstance(sc["expected_events"], list), "expected_events must be an array")
    lint_expect(sc.get("configure_expect", {}), "configure_expect", need)
    open_jobs, all_jobs = set(), set()
    for i, st in enumerate(sc["steps"]):
        w = "steps[%d]" % i
        need(isinstance(st, dict) and isinstance(st.get("op"), str), w + ": needs an op")
        op = st["op"]
        need(op in OPS, w + ": unknown op %r" % op)
        req, opt = OPS[op]
        for k in st:
            need(k in req or k in opt or k in ("op", "expect"), "%s (%s): unknown key %r" % (w, op, k))
        for k in req:
            need(k in st, "%s (%s): missing key %r" % (w, op, k))
        lint_expect(st.get("expect", {}), w + ".expect", need)
        if op == "emit":
            forms = [k for k in ("event", "event_json", "event_hex") if k in st]
            need(len(forms) == 1, w + ": emit needs exactly one of event, event_json, event_hex")
            if "event" in st:
                need(isinstance(st["event"], dict), w + ": event must be an object")
            elif "event_json" in st:
                need(isinstance(st["event_json"], str) and "\u0000" not in st["event_json"],
                     w + ": event_json must be a string without NUL")
            else:
                h = st["event_hex"]
                need(isinstance(h, str) and re.match(r"^(?:[0-9a-fA-F]{2})*$", h) and "00" not in
                     [h[j:j + 2] for j in range(0, len(h), 2)],
                     w + ": event_hex must be hex pairs without 00 bytes")
        if op.startswith("job_"):
            need(isinstance(st["job"], str) and st["job"], w + ": job must be a label")
        if op == "job_start":
            need(st["job"] not in all_jobs, w + ": job label %r reused" % st["job"])
            need(isinstance(st["name"], str), w + ": name must be a string")
            need(st.get("entity_type") is None or isinstance(st["entity_type"], str),
                 w + ": entity_type must be string or null")
            need(not ("parent" in st and "parent_id" in st), w + ": give parent or parent_id, not both")
            if st.get("parent") is not None:
                need(st["parent"] in open_jobs, w + ": parent %r is not an open job" % st["parent"])
            need(st.get("parent_id") is None or isinstance(st["parent_id"], str),
                 w + ": parent_id must be string or null")
            all_jobs.add(st["job"])
            if st.get("expect", {}).get("status", "ok") == "ok":
                open_jobs.add(st["job"])
        elif op.startswith("job_"):
            need(st["job"] in open_jobs, w + ": job %r is not open (not started, or finished)" % st["job"])
        if op == "job_progress":
            need(is_numarg(st["percent"]), w + ": percent must be a number or NaN/Infinity/-Infinity")
        if op in ("job_progress", "job_finish"):
            need(st.get("message") is None or isinstance(st["message"], str),
                 w + ": message must be string or null")
        if op == "job_metric":
            need(isinstance(st["name"], str) and is_numarg(st["value"]),
                 w + ": job_metric needs a string name and a numeric value")
        if op == "job_metadata":
            need(isinstance(st["key"], str) and isinstance(st["value"], str),
                 w + ": job_metadata key and value must be strings")
        if op == "job_finish":
            need(isinstance(st["status"], str), w + ": status must be a string")
            open_jobs.discard(st["job"])   # the handle is gone whatever the result
        if op in ("flush", "shutdown"):
            t = st.get("timeout_ms", 5000)
            need(isinstance(t, int) and not isinstance(t, bool) and 0 <= t < 2 ** 32,
                 w + ": timeout_ms must be an integer 0..2^32-1")
        if op == "sleep":
            need(isinstance(st["ms"], int) and 0 <= st["ms"] <= 60000, w + ": ms must be 0..60000")
    for i, ev in enumerate(sc["expected_events"]):
        need(isinstance(ev, dict), "expected_events[%d] must be an object" % i)
        lint_event_shape(ev, "%s: expected_events[%d]" % (fname, i))

        def check_ph(s, ph):
            if ph[0] == "job_id":
                need(ph[1] in all_jobs, "expected_events[%d]: %s names no job_start label" % (i, s))
        try:
            walk_placeholders(ev, check_ph)
        except ScenarioError as e:
            raise ScenarioError("%s: expected_events[%d]: %s" % (fname, i, e))
    if sc.get("configure_expect", {}).get("status", "ok") != "ok":
        need(not sc["expected_events"], "a scenario whose configure fails expects no events")


SCHEMA_V1 = {
    "": ("idempotency_key", "site_id", "app", "entity", "event"),
    "app": ("name", "version", "instance_id"),          # app_id may be added (earlier clients)
    "entity": ("type", "id", "parent_id", "business_key", "sub_key"),
    "event": ("kind", "at", "status", "progress", "message", "metrics", "metadata"),
}


def lint_event_shape(ev, where):
    """Every output event carries every schema key, so every expected event spells them out."""
    for part, keys in SCHEMA_V1.items():
        obj = ev if part == "" else ev.get(part)
        if not isinstance(obj, dict):
            raise ScenarioError("%s: %s must be an object" % (where, part))
        extra = set(obj) - set(keys) - ({"app_id"} if part == "app" else set())
        missing = set(keys) - set(obj)
        if missing or extra:
            raise ScenarioError("%s: %s keys: missing %s, unknown %s" % (
                where, part or "top-level", sorted(missing), sorted(extra)))


def lint_expect(ex, where, need):
    need(isinstance(ex, dict), where + " must be an object")
    for k in ex:
        need(k in EXPECT_KEYS, "%s: unknown key %r" % (where, k))
    need(ex.get("status", "ok") in STATUSES, "%s: unknown status %r" % (where, ex.get("status")))
    ec = ex.get("error_contains", [])
    ec = [ec] if isinstance(ec, str) else ec
    need(isinstance(ec, list) and all(isinstance(x, str) and x for x in ec),
         where + ".error_contains must be a non-empty string or a list of them")
    if "error_field" in ex:
        need(isinstance(ex["error_field"], str) and ex["error_field"], where + ".error_field must be a string")
    if "error_matches" in ex:
        try:
            re.compile(ex["error_matches"])
        except (re.error, TypeError) as e:
            raise ScenarioError("%s.error_matches: bad regex: %s" % (where, e))
    if ex.get("status", "ok") == "ok":
        need(not any(k in ex for k in ("error_field", "error_contains", "error_matches")),
             where + ": error_field/error_contains/error_matches need a non-ok status")


def load_scenario(path):
    with open(path, "rb") as f:
        sc = strict_load(f.read().decode("utf-8"), path)
    lint(sc, path)
    return sc


# ---------------------------------------------------------------- step results

def step_label(key, sc):
    if isinstance(key, int):
        return "step %d (%s)" % (key, sc["steps"][key]["op"])
    return "step %s" % key


PATH_CHARS = re.compile(r"[A-Za-z0-9_.\[\]]")


def names_field(text, field):
    """True when text contains field as a whole path: not inside or the prefix of a longer path
    (so "event.colour" is named by "event.colour: unknown field" but not by "event.colour.colour:")."""
    start = text.find(field)
    while start >= 0:
        end = start + len(field)
        before = text[start - 1] if start > 0 else " "
        after = text[end] if end < len(text) else " "
        if not PATH_CHARS.match(before) and not (PATH_CHARS.match(after) and after != "]"):
            return True
        start = text.find(field, start + 1)
    return False


def check_expect(key, ex, res, sc, fails, notes, bindings):
    label = step_label(key, sc)
    want = ex.get("status", "ok")
    got = res.get("status")
    err = res.get("error")
    if not isinstance(err, str):
        fails.append("%s: result line has no string \"error\": %s" % (label, jdump(res)))
        err = ""
    if got == "unsupported" and isinstance(key, int) and "event_hex" in sc["steps"][key]:
        notes.append("%s: driver cannot pass raw bytes; step skipped (%s)" % (label, err))
        return
    if got != want:
        fails.append("%s: expected status %s, got %s%s" % (
            label, want, jdump(got), (" (error: %s)" % jdump(err)) if err else ""))
        return
    if want != "ok":
        if not err.strip():
            fails.append("%s: status %s but the error text is empty" % (label, got))
        if "error_field" in ex and not names_field(err, ex["error_field"]):
            fails.append("%s: error text does not name the field %s (as a whole path): got %s" % (
                label, ex["error_field"], jdump(err)))
        ec = ex.get("error_contains", [])
        for s in [ec] if isinstance(ec, str) else ec:
            if s not in err:
                fails.append("%s: error text does not contain %s: got %s" % (label, jdump(s), jdump(err)))
        if "error_matches" in ex and not re.search(ex["error_matches"], err):
            fails.append("%s: error text does not match /%s/: got %s" % (
                label, ex["error_matches"], jdump(err)))
    if isinstance(key, int):
        st = sc["steps"][key]
        if st["op"] == "job_start" and got == "ok":
            jid = res.get("value")
            prob = uuid7_problem(jid)
            if prob:
                fails.append("%s: job id %s is %s" % (label, jdump(jid), prob))
            else:
                p = bind("id:" + st["job"], jid, bindings, True)
                if p:
                    fails.append("%s: job id %s: %s" % (label, jid, p))
        if "value_includes" in ex:
            if "value" not in res:
                fails.append("%s: result has no value" % label)
            else:
                for d in match(ex["value_includes"], res["value"], "value", dict(bindings), subset=True):
                    fails.append("%s: %s" % (label, d))


def check_results(sc, results_path, fails, notes, bindings):
    if not os.path.exists(results_path):
        fails.append("results file %s does not exist (driver crashed before configure?)" % results_path)
        return
    by_key = {}
    with open(results_path, "rb") as f:
        for n, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            try:
                res = strict_load(raw.decode("utf-8"), "results line %d" % n)
            except (ScenarioError, UnicodeDecodeError) as e:
                fails.append("results line %d: %s" % (n, e))
                continue
            if not isinstance(res, dict) or "step" not in res:
                fails.append("results line %d: not an object with \"step\": %s" % (n, raw[:200]))
                continue
            k = res["step"]
            if isinstance(k, bool) or not isinstance(k, (int, str)):
                fails.append("results line %d: bad step %s" % (n, jdump(k)))
                continue
            if k in by_key:
                fails.append("results line %d: step %s recorded twice" % (n, jdump(k)))
            by_key[k] = res
            if res.get("status") not in STATUSES + DRIVER_STATUSES:
                fails.append("results line %d: unknown status %s" % (n, jdump(res.get("status"))))
    steps = sc["steps"]
    keys = ["configure"]
    cfg_ok = sc.get("configure_expect", {}).get("status", "ok") == "ok"
    if cfg_ok:
        keys += list(range(len(steps))) + ["final_flush", "final_shutdown"]
    for k in by_key:
        if k not in keys:
            fails.append("results: unexpected step %s: %s" % (jdump(k), jdump(by_key[k])))
    has_shutdown = any(s["op"] == "shutdown" for s in steps)
    for k in keys:
        if k not in by_key:
            fails.append("%s: no result recorded (driver stopped early?)" % step_label(k, sc))
            if k == "configure":
                return
            continue
        res = by_key[k]
        want_op = {"configure": "configure", "final_flush": "flush",
                   "final_shutdown": "shutdown"}.get(k) if not isinstance(k, int) else steps[k]["op"]
        if res.get("op") != want_op:
            fails.append("%s: result op is %s, expected %s" % (step_label(k, sc), jdump(res.get("op")), want_op))
        if k == "configure":
            ex = sc.get("configure_expect", {})
        elif k == "final_flush":
            ex = {"status": "shutdown" if has_shutdown else "ok"}
        elif k == "final_shutdown":
            ex = {"status": "ok"}
        else:
            ex = steps[k].get("expect", {})
        check_expect(k, ex, res, sc, fails, notes, bindings)
        if k == "configure" and res.get("status") != "ok" and cfg_ok:
            return   # nothing else can have run


# ---------------------------------------------------------------- events

def read_events(out_dir, fails):
    """Events from OUT_DIR/*.jsonl, files in name order, lines in file order."""
    events = []
    if not os.path.isdir(out_dir):
        fails.append("OUT_DIR %s does not exist" % out_dir)
        return events
    for fn in sorted(os.listdir(out_dir)):
        p = os.path.join(out_dir, fn)
        if not fn.endswith(".jsonl") or not os.path.isfile(p):
            continue
        with open(p, "rb") as f:
            data = f.read()
        if data and not data.endswith(b"\n"):
            fails.append("%s: last line is not newline-terminated" % fn)
        for n, raw in enumerate(data.split(b"\n"), 1):
            if not raw.strip():
                continue
            where = "%s:%d" % (fn, n)
            try:
                ev = strict_load(raw.decode("utf-8"), where)
            except UnicodeDecodeError as e:
                fails.append("%s: invalid UTF-8 in output: %s" % (where, e))
                continue
            except ScenarioError as e:
                fails.append(str(e))
                continue
            if not isinstance(ev, dict):
                fails.append("%s: not a JSON object: %s" % (where, jdump(ev)))
                continue
            events.append((where, ev))
    return events


def exp_summary(i, ev):
    e = ev.get("event") if isinstance(ev.get("event"), dict) else {}
    ent = ev.get("entity") if isinstance(ev.get("entity"), dict) else {}
    bits = ["kind=%s" % e.get("kind")]
    ph = parse_placeholder(ent["id"]) if isinstance(ent.get("id"), str) else None
    if ph and ph[0] == "job_id":
        bits.append("job %s" % ph[1])
    if e.get("message") is not None:
        bits.append("message=%s" % jdump(e.get("message"), 40))
    return "expected_events[%d] (%s)" % (i, ", ".join(bits))


def job_label(ev):
    ent = ev.get("entity")
    if isinstance(ent, dict) and isinstance(ent.get("id"), str):
        ph = parse_placeholder(ent["id"])
        if ph and ph[0] in ("job_id", "uuid7") and ph[1]:
            return ph[1]
    return None


def assign(exp, act, cand, bindings, ordered, budget):
    """Backtracking search for a one-to-one assignment consistent with labels (and order).
    Returns the list of actual indices per expected event, or None."""
    n = len(exp)
    labels = [job_label(e) for e in exp]
    used = [False] * len(act)
    out = [None] * n

    def rec(i, b, last):
        if i == n:
            return True
        for j in cand[i]:
            if used[j]:
                continue
            lab = labels[i]
            if ordered and lab is not None and j < last.get(lab, -1):
                continue
            budget[0] -= 1
            if budget[0] < 0:
                return False
            b2 = dict(b)
            if match(exp[i], act[j][1], "", b2):
                continue
            used[j] = True
            out[i] = j
            last2 = last
            if lab is not None:
                last2 = dict(last)
                last2[lab] = j
            if rec(i + 1, b2, last2):
                return True
            used[j] = False
        return False

    return out if rec(0, dict(bindings), {}) else None


def bipartite(cand, m):
    """Maximum matching on candidate lists (Kuhn). Returns exp->act dict."""
    owner = {}

    def try_(i, seen):
        for j in cand[i]:
            if j in seen:
                continue
            seen.add(j)
            if j not in owner or try_(owner[j], seen):
                owner[j] = i
                return True
        return False

    for i in range(len(cand)):
        try_(i, set())
    return {i: j for j, i in owner.items()}


def check_events(sc, out_dir, fails, notes, bindings):
    act = read_events(out_dir, fails)
    exp = sc["expected_events"]
    keys = {}
    for where, ev in act:
        k = ev.get("idempotency_key")
        if isinstance(k, str):
            if k in keys:
                fails.append("%s: duplicate idempotency_key %s (also at %s)" % (where, k, keys[k]))
            keys[k] = where
    # independent comparison of every pair, with only the job ids bound
    diffs = [[match(e, a, "", dict(bindings)) for (_, a) in act] for e in exp]
    cand = [[j for j in range(len(act)) if not diffs[i][j]] for i in range(len(exp))]
    budget = [200000]
    if len(exp) == len(act) and assign(exp, act, cand, dict(bindings), True, budget) is not None:
        return
    if budget[0] < 0:
        fails.append("events: matching gave up (too many combinations)")
        return
    if len(exp) != len(act):
        fails.append("events: expected %d, got %d" % (len(exp), len(act)))
    if len(exp) == len(act):
        budget = [200000]
        if assign(exp, act, cand, dict(bindings), False, budget) is not None:
            # every event is there, but one job's events are out of order
            m = assign(exp, act, cand, dict(bindings), False, [200000])
            per = {}
            for i, j in enumerate(m):
                lab = job_label(exp[i])
                if lab is not None:
                    per.setdefault(lab, []).append((i, j))
            for lab, pairs in sorted(per.items()):
                js = [j for _, j in pairs]
                if js != sorted(js):
                    fails.append("events: job %s: its events are out of order in the output "
                                 "(expected order, and where each was found):" % lab)
                    for i, j in pairs:
                        fails.append("    %s at %s" % (exp_summary(i, exp[i]), act[j][0]))
            return
    mm = bipartite(cand, len(act))
    if len(mm) == len(exp) == len(act):
        # each event matches on its own, but placeholder labels cannot be bound consistently
        seen = {}
        for i, j in sorted(mm.items()):
            b = dict(bindings)
            match(exp[i], act[j][1], "", b)
            for k, v in b.items():
                if k not in bindings:
                    seen.setdefault(k, set()).add(json.dumps(v))
        bad = ["%s -> %s" % (k.split(":", 1)[1], ", ".join(sorted(v)))
               for k, v in sorted(seen.items()) if len(v) > 1]
        by_value = {}
        for k, v in list(seen.items()) + [(k, {json.dumps(v)}) for k, v in bindings.items()]:
            if k.startswith("id:") and len(v) == 1:
                by_value.setdefault(next(iter(v)), set()).add(k[3:])
        bad += ["labels %s all bind to %s (distinct labels need distinct ids)" % (", ".join(sorted(ls)), val)
                for val, ls in sorted(by_value.items()) if len(ls) > 1]
        fails.append("events: every event matches on its own, but the placeholder labels cannot be "
                     "bound consistently: %s" % "; ".join(bad or ["(no simple explanation)"]))
        return
    matched_act = set(mm.values())
    shown = {}
    for i, e in enumerate(exp):
        if i in mm:
            continue
        pool = [j for j in range(len(act)) if j not in matched_act] or list(range(len(act)))
        if not pool:
            fails.append("events: %s: missing (the output has no events)" % exp_summary(i, e))
            continue
        best = min(pool, key=lambda j: len(diffs[i][j]))
        shown.setdefault(best, i)
        fails.append("events: %s: missing; closest output event %s differs:" % (exp_summary(i, e), act[best][0]))
        for d in diffs[i][best]:
            fails.append("    " + d)
    for j, (where, a) in enumerate(act):
        if j in matched_act:
            continue
        if j in shown:
            fails.append("events: output event %s matches no expected event (closest to "
                         "expected_events[%d], differences above)" % (where, shown[j]))
        else:
            fails.append("events: unexpected output event %s: %s" % (where, jdump(a, 600)))


# ---------------------------------------------------------------- main

def main(argv):
    if len(argv) >= 2 and argv[1] == "--lint":
        bad = 0
        for p in argv[2:]:
            try:
                load_scenario(p)
            except (ScenarioError, OSError) as e:
                print("LINT %s" % e)
                bad += 1
        print("lint: %d scenario(s), %d bad" % (len(argv) - 2, bad))
        return 1 if bad else 0
    if len(argv) != 4:
        print(__doc__.strip())
        return 1
    scenario_path, results_path, out_dir = argv[1:]
    global CHECK_TIME
    if os.path.exists(results_path):
        CHECK_TIME = datetime.datetime.fromtimestamp(os.path.getmtime(results_path), datetime.timezone.utc)
    try:
        sc = load_scenario(scenario_path)
    except (ScenarioError, OSError) as e:
        print("FAIL scenario: %s" % e)
        return 1
    fails, notes, bindings = [], [], {}
    try:
        check_results(sc, results_path, fails, notes, bindings)
        check_events(sc, out_dir, fails, notes, bindings)
    except ScenarioError as e:
        fails.append("scenario: %s" % e)
    for n in notes:
        print("note: " + n)
    for f in fails:
        print(("FAIL " + f) if not f.startswith("    ") else f)
    if not fails:
        print("ok: %s: %d steps, %d events" % (sc["name"], len(sc["steps"]), len(sc["expected_events"])))
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
