#!/usr/bin/env bash
# Spatial analytics (issue 16) beside the straightforward PostGIS SQL, on the 1M-parcel set
# (data-samples/generate.py, both DLTB years, every layer of its manifest), in one run:
#  1. compliance (合规性审查) of LINES fixed ~1 km² red lines (565 m-radius 32-gons: a third on
#     urban-boundary edges, a third inside ecological red lines, the rest anywhere in the city):
#     POST /analysis/compliance beside one SQL round trip giving the same answer (project area;
#     per feature of ecological_redline, basic_farmland and urban_boundary the area of
#     ST_Intersection in EPSG:4547; for dltb the 01xx parcels and the areas per class), the red
#     line a bound parameter of a prepared statement (psycopg2, one persistent connection; the
#     HTTP side one persistent keep-alive connection). Sequential, one client, REPS repetitions
#     per red line, the two sides alternating which goes first. The first request (the server
#     loads the layers into memory) and one warm-up pass of both sides are left out of the
#     medians; the load times the server logs are reported on their own.
#  2. statistics of the whole city by village (GET /analysis/stats; the first request computes,
#     later ones answer from the server's cache) beside
#       SELECT v.xzqdm, p.dlbm, sum(ST_Area(ST_Transform(ST_Intersection(p.geom, v.geom), 4547)))
#       FROM dltb p JOIN village v ON ST_Intersects(p.geom, v.geom) GROUP BY 1, 2;
#  3. the change matrix between the two DLTB versions (GET /analysis/changes, recomputed on every
#     request from the versions held in memory) beside
#       SELECT a.dlbm, b.dlbm, sum(ST_Area(ST_Transform(ST_Intersection(a.geom, b.geom), 4547)))
#       FROM dltb_2022 a JOIN dltb_2023 b ON ST_Intersects(a.geom, b.geom) GROUP BY 1, 2.
# The SQL of 2 and 3 runs under a statement timeout of SQL_TIMEOUT_S (reported as "> N s" when
# cancelled) and a second time only when the first took less than SQL_REPEAT_S. Every answer is
# cross-checked: onemap's areas against the SQL's, within 0.1 % (0.02 m² for slivers: onemap
# answers m² to 2 decimals and leaves out pieces under 0.01 m²); each difference is printed.
# Loopback only; the server, PostgreSQL and the Python client share the machine's cores, and
# only one side works at a time.
#
#   bench/analytics_bench.sh [N_PARCELS] [REPS]     (defaults 1000000, 5)
#
# Environment: LINES (20), SQL_TIMEOUT_S (1200), SQL_REPEAT_S (300), ONEMAP_BENCH_DATA (the data
# folder, default /tmp/onemap-bench-N, generated when missing), PHASES (the phases to run, default
# "compliance stats changes").
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" != --in-cluster ]; then
  N=${1:-1000000}
  export REPS=${2:-5} LINES=${LINES:-20} PHASES=${PHASES:-compliance stats changes} SQL_TIMEOUT_S=${SQL_TIMEOUT_S:-1200} SQL_REPEAT_S=${SQL_REPEAT_S:-300}
  export DATA=${ONEMAP_BENCH_DATA:-/tmp/onemap-bench-$N} ONEMAP_ROOT=$PWD
  [ -f "$DATA/manifest.yaml" ] && [ -f "$DATA/natural-resources/dltb_2022.shp" ] ||
    /usr/bin/python3 data-samples/generate.py --out "$DATA" --parcels "$N"
  exec pg_virtualenv -t -i '--encoding=UTF8 --locale=C.UTF-8' -o 'shared_buffers=512MB' -o 'max_wal_size=4GB' \
    -o 'maintenance_work_mem=512MB' "$PWD/bench/analytics_bench.sh" --in-cluster
fi

