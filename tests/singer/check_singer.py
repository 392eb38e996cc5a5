"""Pipes `intercom-export tap` into real Singer targets and compares what they
loaded with the Parquet export of the same simulated world.

Run by `.ci/run` (see there for the pinned versions and venvs):

    python tests/singer/check_singer.py BINARY --postgres URL \
        --target-postgres PATH --target-jsonl PATH

It starts `intercom-export simulate`, discovers the catalog (every report
`sync` exports by default is selected), and then, twice (the second time a
simulated day later, from the STATE the first run emitted):

* runs `sync` into Parquet and `tap` into a file of Singer messages;
* pipes the messages into `target-postgres` (meltanolabs, a schema per
  run) and `target-jsonl` (a directory per run);
* checks, per stream, that the rows the targets loaded equal the rows of
  that `sync` run's Parquet files, value for value (timestamps as UTC
  instants, numbers, lists; `_run_id` and `_extracted_at` left out: they
  name the run), read with pyarrow and DuckDB;
* and that the second run sent only what changed (fewer rows than the
  first, and what it sent is what the second `sync` wrote).

Prints one line per check and a final `N passed, M failed`; exits 1 on any
failure.
"""

import argparse
import datetime as dt
import glob
import json
import os
import subprocess
import sys
import tempfile
import urllib.request
from decimal import Decimal

import duckdb
import pyarrow.parquet as pq

WORLD = ["--contacts", "300", "--conversations", "80", "--parts", "2",
         "--companies", "40", "--tickets", "20", "--seed", "11"]
TOKEN = "singer-check-token"
META = {"_run_id", "_extracted_at"}
RESULTS = {"passed": 0, "failed": 0}


def check(ok, what, detail=""):
    RESULTS["passed" if ok else "failed"] += 1
    print(("ok   " if ok else "FAIL ") + what + ("" if ok or not detail else "\n     " + detail))


def run(cmd, **kw):
    res = subprocess.run(cmd, capture_output=True, **kw)
    if res.returncode != 0:
        err = res.stderr.decode(errors="replace")
        sys.stderr.write("\n".join(l[:600] for l in err.splitlines()[-40:]) + "\n")
        raise SystemExit(f"command failed ({res.returncode}): {' '.join(map(str, cmd))}")
    return res


def to_instant(v):
    """A timestamp value of any reader as microseconds since the epoch (UTC)."""
    if isinstance(v, str):
        v = dt.datetime.fromisoformat(v.replace("Z", "+00:00"))
    if v.tzinfo is None:  # a TIMESTAMP WITHOUT TIME ZONE holds UTC
        v = v.replace(tzinfo=dt.timezone.utc)
    return round(v.timestamp() * 1_000_000)


def normalise(row, types):
    """One row as comparable JSON text, by the catalog's JSON Schema types."""
    out = {}
    for name, v in row.items():
        if name in META or name.startswith("_sdc_") or name not in types:
            continue
        kind, fmt = types[name]
        if v is None:
            out[name] = None
        elif fmt == "date-time":
            out[name] = to_instant(v)
        elif kind == "array":
            if isinstance(v, str):
                v = json.loads(v)
            out[name] = [str(x) for x in v]
        elif kind == "integer":
            out[name] = int(v)
        elif kind == "number":
            out[name] = float(Decimal(str(v))) if not isinstance(v, float) else v
        elif kind == "boolean":
            out[name] = bool(v)
        else:
            out[name] = v if isinstance(v, str) else json.dumps(v, separators=(",", ":"))
    for name in types:
        out.setdefault(name, None)
    return json.dumps(out, sort_keys=True, ensure_ascii=False)


def types_of(schema):
    types = {}
    for name, prop in schema["properties"].items():
        t = [x for x in prop.get("type", []) if x != "null"]
        types[name] = (t[0] if t else "", prop.get("format"))
    return types


def parquet_rows(out, stream, run_index):
    # Run directories end in the run number (`<time>-000002`); a run that
    # found nothing new for a stream wrote none.
    dirs = glob.glob(os.path.join(out, stream, f"*-{run_index + 1:06d}"))
    files = sorted(f for d in dirs for f in glob.glob(os.path.join(d, "*.parquet")))
    rows = []
    for f in files:
        rows.extend(pq.read_table(f).to_pylist())
    # DuckDB reads the same files to the same row count.
    if files:
        n = duckdb.sql(f"SELECT count(*) FROM read_parquet({files!r}, union_by_name = true)").fetchall()[0][0]
        check(n == len(rows), f"{stream} run {run_index + 1}: DuckDB and pyarrow read {len(rows)} rows")
    return rows


