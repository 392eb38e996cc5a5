"""Reads a test export with DuckDB and pyarrow, independently of our Rust code.

Run by `.ci/run` (see there for the pinned versions):

    python tests/readers/check_output.py target/debug/intercom-export

It starts `intercom-export simulate` on a small world, runs `sync` (Parquet
and CSV), advances the simulated clock a day, runs `sync` again, fetches the
simulator's ground truth (`/__sim/truth/<dataset>`) and checks that:

* every Parquet file opens in pyarrow and DuckDB and every CSV file in
  pyarrow and DuckDB, with the columns, in order, of `schemas/<report>.json`;
* column types are what the README promises: ids VARCHAR, timestamps
  TIMESTAMP WITH TIME ZONE (Parquet `timestamp[us, tz=UTC]`), lists LIST;
* each run's CSV holds the same (id, updated_at) rows as its Parquet file;
* the first run's row counts equal the truth's;
* `SELECT id, max(updated_at) ... GROUP BY id` over all runs equals the truth
  for conversations, users, leads, tickets and companies (records deleted or
  merged since are left out: the truth no longer has them), in DuckDB over
  Parquet, DuckDB over CSV and pyarrow over Parquet;
* the README's current-state query for mapping tables, run in DuckDB over
  `conversation_tags`, gives each conversation's tags in the truth.

Prints one line per check and a final `N passed, M failed`; exits 1 on any
failure.
"""

import glob
import json
import os
import subprocess
import sys
import tempfile
import urllib.request

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WORLD = ["--contacts", "1500", "--conversations", "300", "--parts", "3",
         "--companies", "120", "--tickets", "60", "--seed", "7"]
# report -> (truth dataset, role filter)
INCREMENTAL = {
    "conversations": ("conversations", None),
    "users": ("contacts", "user"),
    "leads": ("contacts", "lead"),
    "tickets": ("tickets", None),
    "companies": ("companies", None),
}
# Reports whose first-run row count equals a truth dataset's line count.
FIRST_RUN_COUNTS = dict(INCREMENTAL, admins=("admins", None), teams=("teams", None),
                        tags=("tags", None), ticket_types=("ticket_types", None),
                        segments=("segments", None), ticket_parts=("ticket_parts", None),
                        lifecycle_events=("lifecycle_events", None),
                        part_attachments=("part_attachments", None))
# schemas/*.json type -> (DuckDB type, pyarrow type)
TYPES = {
    "Utf8": ("VARCHAR", pa.string()),
    "Int64": ("BIGINT", pa.int64()),
    "Float64": ("DOUBLE", pa.float64()),
    "Boolean": ("BOOLEAN", pa.bool_()),
    'Timestamp(µs, "UTC")': ("TIMESTAMP WITH TIME ZONE", pa.timestamp("us", tz="UTC")),
    "List(Utf8)": ("VARCHAR[]", pa.list_(pa.string())),
    "not in schemas/": ("(not in schemas/)", pa.null()),
}

passed = 0
failed = 0


def check(ok, what, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"ok    {what}")
    else:
        failed += 1
        print(f"FAIL  {what}{': ' + detail[:1500] if detail else ''}")


def schema_of(report):
    with open(os.path.join(ROOT, "schemas", f"{report}.json"), encoding="utf-8") as f:
        return [(c["name"], c["type"]) for c in json.load(f)["columns"]]


def truth(base, dataset, role=None):
    with urllib.request.urlopen(f"{base}/__sim/truth/{dataset}", timeout=60) as r:
        rows = [json.loads(l) for l in r.read().decode().splitlines() if l.strip()]
    return [r for r in rows if role is None or r.get("role") == role]


def sync(exe, base, out, state):
    env = dict(os.environ, INTERCOM_ACCESS_TOKEN="ci-readers-check")
    p = subprocess.run([exe, "sync", "--base-url", base, "--output", out, "--state", state,
                        "--format", "parquet,csv"], env=env, capture_output=True, text=True,
                       timeout=300)
    check(p.returncode == 0, f"sync exits 0 (got {p.returncode})", p.stderr[-2000:])