# ---- inside the throwaway cluster (pg_virtualenv set PGHOST, PGPORT, PGUSER, …) ----
export DB=ab PORT=18096
WORK=$(mktemp -d /tmp/onemap-analytics.XXXX)
export SERVER_LOG=$WORK/server.log
echo "data: $DATA; reps $REPS, red lines $LINES, SQL timeout ${SQL_TIMEOUT_S}s; work dir $WORK"
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); $(psql -tAd postgres -c 'SELECT version()' | cut -d, -f1)"
createdb $DB
started=$(date +%s)
"$ONEMAP_ROOT/build/importers/onemap-import" -q --no-overviews --db dbname=$DB --manifest "$DATA/manifest.yaml" > "$WORK/import.txt"
echo "import (--no-overviews, whole manifest): $(( $(date +%s) - started )) s"
psql -qd $DB -c "SELECT layer, version, valid_from, valid_to, feature_count, table_name FROM onemap.layer_version
                 WHERE layer IN ('dltb', 'admin_village', 'ecological_redline', 'basic_farmland', 'urban_boundary')
                 ORDER BY layer, version"
"$ONEMAP_ROOT/build/tileserver/onemap-server" --db dbname=$DB --port $PORT --config "$ONEMAP_ROOT/tileserver/onemap.yaml" \
  --log-level info --query-timeout-ms 3600000 --idle-timeout-ms 3600000 > "$SERVER_LOG" 2>&1 &
export SERVER_PID=$!
trap 'kill $SERVER_PID 2>/dev/null || true' EXIT
for i in $(seq 100); do curl -sf http://127.0.0.1:$PORT/health >/dev/null && break; sleep 0.1; done
curl -sf http://127.0.0.1:$PORT/health >/dev/null || { echo "server did not start:"; cat "$SERVER_LOG"; exit 1; }

/usr/bin/python3 - <<'PY'
import json, math, os, random, re, socket, statistics, sys, time
import psycopg2, psycopg2.errors

PORT, LOG, DB = int(os.environ["PORT"]), os.environ["SERVER_LOG"], os.environ["DB"]
REPS, NLINES = int(os.environ["REPS"]), int(os.environ["LINES"])
TIMEOUT_S, REPEAT_S = int(os.environ["SQL_TIMEOUT_S"]), int(os.environ["SQL_REPEAT_S"])
PHASES = os.environ["PHASES"].split()
SERVER_PID = int(os.environ["SERVER_PID"])
DATE, FROM, TO = "2024-06-30", "2023-06-30", "2024-06-30"
TOL_REL, TOL_ABS = 0.001, 0.02

def say(*a):
    print(*a, flush=True)

db = psycopg2.connect(dbname=DB)
db.autocommit = True
cur = db.cursor()
cur.execute("SET statement_timeout = %s", ("%ds" % TIMEOUT_S,))

def version_of(layer, date):
    cur.execute("SELECT table_name, version FROM onemap.version_as_of(%s, %s)", (layer, date))
    rows = cur.fetchall()
    if len(rows) != 1:
        sys.exit("analytics_bench: %d versions of %s on %s" % (len(rows), layer, date))
    return 'onemap_data."%s"' % rows[0][0], rows[0][1]

def machine():
    busy = 0
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                busy += open("/proc/%s/comm" % p).read().strip() in ("cc1plus", "clang-tidy-14", "clang-tidy", "ld", "ld.gold", "ld.lld")
            except OSError:
                pass
    return "load %.2f %.2f %.2f, compiler/linker processes running: %d" % (os.getloadavg() + (busy,))

LOAD_RE = re.compile(r"analysis: (\S+) version (\d+) \((\d+) features, (\d+) MB\) loaded in (\d+) ms")
def log_size():
    return os.path.getsize(LOG)
def loads_since(pos):
    with open(LOG, "rb") as f:
        f.seek(pos)
        text = f.read().decode("utf-8", "replace")
    return [(m[0], int(m[1]), int(m[2]), int(m[3]), int(m[4])) for m in LOAD_RE.findall(text)]
def show_loads(loads):
    return "; ".join("%s v%d (%d features, %d MB) %d ms" % l for l in loads) or "none"

def server_memory():
    try:
        status = open("/proc/%d/status" % SERVER_PID).read()
    except OSError:
        return "server gone"
    return ", ".join(l.split(None, 1)[0] + " " + l.split(None, 1)[1].strip() for l in status.splitlines()
                     if l.startswith(("VmRSS", "VmHWM")))

