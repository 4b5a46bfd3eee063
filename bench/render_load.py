#!/usr/bin/python3
"""PNG tile load for bench/render_bench.sh: one request plan, N concurrent clients, against
onemap-server over HTTP or MapServer, the way MapServer is run. Every request is timed on its
own (start and end on the monotonic clock, in the driver); prints per-zoom tiles/s, latency
percentiles, mean PNG size and, for screens, the time to complete a screen.

    render_load.py --plan FILE --clients N [--pattern P] [--record JSONL --name NAME --round R] SIDE TARGET

Sides:
    onemap URL
        GET URL/{z}/{x}/{y}.png over one keep-alive HTTP/1.1 connection per client, opened once
        and kept for the whole run (URL e.g. http://127.0.0.1:18080/tiles/basemap)
    mapserv MAPFILE
        CGI: a fresh `mapserv` process per tile (mode=tile&tilemode=gmap), headers stripped;
        MAPSERVER_CONFIG_FILE comes from the environment
    mapscript MAPFILE
        N warm Python processes holding the parsed mapfile (python3-mapscript) and their
        PostGIS connections, each drawing one 256-px map per tile with the extent mapserv's tile
        mode sets ("MapServer warm")
    mapscript-metatile MAPFILE
        the same warm processes in front of a MapCache-like tile cache ("MapServer meta"). With
        --pattern blocks (the old mode): each 4x4 metatile of the list is drawn once (+16-px
        buffer, MapCache's metabuffer) and the list's tiles are cut from it; one timed task per
        metatile. Any other pattern: every tile is its own request; a request finds its tile in
        the cache (a folder in /dev/shm shared by the N processes, new and empty for every run of
        this driver, so cold), or takes the metatile's lock (flock, as MapCache locks a
        metatile), draws the metatile (+16-px buffer), cuts and PNG-encodes all its tiles with PIL
        (zlib level 6, libpng's default, as MapCache re-encodes), stores them and answers its
        own; a request for another tile of a metatile being drawn waits on the lock and then
        reads the cache.

Plan FILE, one request a line:
    "z x y"                 a stream: each zoom's tiles in the file's order, handed to whichever
                            client is free (N requests in flight); tiles/s = tiles / wall time of
                            the zoom. Used by the patterns "scattered" and "blocks".
    "z x y SCREEN TIMED"    screens: the lines of one SCREEN (consecutive) are requested
                            together by the N clients, in the file's order (a browser's, nearest
                            the screen's centre first), each client taking the next tile when it
                            is free; the next screen starts when every tile of this one has
                            arrived. A screen's completion time is its first request's start to
                            its last response's end. TIMED 0 screens are requested but not
                            counted (a pan sequence's first screen, which fills the client's
                            cache); tiles/s = timed tiles / sum of timed completion times.
                            Used by "viewports" and "pans".

Before timing, every client draws one tile outside any plan (connections, fonts), except CGI
whose every request starts cold by design. A response that is not a 256x256 PNG counts as an
error. One Python driver for every side, so the load generator's share of the cores is alike.
MapServer's latencies are its draw (and cache) time inside the worker: no HTTP on that side.

Exit status 3: the plan was run, but some requests failed (counted as errors).
--record appends one JSON line per zoom and one for all zooms: name, pattern, round, zoom,
tiles, secs, errors, ms (per request), bytes (per request), screens_ms, unit, metatiles.
"""
import argparse
import fcntl
import http.client
import io
import json
import multiprocessing
import os
import queue
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

WARMUP_TILE = (9, 418, 206)   # Zhumadian's centre, not in any plan render_bench.sh writes
HALF = 20037508.342789244
now = time.perf_counter       # CLOCK_MONOTONIC: one clock for every process of the machine


def png_ok(body):
    return (body is not None and len(body) > 24 and body[:8] == b'\x89PNG\r\n\x1a\n' and
            struct.unpack('>II', body[16:24]) == (256, 256))


# A request's result: (start, end, bytes, ok, metatiles drawn for it).