def with_custom_columns(schema_cols, parquet_file):
    """The schema's columns plus the file's `custom_*` ones, in the file's order."""
    known = dict(schema_cols)
    reverse = {str(v[1]): k for k, v in TYPES.items()}
    cols = []
    for f in pq.read_schema(parquet_file):
        if f.name in known:
            cols.append((f.name, known[f.name]))
        elif f.name.startswith("custom_") and str(f.type) in reverse:
            cols.append((f.name, reverse[str(f.type)]))
        else:
            cols.append((f.name, "not in schemas/"))
    missing = [n for n, _ in schema_cols if n not in dict(cols)]
    return cols + [(n, known[n]) for n in missing]


def csv_types(cols):
    """pyarrow column types for a report's CSV (lists are JSON text)."""
    return {n: (pa.string() if t == "List(Utf8)" else TYPES[t][1]) for n, t in cols}


def check_files(out):
    con = duckdb.connect()
    for report_dir in sorted(glob.glob(os.path.join(out, "*"))):
        report = os.path.basename(report_dir)
        schema_cols = schema_of(report)
        for run_dir in sorted(glob.glob(os.path.join(report_dir, "*"))):
            run = f"{report}/{os.path.basename(run_dir)}"
            pq_files = sorted(glob.glob(os.path.join(run_dir, "*.parquet")))
            csv_files = sorted(glob.glob(os.path.join(run_dir, "*.csv")))
            check(len(pq_files) > 0 and len(pq_files) == len(csv_files),
                  f"{run}: one CSV per Parquet file", f"{pq_files} {csv_files}")
            pq_rows = csv_rows = 0
            # Custom attribute columns (`custom_*`) depend on the workspace's
            # data attributes and are not in schemas/: take them from the file.
            cols = with_custom_columns(schema_cols, pq_files[0]) if pq_files else schema_cols
            names = [n for n, _ in cols]
            want_duck = [TYPES[t][0] for _, t in cols]
            for f in pq_files:
                name = f"{run}/{os.path.basename(f)}"
                try:
                    t = pq.read_table(f)
                    got = [(fl.name, fl.type) for fl in t.schema]
                    want = [(n, TYPES[ty][1]) for n, ty in cols]
                    # Compare list types by value type (the item field's name may differ).
                    same = len(got) == len(want) and all(
                        gn == wn and (gt == wt or (pa.types.is_list(gt) and pa.types.is_list(wt)
                                                   and gt.value_type == wt.value_type))
                        for (gn, gt), (wn, wt) in zip(got, want))
                    check(same, f"{name}: pyarrow reads it with the schema's columns and types",
                          f"got {got}")
                    pq_rows += t.num_rows
                except Exception as e:  # noqa: BLE001 - any reader error is a failure
                    check(False, f"{name}: pyarrow reads it", repr(e))
                try:
                    desc = con.execute(f"DESCRIBE SELECT * FROM read_parquet('{f}')").fetchall()
                    got = [(d[0], d[1]) for d in desc]
                    check(got == list(zip(names, want_duck)),
                          f"{name}: DuckDB reads it with the schema's columns and types",
                          f"got {got}")
                    n = con.execute(f"SELECT count(*) FROM read_parquet('{f}')").fetchone()[0]
                    check(n == t.num_rows, f"{name}: DuckDB and pyarrow count the same rows",
                          f"{n} vs {t.num_rows}")
                except Exception as e:  # noqa: BLE001
                    check(False, f"{name}: DuckDB reads it", repr(e))
            for f in csv_files:
                name = f"{run}/{os.path.basename(f)}"
                try:
                    t = pacsv.read_csv(f, convert_options=pacsv.ConvertOptions(
                        column_types=csv_types(cols), strings_can_be_null=True))
                    check(t.column_names == names, f"{name}: pyarrow reads it, header = schema",
                          f"got {t.column_names}")
                    csv_rows += t.num_rows
                except Exception as e:  # noqa: BLE001
                    check(False, f"{name}: pyarrow reads it", repr(e))
                try:
                    # Types from the schema (lists are JSON text in CSV).
                    types = {n: ("VARCHAR" if ty == "List(Utf8)" else TYPES[ty][0])
                             for n, ty in cols}
                    n = con.execute(f"SELECT count(*) FROM read_csv('{f}', header=true, "
                                    f"columns={types!r})").fetchone()[0]
                    check(n == t.num_rows, f"{name}: DuckDB reads it with the schema's types",
                          f"{n} rows vs {t.num_rows}")
                    lists = [n for n, ty in cols if ty == "List(Utf8)"]
                    if lists:
                        col = lists[0]
                        bad = con.execute(
                            f"SELECT count(*) FROM read_csv('{f}', header=true, columns={types!r}) "
                            f"WHERE {col} IS NOT NULL AND "
                            f"try_cast(CAST({col} AS JSON) AS VARCHAR[]) IS NULL").fetchone()[0]
                        check(bad == 0, f"{name}: list column {col} is a JSON array of strings",
                              f"{bad} rows are not")
                except Exception as e:  # noqa: BLE001
                    check(False, f"{name}: DuckDB reads it", repr(e))
            check(pq_rows == csv_rows, f"{run}: CSV and Parquet hold the same number of rows",
                  f"{csv_rows} vs {pq_rows}")
            if "id" in names and "updated_at" in names:
                pq_glob = os.path.join(run_dir, "*.parquet")
                csv_glob = os.path.join(run_dir, "*.csv")
                diff = con.execute(
                    f"SELECT count(*) FROM ((SELECT id, updated_at FROM read_parquet('{pq_glob}') "
                    f"EXCEPT SELECT id::VARCHAR, updated_at::TIMESTAMPTZ FROM read_csv('{csv_glob}', "
                    f"header=true, all_varchar=true)) UNION ALL (SELECT id::VARCHAR, "
                    f"updated_at::TIMESTAMPTZ FROM read_csv('{csv_glob}', header=true, "
                    f"all_varchar=true) EXCEPT SELECT id, updated_at FROM "
                    f"read_parquet('{pq_glob}')))").fetchone()[0]
                check(diff == 0, f"{run}: CSV and Parquet hold the same (id, updated_at) rows",
                      f"{diff} differ")