def messages(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def load_postgres(target, url, schema, messages_file, workdir):
    from urllib.parse import urlparse
    u = urlparse(url)
    config = {
        "host": u.hostname, "port": u.port or 5432, "user": u.username or "postgres",
        "password": u.password or "", "database": (u.path or "/postgres").lstrip("/"),
        "default_target_schema": schema, "load_method": "append-only",
        "add_record_metadata": False, "activate_version": False, "validate_records": True,
    }
    cfg = os.path.join(workdir, f"{schema}.json")
    with open(cfg, "w") as f:
        json.dump(config, f)
    import psycopg
    with psycopg.connect(url, autocommit=True) as con:  # a rerun starts empty
        con.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    with open(messages_file, "rb") as stdin:
        run([target, "--config", cfg], stdin=stdin)


def postgres_rows(url, schema, stream):
    import psycopg
    with psycopg.connect(url) as con:
        cur = con.execute(
            "SELECT 1 FROM information_schema.tables WHERE table_schema = %s AND table_name = %s",
            (schema, stream))
        if cur.fetchone() is None:
            return []
        cur = con.execute(f'SELECT * FROM "{schema}"."{stream}"')
        cols = [c.name for c in cur.description]
        return [dict(zip(cols, r)) for r in cur.fetchall()]


def load_jsonl(target, messages_file, workdir, name):
    dest = os.path.join(workdir, name)
    os.makedirs(dest, exist_ok=True)
    cfg = os.path.join(workdir, f"{name}.json")
    with open(cfg, "w") as f:
        json.dump({"destination_path": dest, "do_timestamp_file": False}, f)
    with open(messages_file, "rb") as stdin:
        run([target, "--config", cfg], stdin=stdin)
    return dest


def jsonl_rows(dest, stream):
    path = os.path.join(dest, f"{stream}.jsonl")
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def compare(what, got, want, types):
    g = sorted(normalise(r, types) for r in got)
    w = sorted(normalise(r, types) for r in want)
    if g == w:
        check(True, f"{what}: {len(g)} rows equal the Parquet rows")
        return
    missing = [x for x in w if x not in set(g)][:1]
    extra = [x for x in g if x not in set(w)][:1]
    check(False, f"{what}: {len(g)} rows, Parquet has {len(w)}",
          f"only in Parquet: {missing}\n     only loaded: {extra}")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("exe")
    p.add_argument("--postgres", required=True)
    p.add_argument("--target-postgres", required=True)
    p.add_argument("--target-jsonl", required=True)
    args = p.parse_args()
    exe = os.path.abspath(args.exe)
    env = dict(os.environ, INTERCOM_ACCESS_TOKEN=TOKEN, RUST_LOG="warn")
    sim = subprocess.Popen([exe, "simulate", "--port", "0", *WORLD], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, text=True)
    try:
        line = sim.stdout.readline()
        if "listening on " not in line:
            raise SystemExit(f"simulator did not start: {line!r}")
        base = line.split("listening on ", 1)[1].strip()
        with tempfile.TemporaryDirectory() as work:
            config = os.path.join(work, "config.json")
            with open(config, "w") as f:
                json.dump({"access_token": TOKEN, "base_url": base}, f)
            catalog_path = os.path.join(work, "catalog.json")
            with open(catalog_path, "wb") as f:
                f.write(run([exe, "tap", "--config", config, "--discover"], env=env).stdout)
            with open(catalog_path) as f:
                catalog = json.load(f)
            selected = {s["tap_stream_id"]: types_of(s["schema"]) for s in catalog["streams"]
                        if s["metadata"][0]["metadata"]["selected"]}
            check(len(selected) > 10, f"the catalog selects {len(selected)} streams by default")
            out, state = os.path.join(work, "out"), os.path.join(work, "state.db")
            singer_state = None
            counts = []
            for i in range(2):
                if i == 1:
                    req = urllib.request.Request(base + "/__sim/advance", method="POST",
                                                 data=b'{"seconds": 86400}',
                                                 headers={"Content-Type": "application/json"})
                    urllib.request.urlopen(req).read()
                run([exe, "sync", "--base-url", base, "--output", out, "--state", state], env=env)
                tap_cmd = [exe, "tap", "--config", config, "--catalog", catalog_path]
                if singer_state is not None:
                    state_file = os.path.join(work, f"state{i}.json")
                    with open(state_file, "w") as f:
                        json.dump(singer_state, f)
                    tap_cmd += ["--state", state_file]
                tap_out = os.path.join(work, f"tap{i + 1}.jsonl")
                with open(tap_out, "wb") as f:
                    subprocess.run(tap_cmd, env=env, stdout=f, stderr=subprocess.DEVNULL, check=True)
                msgs = messages(tap_out)
                kinds = {m.get("type") for m in msgs}
                check(kinds <= {"SCHEMA", "RECORD", "STATE"},
                      f"run {i + 1}: stdout holds only Singer messages ({sorted(kinds)})")
                singer_state = [m["value"] for m in msgs if m["type"] == "STATE"][-1]
                counts.append(sum(1 for m in msgs if m["type"] == "RECORD"))
                schema = f"intercom_run{i + 1}"
                load_postgres(args.target_postgres, args.postgres, schema, tap_out, work)
                dest = load_jsonl(args.target_jsonl, tap_out, work, f"jsonl{i + 1}")
                for stream, types in sorted(selected.items()):
                    want = parquet_rows(out, stream, i)
                    compare(f"run {i + 1} {stream} in PostgreSQL",
                            postgres_rows(args.postgres, schema, stream), want, types)
                    compare(f"run {i + 1} {stream} in JSONL", jsonl_rows(dest, stream), want, types)
            check(0 < counts[1] < counts[0],
                  f"the second run, from the first's STATE, sent only changes ({counts[1]} of {counts[0]} rows)")
    finally:
        sim.terminate()
        sim.wait()
    print(f"singer: {RESULTS['passed']} passed, {RESULTS['failed']} failed")
    sys.exit(1 if RESULTS["failed"] else 0)


if __name__ == "__main__":
    main()