# ---- onemap over HTTP -------------------------------------------------------------------------
class onemap_client:
    def __init__(self, url):
        u = urllib.parse.urlsplit(url)
        self.host, self.port, self.prefix = u.hostname, u.port or 80, u.path.rstrip('/')
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=600)

    def tile(self, z, x, y):
        try:
            self.conn.request('GET', '%s/%d/%d/%d.png' % (self.prefix, z, x, y))
            r = self.conn.getresponse()
            body = r.read()
            return body if r.status == 200 else None
        except (http.client.HTTPException, OSError):
            self.conn.close()
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=600)
            return None


# ---- MapServer CGI ----------------------------------------------------------------------------
class mapserv_client:
    def __init__(self, mapfile):
        self.mapfile = mapfile

    def tile(self, z, x, y):
        env = dict(os.environ, REQUEST_METHOD='GET',
                   QUERY_STRING='map=%s&mode=tile&tilemode=gmap&tile=%d+%d+%d&layers=all' % (self.mapfile, x, y, z))
        out = subprocess.run(['mapserv'], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout
        head, sep, body = out.partition(b'\r\n\r\n')
        return body if sep and b'image/png' in head else None


class thread_runner:
    """N client threads, each with its own client (connection), alive for the whole run."""

    def __init__(self, clients, warm):
        self.tasks, self.done = queue.Queue(), queue.Queue()
        if warm:
            for c in clients:
                c.tile(*WARMUP_TILE)
        self.threads = [threading.Thread(target=self._work, args=(c,), daemon=True) for c in clients]
        for t in self.threads:
            t.start()

    def _work(self, client):
        while True:
            t = self.tasks.get()
            if t is None:
                return
            t0 = now()
            body = client.tile(*t)
            t1 = now()
            self.done.put((t0, t1, len(body or b''), png_ok(body), 0))

    def run(self, tasks):
        for t in tasks:
            self.tasks.put(t)
        return [self.done.get() for _ in tasks]

    def close(self):
        for _ in self.threads:
            self.tasks.put(None)
        for t in self.threads:
            t.join()


# ---- MapServer warm (mapscript) ---------------------------------------------------------------
_map = None
_cache_dir = None


def _mapscript_init(mapfile, ready, cache_dir=None):
    global _map, _cache_dir
    import mapscript
    _map = mapscript.mapObj(mapfile)
    _mapscript_draw(WARMUP_TILE)
    _cache_dir = cache_dir
    ready.put(os.getpid())


def _mapscript_draw(t):
    z, x, y = t
    size = 2 * HALF / 2 ** z
    minx, maxy = -HALF + x * size, HALF - y * size
    half_px = size / 256 / 2   # mapserv's tile mode: extent from pixel centre to pixel centre
    t0 = now()
    _map.setExtent(minx + half_px, maxy - size + half_px, minx + size - half_px, maxy - half_px)
    body = _map.draw().getBytes()
    return t0, now(), len(body), png_ok(body), 0


META = 4
META_BUFFER = 16


def _metatile_pngs(z, mx, my, wanted=None):
    """Draws metatile (mx, my) with its buffer and returns {(x, y): PNG} for the wanted tiles
    (all its tiles when None)."""
    from PIL import Image
    size = 2 * HALF / 2 ** z
    res = size / 256
    n = 2 ** z
    cols, rows = min(META, n - mx * META), min(META, n - my * META)
    if wanted is None:
        wanted = [(mx * META + i, my * META + j) for j in range(rows) for i in range(cols)]
    minx = -HALF + mx * META * size - META_BUFFER * res
    maxy = HALF - my * META * size + META_BUFFER * res
    w, h = cols * 256 + 2 * META_BUFFER, rows * 256 + 2 * META_BUFFER
    _map.setSize(w, h)
    _map.setExtent(minx + res / 2, maxy - h * res + res / 2, minx + w * res - res / 2, maxy - res / 2)
    whole = Image.open(io.BytesIO(_map.draw().getBytes()))
    whole.load()
    out = {}
    for x, y in wanted:
        left, top = META_BUFFER + (x - mx * META) * 256, META_BUFFER + (y - my * META) * 256
        b = io.BytesIO()
        whole.crop((left, top, left + 256, top + 256)).save(b, 'PNG', compress_level=6)
        out[(x, y)] = b.getvalue()
    return out


def _mapscript_draw_metatile(task):
    """--pattern blocks: one task per metatile, the list's tiles of it cut and encoded."""
    z, mx, my, wanted = task
    t0 = now()
    pngs = _metatile_pngs(z, mx, my, wanted)
    t1 = now()
    return t0, t1, sum(map(len, pngs.values())), all(map(png_ok, pngs.values())), 1


def _read(path):
    try:
        with open(path, 'rb') as f:
            return f.read()
    except FileNotFoundError:
        return None


def _mapscript_cached_tile(t):
    """One tile request through the MapCache-like cache shared by the worker processes."""
    z, x, y = t
    path = os.path.join(_cache_dir, '%d-%d-%d.png' % t)
    drew = 0
    t0 = now()
    body = _read(path)
    if body is None:
        mx, my = x // META, y // META
        fd = os.open(os.path.join(_cache_dir, 'lock-%d-%d-%d' % (z, mx, my)), os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            body = _read(path)   # drawn by another worker while this one waited
            if body is None:
                pngs = _metatile_pngs(z, mx, my)
                for (tx, ty), png in pngs.items():
                    final = os.path.join(_cache_dir, '%d-%d-%d.png' % (z, tx, ty))
                    with open(final + '.tmp', 'wb') as f:
                        f.write(png)
                    os.rename(final + '.tmp', final)
                body, drew = pngs[(x, y)], 1
        finally:
            os.close(fd)   # releases the lock
    return t0, now(), len(body), png_ok(body), drew


def _mapscript_init_metatile(mapfile, ready, cache_dir=None):
    _mapscript_init(mapfile, ready, cache_dir)
    # The big image is only decoded again: store it uncompressed.
    _map.outputformat.setOption('COMPRESSION', '0')


class pool_runner:
    def __init__(self, pool, fn):
        self.pool, self.fn = pool, fn

    def run(self, tasks):
        return list(self.pool.imap_unordered(self.fn, tasks, chunksize=1))

    def close(self):
        self.pool.close()
        self.pool.join()


# ---- driver -----------------------------------------------------------------------------------
def pct(sorted_ms, p):
    return sorted_ms[min(len(sorted_ms) - 1, int(p * len(sorted_ms)))] if sorted_ms else float('nan')


def report(a, band, tiles, secs, results, screens_ms, unit, untimed_errors=0):
    ms = sorted((r[1] - r[0]) * 1000 for r in results)
    nbytes = [r[2] for r in results]
    errors = sum(1 for r in results if not r[3]) + untimed_errors
    drawn = sum(r[4] for r in results)
    line = ('%-16s %-9s %-4s tiles %5d  %8.1f tiles/s  p50 %8.1f ms  p95 %8.1f ms  max %8.1f ms  mean %6.1f KB'
            '  errors %d' % (a.name, a.pattern, band, tiles, tiles / secs if secs else 0.0, pct(ms, 0.5),
                             pct(ms, 0.95), ms[-1] if ms else float('nan'), sum(nbytes) / 1024 / max(tiles, 1),
                             errors))
    if unit != 'tile':
        line += '  (latency per %s)' % unit
    if screens_ms:
        s = sorted(screens_ms)
        line += '  screens %d: p50 %.1f ms, mean %.1f ms' % (len(s), pct(s, 0.5), sum(s) / len(s))
    if drawn and a.side == 'mapscript-metatile':
        line += '  metatiles drawn %d' % drawn
    print(line, flush=True)
    if a.record:
        with open(a.record, 'a') as f:
            f.write(json.dumps({'name': a.name, 'pattern': a.pattern, 'round': a.round, 'zoom': band,
                                'tiles': tiles, 'secs': secs, 'errors': errors, 'unit': unit,
                                'ms': [round(m, 3) for m in ms], 'bytes': nbytes,
                                'screens_ms': [round(m, 3) for m in screens_ms], 'metatiles': drawn}) + '\n')


def read_plan(path):
    """{zoom: [(z, x, y)]} for a stream, {zoom: [(screen, timed, [(z, x, y)])]} for screens."""
    bands, screens = {}, None
    for line in open(path):
        f = line.split()
        if not f:
            continue
        z, x, y = map(int, f[:3])
        if screens is None:
            screens = len(f) == 5
        if screens != (len(f) == 5) or len(f) not in (3, 5):
            sys.exit('%s: every line is "z x y" or every line is "z x y SCREEN TIMED"' % path)
        if not screens:
            bands.setdefault(z, []).append((z, x, y))
        else:
            band = bands.setdefault(z, [])
            if not band or band[-1][0] != f[3]:
                band.append((f[3], f[4] != '0', []))
            band[-1][2].append((z, x, y))
    return bands, bool(screens)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--plan', '--tiles', required=True, dest='plan')
    ap.add_argument('--clients', type=int, default=2)
    ap.add_argument('--pattern', default='scattered', help='label; "blocks" keeps the per-metatile MapServer meta mode')
    ap.add_argument('--round', type=int, default=1)
    ap.add_argument('--name', help='row label (default: the side)')
    ap.add_argument('--record', help='append one JSON line per zoom (and "all") to this file')
    ap.add_argument('side', choices=['onemap', 'mapserv', 'mapscript', 'mapscript-metatile'])
    ap.add_argument('target', help='URL prefix (onemap) or mapfile (mapserv, mapscript)')
    a = ap.parse_args()
    a.name = a.name or a.side
    bands, screens = read_plan(a.plan)
    grouped = a.side == 'mapscript-metatile' and a.pattern == 'blocks'
    if grouped and screens:
        sys.exit('the per-metatile MapServer meta mode (--pattern blocks) takes a stream plan')

    cache_dir = None
    if a.side.startswith('mapscript'):
        ctx = multiprocessing.get_context('fork')
        ready = ctx.Queue()
        if a.side == 'mapscript':
            init, fn = _mapscript_init, _mapscript_draw
        else:
            init, fn = _mapscript_init_metatile, (_mapscript_draw_metatile if grouped else _mapscript_cached_tile)
            if not grouped:
                cache_dir = tempfile.mkdtemp(prefix='render-load-cache.',
                                             dir='/dev/shm' if os.path.isdir('/dev/shm') else None)
        pool = ctx.Pool(a.clients, init, (os.path.abspath(a.target), ready, cache_dir))
        for _ in range(a.clients):   # every worker has parsed the mapfile and connected
            ready.get(timeout=120)
        runner = pool_runner(pool, fn)
    elif a.side == 'onemap':
        runner = thread_runner([onemap_client(a.target) for _ in range(a.clients)], warm=True)
    else:
        runner = thread_runner([mapserv_client(a.target) for _ in range(a.clients)], warm=False)

    try:
        unit = 'metatile' if grouped else 'tile'
        everything, all_screens, total_secs, total_tiles, total_untimed_errors = [], [], 0.0, 0, 0
        for z in sorted(bands):
            screens_ms, untimed_errors = [], 0
            if not screens:
                tiles = bands[z]
                tasks = tiles
                if grouped:
                    metatiles = {}   # in the order of the list's first tile of each
                    for _, x, y in tiles:
                        metatiles.setdefault((x // META, y // META), []).append((x, y))
                    tasks = [(z, mx, my, wanted) for (mx, my), wanted in metatiles.items()]
                start = now()
                results = runner.run(tasks)
                secs = now() - start
                n = len(tiles)
            else:
                results, secs, n = [], 0.0, 0
                for _, timed, tiles in bands[z]:
                    got = runner.run(tiles)
                    if timed:
                        took = max(r[1] for r in got) - min(r[0] for r in got)
                        screens_ms.append(took * 1000)
                        secs += took
                        n += len(tiles)
                        results += got
                    else:
                        untimed_errors += sum(1 for r in got if not r[3])   # errors count even untimed
            report(a, 'z%d' % z, n, secs, results, screens_ms, unit, untimed_errors)
            everything += results
            all_screens += screens_ms
            total_secs += secs
            total_tiles += n
            total_untimed_errors += untimed_errors
        report(a, 'all', total_tiles, total_secs, everything, all_screens, unit, total_untimed_errors)
    finally:
        runner.close()
        if cache_dir:
            shutil.rmtree(cache_dir, ignore_errors=True)
    return 3 if total_untimed_errors or any(not r[3] for r in everything) else 0


if __name__ == '__main__':
    sys.exit(main())