failures = []
class Http:
    """A lean HTTP/1.1 keep-alive client: the request in one send, the answer read by its
    Content-Length. Python's http.client sends the header and the body in two segments and
    parses the answer in Python: it measured 0.5 ms a request more here, more than the whole
    libpq + psycopg2 round trip of the SQL side costs."""
    def __init__(self):
        self.sock = self.file = None
    def close(self):
        if self.sock is not None:
            self.file.close()
            self.sock.close()
        self.sock = self.file = None
    def request(self, method, path, body=None, persistent=True):
        if self.sock is None:
            self.sock = socket.create_connection(("127.0.0.1", PORT), timeout=7200)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.file = self.sock.makefile("rb")
        payload = body.encode() if body is not None else b""
        head = "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n" % (method, path)
        if body is not None:
            head += "Content-Type: application/geo+json\r\nContent-Length: %d\r\n" % len(payload)
        if not persistent:
            head += "Connection: close\r\n"
        message = (head + "\r\n").encode() + payload
        t = time.perf_counter()
        try:
            self.sock.sendall(message)
            line = self.file.readline()
            parts = line.split()
            if len(parts) < 2:
                raise OSError("no status line: %r" % line[:200])
            status, length, close = int(parts[1]), 0, False
            while True:
                h = self.file.readline()
                if h in (b"\r\n", b""):
                    break
                name, _, value = h.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"connection":
                    close = value.strip().lower() == b"close"
            data = self.file.read(length)
            if len(data) != length:
                raise OSError("answer cut short: %d of %d bytes" % (len(data), length))
        except OSError as e:
            self.close()
            failures.append("%s %s: %s (server log tail: %s)" % (method, path, e, open(LOG).read()[-2000:]))
            say("FAILED:", failures[-1])
            return None, b"", time.perf_counter() - t
        dt = time.perf_counter() - t
        if not persistent or close:
            self.close()
        if status >= 400:
            failures.append("%s %s -> HTTP %d: %s" % (method, path, status, data[:2000].decode("utf-8", "replace")))
            say("FAILED:", failures[-1])
        return status, data, dt
web = Http()

def close_enough(a, b):
    return abs(a - b) <= max(TOL_REL * max(abs(a), abs(b)), TOL_ABS)

def median(v):
    return statistics.median(v) if v else float("nan")
def p90(v):
    s = sorted(v)
    return s[max(0, math.ceil(0.9 * len(s)) - 1)] if s else float("nan")

def run_long(sql):
    t = time.perf_counter()
    try:
        cur.execute(sql)
        rows = cur.fetchall()
        return rows, time.perf_counter() - t, None
    except psycopg2.errors.QueryCanceled:
        return None, time.perf_counter() - t, "timeout"
    except psycopg2.Error as e:
        return None, time.perf_counter() - t, str(e).strip()

eco, _ = version_of("ecological_redline", DATE)
farm, _ = version_of("basic_farmland", DATE)
urban, _ = version_of("urban_boundary", DATE)
dltb, dltb_v = version_of("dltb", DATE)
dltb_from, dltb_from_v = version_of("dltb", FROM)
village, village_v = version_of("admin_village", DATE)
county, _ = version_of("admin_county", DATE)
cur.execute("SELECT count(*) FROM %s" % dltb)
say("dltb on %s: %s (v%d, %d parcels); on %s: %s (v%d); villages: %s (v%d)"
    % (DATE, dltb, dltb_v, cur.fetchone()[0], FROM, dltb_from, dltb_from_v, village, village_v))

# ---------------------------------------------------------------- red lines
rng = random.Random(20261202)
lines = []  # (kind, GeoJSON text)
def add_line(kind, point_wkt):
    cur.execute("SELECT ST_AsGeoJSON(ST_Transform(ST_Buffer(ST_Transform(ST_SetSRID(ST_GeomFromText(%s), 4490), 4547),"
                " 565, 'quad_segs=8'), 4490), 9, 0)", (point_wkt,))
    lines.append((kind, cur.fetchone()[0]))