def latest_duckdb(con, source):
    return dict(con.execute(
        f"SELECT id, epoch(max(updated_at))::BIGINT FROM {source} GROUP BY id").fetchall())


def latest_pyarrow(files):
    t = pa.concat_tables([pq.read_table(f, columns=["id", "updated_at"]) for f in files])
    t = t.set_column(1, "updated_at", pc.cast(t["updated_at"], pa.int64()))
    g = t.group_by("id").aggregate([("updated_at", "max")])
    return {i: v // 1_000_000 for i, v in zip(g["id"].to_pylist(), g["updated_at_max"].to_pylist())}


def compare(what, got, want):
    kept = {k: v for k, v in got.items() if k in want}
    missing = [k for k in want if k not in got]
    wrong = [k for k in want if k in got and got[k] != want[k]]
    check(not missing and not wrong, what,
          f"{len(missing)} missing (e.g. {missing[:3]}), {len(wrong)} with another updated_at "
          f"(e.g. {[(k, kept[k], want[k]) for k in wrong[:3]]})")


# The README's current-state query for a mapping table ("Mapping tables").
MAPPING_QUERY = """
SELECT conversation_id, tag_id, tag_name
FROM (
  SELECT t.*,
         max(conversation_updated_at) OVER (PARTITION BY conversation_id) AS latest
  FROM read_parquet('{glob}', union_by_name = true) AS t
) AS x
WHERE conversation_updated_at = latest AND tag_id IS NOT NULL
"""


def check_mapping_query(con, base, out):
    glob_ = os.path.join(out, "conversation_tags", "*", "*.parquet")
    got = {}
    for conv, tag, _name in con.execute(MAPPING_QUERY.format(glob=glob_)).fetchall():
        got.setdefault(conv, set()).add(tag)
    want, live = {}, set()
    for c in truth(base, "conversations"):
        live.add(c["id"])
        tags = {t["id"] for t in (c.get("tags") or {}).get("tags", [])}
        if tags:
            want[c["id"]] = tags
    # Conversations deleted since are in the export, not in the truth.
    got = {k: v for k, v in got.items() if k in live}
    wrong = [k for k in set(want) | set(got) if want.get(k) != got.get(k)]
    check(not wrong, "conversation_tags: the README's current-state query = the truth's tags",
          f"{len(wrong)} conversations differ (e.g. {[(k, got.get(k), want.get(k)) for k in wrong[:3]]})")


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: check_output.py PATH/TO/intercom-export")
    exe = os.path.abspath(sys.argv[1])
    print(f"duckdb {duckdb.__version__}, pyarrow {pa.__version__}")
    sim = subprocess.Popen([exe, "simulate", "--port", "0", *WORLD], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, text=True)
    try:
        line = sim.stdout.readline()
        if "listening on " not in line:
            sys.exit(f"the simulator did not start: {line!r}")
        base = line.split("listening on ", 1)[1].strip()
        with tempfile.TemporaryDirectory() as tmp:
            out, state = os.path.join(tmp, "out"), os.path.join(tmp, "state.db")
            sync(exe, base, out, state)
            con = duckdb.connect()
            for report, (dataset, role) in FIRST_RUN_COUNTS.items():
                want = len(truth(base, dataset, role))
                got = con.execute(
                    f"SELECT count(*) FROM read_parquet('{out}/{report}/*/*.parquet')").fetchone()[0]
                check(got == want, f"{report}: first run has the truth's {want} rows", f"got {got}")
            req = urllib.request.Request(f"{base}/__sim/advance", data=b'{"seconds": 86400}',
                                         headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=60) as r:
                print(f"advance: {r.read().decode()}")
            sync(exe, base, out, state)
            check_files(out)
            for report, (dataset, role) in INCREMENTAL.items():
                want = {r["id"]: r["updated_at"] for r in truth(base, dataset, role)}
                runs = len(glob.glob(os.path.join(out, report, "*")))
                # Tickets are not changed by advance: the second sync may find nothing.
                check(runs == 2 or (report == "tickets" and runs == 1),
                      f"{report}: each sync that found changes wrote a run", f"{runs} runs")
                pq_glob = os.path.join(out, report, "*", "*.parquet")
                csv_glob = os.path.join(out, report, "*", "*.csv")
                dup = con.execute(f"SELECT count(*) - count(DISTINCT (id, updated_at)) "
                                  f"FROM read_parquet('{pq_glob}')").fetchone()[0]
                check(dup == 0, f"{report}: no (id, updated_at) exported twice", f"{dup} twice")
                compare(f"{report}: DuckDB latest updated_at per id over Parquet = truth",
                        latest_duckdb(con, f"read_parquet('{pq_glob}')"), want)
                compare(f"{report}: DuckDB latest updated_at per id over CSV = truth",
                        latest_duckdb(con, f"read_csv('{csv_glob}', header=true, "
                                           f"types={{'id': 'VARCHAR', "
                                           f"'updated_at': 'TIMESTAMPTZ'}})"), want)
                compare(f"{report}: pyarrow latest updated_at per id over Parquet = truth",
                        latest_pyarrow(sorted(glob.glob(pq_glob))), want)
            check_mapping_query(con, base, out)
    finally:
        sim.terminate()
        sim.wait(timeout=10)
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