cur.execute("SELECT fid FROM %s ORDER BY fid" % urban)
urban_fids = [r[0] for r in cur.fetchall()]
cur.execute("SELECT fid FROM %s ORDER BY fid" % eco)
eco_fids = [r[0] for r in cur.fetchall()]
cur.execute("SELECT fid FROM %s ORDER BY fid" % county)
county_fids = [r[0] for r in cur.fetchall()]
n_edge = NLINES // 3
n_eco = NLINES // 3
for _ in range(n_edge):
    f, part, at = rng.choice(urban_fids), rng.random(), rng.random()
    cur.execute("SELECT ST_AsText(ST_LineInterpolatePoint(ST_ExteriorRing(ST_GeometryN(geom,"
                " 1 + floor(%s * ST_NumGeometries(geom))::int)), %s)) FROM " + urban + " WHERE fid = %s", (part, at, f))
    add_line("urban edge", cur.fetchone()[0])
for _ in range(n_eco):
    f, seed = rng.choice(eco_fids), rng.randrange(1, 2**31)
    cur.execute("SELECT ST_AsText(ST_GeometryN(ST_GeneratePoints(geom, 1, %s), 1)) FROM " + eco + " WHERE fid = %s", (seed, f))
    add_line("in eco red line", cur.fetchone()[0])
for _ in range(NLINES - n_edge - n_eco):
    f, seed = rng.choice(county_fids), rng.randrange(1, 2**31)
    cur.execute("SELECT ST_AsText(ST_GeometryN(ST_GeneratePoints(geom, 1, %s), 1)) FROM " + county + " WHERE fid = %s", (seed, f))
    add_line("in the city", cur.fetchone()[0])

def piece(layer, extra=""):
    return ("SELECT t.fid%s, ST_Area(ST_Intersection(ST_Transform(t.geom, 4547), r.gp)) AS a FROM %s t, r"
            " WHERE ST_Intersects(t.geom, r.g)" % (extra, layer))
cur.execute(
    "PREPARE compliance(text) AS"
    " WITH r AS (SELECT g, ST_Transform(g, 4547) AS gp FROM (SELECT ST_SetSRID(ST_GeomFromGeoJSON($1), 4490) AS g) s),"
    " eco AS (" + piece(eco) + "), farm AS (" + piece(farm) + "), urban AS (" + piece(urban) + "),"
    " dl AS (" + piece(dltb, ", t.dlbm") + ")"
    " SELECT 'project', NULL::bigint, NULL::text, ST_Area(gp) FROM r"
    " UNION ALL SELECT 'ecological_redline', fid, NULL, a FROM eco"
    " UNION ALL SELECT 'basic_farmland', fid, NULL, a FROM farm"
    " UNION ALL SELECT 'urban_boundary', fid, NULL, a FROM urban"
    " UNION ALL SELECT 'cultivated_land', fid, dlbm, a FROM dl WHERE dlbm LIKE '01%'"
    " UNION ALL SELECT 'cultivated_land:class', NULL, dlbm, sum(a) FROM dl GROUP BY dlbm")

def sql_compliance(gj):
    t = time.perf_counter()
    cur.execute("EXECUTE compliance(%s)", (gj,))
    rows = cur.fetchall()
    return rows, time.perf_counter() - t

def compare_compliance(doc, rows):
    """Differences between onemap's answer and the SQL's (strings), and the count of values compared."""
    bad, n = [], 0
    def cmp(what, a, b):
        nonlocal n
        n += 1
        if not close_enough(a, b):
            bad.append("%s: onemap %.2f m², SQL %.2f m²" % (what, a, b))
    cmp("project area", doc["project"]["area"]["m2"], next(r[3] for r in rows if r[0] == "project"))
    for c in doc["checks"]:
        cid = c["id"]
        if "overlap" not in c:
            bad.append("%s: %s (%s)" % (cid, c["conclusion"], c.get("message")))
            continue
        sql_feats = {r[1]: r[3] for r in rows if r[0] == cid and r[3] >= 0.01}
        one_feats = {f["id"]: f["area"]["m2"] for f in c.get("features", [])}
        if cid == "cultivated_land":
            sql_classes = {r[2]: r[3] for r in rows if r[0] == "cultivated_land:class" and r[3] >= 0.01}
            one_classes = {k["class"]: k["area"]["m2"] for k in c.get("classes", [])}
            cmp(cid + " overlap", c["overlap"]["m2"], sum(sql_classes.values()))
            for k in sorted(set(sql_classes) | set(one_classes)):
                cmp("%s class %s" % (cid, k), one_classes.get(k, 0.0), sql_classes.get(k, 0.0))
        else:
            cmp(cid + " overlap", c["overlap"]["m2"], sum(sql_feats.values()))
        for fid in sorted(set(sql_feats) | set(one_feats)):
            cmp("%s feature %s" % (cid, fid), one_feats.get(fid, 0.0), sql_feats.get(fid, 0.0))
    return bad, n

summary = {}
# ---------------------------------------------------------------- 1. compliance
say("\n== 1. compliance: %d red lines, %d repetitions each (%s)" % (len(lines), REPS, machine()))
path = "/analysis/compliance?datetime=" + DATE
pos = log_size()
status, body, cold = web.request("POST", path, lines[0][1])
cold_loads = loads_since(pos)
say("first request (cold, loads the layers): %.0f ms, HTTP %s; server loads: %s" % (cold * 1e3, status, show_loads(cold_loads)))
summary["compliance_cold"] = (cold, cold_loads, status)
one_t = [[] for _ in lines]
sql_t = [[] for _ in lines]
sql_first = []
one_body = [None] * len(lines)
sql_rows = [None] * len(lines)
if status == 200 and "compliance" in PHASES:
    for i, (_, gj) in enumerate(lines):  # warm-up pass, left out
        web.request("POST", path, gj)
        sql_first.append(sql_compliance(gj)[1])
    for rep in range(REPS):
        for i, (_, gj) in enumerate(lines):
            for side in ((0, 1) if (rep + i) % 2 == 0 else (1, 0)):
                if side == 0:
                    status, body, dt = web.request("POST", path, gj)
                    if status == 200:
                        one_t[i].append(dt)
                        one_body[i] = body
                else:
                    sql_rows[i], dt = sql_compliance(gj)
                    sql_t[i].append(dt)
    say("%-3s %-16s %9s %9s %6s %9s %22s %9s   %s" % ("#", "red line", "onemap", "SQL", "ratio", "features",
                                                      "overlap m²", "verdict", "cross-check"))
    checked = differ = 0
    for i, (kind, gj) in enumerate(lines):
        if one_body[i] is None or sql_rows[i] is None:
            say("%-3d %-16s no answer to compare" % (i + 1, kind))
            continue
        doc = json.loads(one_body[i])
        bad, n = compare_compliance(doc, sql_rows[i])
        checked += n
        differ += len(bad)
        feats = sum(len(c.get("features", [])) + len(c.get("classes", [])) for c in doc["checks"])
        overlaps = "/".join("%.0f" % c.get("overlap", {}).get("m2", float("nan")) for c in doc["checks"])
        say("%-3d %-16s %6.2f ms %6.2f ms %6.2f %9d %22s %9s   %s" % (
            i + 1, kind, median(one_t[i]) * 1e3, median(sql_t[i]) * 1e3, median(sql_t[i]) / median(one_t[i]),
            feats, overlaps, doc["conclusion"], "ok (%d values)" % n if not bad else "%d of %d differ" % (len(bad), n)))
        for b in bad:
            say("      DIFFERS: " + b)
    all_one = [t for v in one_t for t in v]
    all_sql = [t for v in sql_t for t in v]
    per_line = [median(s) / median(o) for o, s in zip(one_t, sql_t) if o and s]
    say("features: overlapping features and dltb classes listed; overlap m² per check: %s"
        % " / ".join(c["id"] for c in json.loads(next(b for b in one_body if b))["checks"]))
    say("all %d requests: onemap median %.2f ms p90 %.2f ms; SQL median %.2f ms p90 %.2f ms; ratio of medians SQL/onemap %.2f;"
        " median of the per-line ratios %.2f; SQL's warm-up pass median %.2f ms" % (
            len(all_one), median(all_one) * 1e3, p90(all_one) * 1e3, median(all_sql) * 1e3, p90(all_sql) * 1e3,
            median(all_sql) / median(all_one), median(per_line), median(sql_first) * 1e3))
    say("cross-check: %d values compared, %d differ by more than 0.1 %%" % (checked, differ))
    summary["compliance"] = (median(all_one), p90(all_one), median(all_sql), p90(all_sql), len(all_one), checked, differ)
say("server memory: " + server_memory())

# ---------------------------------------------------------------- 2. statistics
def phase(name, path, sql, compare, warm_reps):
    say("\n== %s (%s)" % (name, machine()))
    pos = log_size()
    status, body, cold = web.request("GET", path, persistent=False)
    loads = loads_since(pos)
    say("onemap first request (cold): %.1f s, HTTP %s, %d bytes; server loads: %s" % (cold, status, len(body), show_loads(loads)))
    sql_rows, sql_dt, err = run_long(sql)
    say("SQL run 1: %s" % ("%.1f s, %d rows" % (sql_dt, len(sql_rows)) if err is None else "%s after %.1f s" % (err, sql_dt)))
    sql_runs = [(sql_dt, err)]
    warm = []
    if status == 200:
        load_s = sum(l[4] for l in loads) / 1e3
        reps = warm_reps if cold - load_s < 120 else 2
        for _ in range(reps):
            st, b2, dt = web.request("GET", path, persistent=False)
            if st == 200:
                warm.append(dt)
        say("onemap warm: %s s (median %.2f s)" % (" ".join("%.2f" % w for w in warm), median(warm)))
    if err is None and sql_dt < REPEAT_S:
        rows2, dt2, err2 = run_long(sql)
        say("SQL run 2: %s" % ("%.1f s, %d rows" % (dt2, len(rows2)) if err2 is None else "%s after %.1f s" % (err2, dt2)))
        sql_runs.append((dt2, err2))
    if status == 200 and sql_rows is not None:
        bad, n = compare(json.loads(body), sql_rows)
        say("cross-check: %d values compared, %d differ by more than 0.1 %%" % (n, len(bad)))
        for b in bad[:20]:
            say("      DIFFERS: " + b)
        if len(bad) > 20:
            say("      … and %d more" % (len(bad) - 20))
    else:
        n, bad = 0, []
    say("server memory: " + server_memory())
    return dict(cold=cold, loads=loads, status=status, bytes=len(body), warm=warm, sql=sql_runs, checked=n, differ=len(bad))

def cells_compare(one, sql, label):
    bad, n = [], 0
    for k in sorted(set(one) | set(sql), key=lambda k: tuple("" if x is None else str(x) for x in k)):
        a, b = one.get(k, 0.0), sql.get(k, 0.0)
        if a < 0.01 and b < 0.01:
            continue
        n += 1
        if not close_enough(a, b):
            bad.append("%s %s: onemap %.2f m², SQL %.2f m²" % (label, k, a, b))
    a, b = sum(one.values()), sum(sql.values())
    n += 1
    if not close_enough(a, b):
        bad.append("%s total: onemap %.2f m², SQL %.2f m²" % (label, a, b))
    return bad, n

def compare_stats(doc, rows):
    one = {(r["code"], c["class"]): c["m2"] for r in doc["regions"] for c in r["classes"]}
    sql = {(r[0], r[1]): r[2] for r in rows}
    say("onemap: %d villages, %d cells, city total %.0f m²; SQL: %d cells, total %.0f m²"
        % (len(doc["regions"]), len(one), sum(one.values()), len(sql), sum(sql.values())))
    return cells_compare(one, sql, "village/class")

stats_path = "/analysis/stats?layer=dltb&by=village&class_field=dlbm&datetime=" + DATE
stats_sql = ("SELECT v.xzqdm, p.dlbm, sum(ST_Area(ST_Transform(ST_Intersection(p.geom, v.geom), 4547)))"
             " FROM %s p JOIN %s v ON ST_Intersects(p.geom, v.geom) GROUP BY 1, 2" % (dltb, village))
say("\nSQL (statistics): " + stats_sql)
if "stats" in PHASES:
    summary["stats"] = phase("2. statistics of the whole city by village", stats_path, stats_sql, compare_stats, REPS)

# ---------------------------------------------------------------- 3. changes
def compare_changes(doc, rows):
    one = {(m["from"], m["to"]): m["m2"] for m in doc["matrix"] if m["from"] is not None and m["to"] is not None}
    uncovered = sum(m["m2"] for m in doc["matrix"] if m["from"] is None or m["to"] is None)
    sql = {(r[0], r[1]): r[2] for r in rows}
    say("onemap: %d pieces, changed %.0f m², %d matrix cells (+ %.0f m² met by no feature of the other version); SQL: %d cells"
        % (doc["pieces"], doc["changed"]["m2"], len(one), uncovered, len(sql)))
    say("SQL changed area (off-diagonal): %.0f m²" % sum(v for k, v in sql.items() if k[0] != k[1]))
    return cells_compare(one, sql, "old/new class")

changes_path = "/analysis/changes?layer=dltb&from=%s&to=%s" % (FROM, TO)
changes_sql = ("SELECT a.dlbm, b.dlbm, sum(ST_Area(ST_Transform(ST_Intersection(a.geom, b.geom), 4547)))"
               " FROM %s a JOIN %s b ON ST_Intersects(a.geom, b.geom) GROUP BY 1, 2" % (dltb_from, dltb))
say("\nSQL (changes): " + changes_sql)
if "changes" in PHASES:
    summary["changes"] = phase("3. change matrix between the two versions", changes_path, changes_sql, compare_changes, REPS)

# ---------------------------------------------------------------- summary
def sql_fig(runs):
    ok = [dt for dt, err in runs if err is None]
    if ok:
        return median(ok), "%.1f s" % median(ok) + (" (%d runs)" % len(ok) if len(ok) > 1 else "")
    dt, err = runs[0]
    return None, ("> %d s (cancelled)" % TIMEOUT_S if err == "timeout" else "error: " + err[:80])
def ratio(sql_s, one_s, runs):
    if sql_s is not None:
        return "%.1f×" % (sql_s / one_s)
    return "> %.0f×" % (TIMEOUT_S / one_s) if runs[0][1] == "timeout" else "–"

say("\n== summary (medians; SQL / onemap > 1: onemap is faster)\n")
say("| measure | onemap | PostGIS SQL | SQL / onemap |")
say("|---|---|---|---|")
if "compliance" in summary:
    o, op90, s, sp90, n, checked, differ = summary["compliance"]
    say("| compliance of a ~1 km² red line, 4 checks (%d requests: %d lines × %d) | %.2f ms (p90 %.2f) | %.2f ms (p90 %.2f) | **%.2f×** |"
        % (n, len(lines), REPS, o * 1e3, op90 * 1e3, s * 1e3, sp90 * 1e3, s / o))
for key, title in (("stats", "statistics by village, whole city"), ("changes", "change matrix, 2022 → 2023 versions")):
    if key not in summary:
        continue
    r = summary[key]
    s, text = sql_fig(r["sql"])
    if r["status"] == 200:
        say("| %s, first request (cold: loads + computes) | %.1f s | %s | %s |" % (title, r["cold"], text, ratio(s, r["cold"], r["sql"])))
        if r["warm"]:
            w = median(r["warm"])
            say("| %s, later requests (median of %d) | %.2f s | %s | **%s** |" % (title, len(r["warm"]), w, text, ratio(s, w, r["sql"])))
    else:
        say("| %s | HTTP %s | %s | – |" % (title, r["status"], text))
say("")
c = summary["compliance_cold"]
none = dict(loads=[], checked=0, differ=0)
st, ch = summary.get("stats", none), summary.get("changes", none)
say("cold loads: first compliance request %.0f ms (%s); statistics: %s; changes: %s"
    % (c[0] * 1e3, show_loads(c[1]), show_loads(st["loads"]), show_loads(ch["loads"])))
if "compliance" in summary:
    say("cross-checks (0.1 %%): compliance %d values, %d differ; statistics %d, %d differ; changes %d, %d differ"
        % (summary["compliance"][5], summary["compliance"][6], st["checked"], st["differ"], ch["checked"], ch["differ"]))
say("server memory at the end: " + server_memory() + "; " + machine())
if failures:
    say("\n%d failed requests:" % len(failures))
    for f in failures:
        say("  " + f)
PY
kill $SERVER_PID; wait $SERVER_PID 2>/dev/null || true
echo "server log: $SERVER_LOG ($(grep -c . "$SERVER_LOG") lines)"
