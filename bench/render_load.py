#!/usr/bin/python3
"""Uncached PNG tile load for bench/render_bench.sh: one tile list, N concurrent workers, against
onemap-server over HTTP or MapServer, the way MapServer is run. Prints per-zoom tiles/s, latency
percentiles and sizes in the format of bench/tile_load.

    render_load.py --tiles FILE --clients N [--record TSV --name NAME] onemap URL
        GET URL/{z}/{x}/{y}.png, one keep-alive connection per worker (URL e.g.
        http://127.0.0.1:18080/tiles/basemap)
    render_load.py ... mapserv MAPFILE
        CGI: a fresh `mapserv` process per tile (mode=tile&tilemode=gmap), headers stripped;
        MAPSERVER_CONFIG_FILE comes from the environment
    render_load.py ... mapscript MAPFILE
        N warm Python processes holding the parsed mapfile (python3-mapscript) and their
        PostGIS connections, each drawing the tile's extent exactly as mapserv's tile mode sets it
    render_load.py ... mapscript-metatile MAPFILE
        the same warm processes drawing each 4x4 metatile of the list once (plus a 16-px buffer,
        as MapCache's metabuffer) and cutting the tiles asked for out of it, PNG-encoded by PIL
        (zlib level 6, libpng's default) the way MapCache re-encodes; latency is per metatile

FILE holds one "z x y" per line; each zoom is timed on its own, in the file's order. Before
timing, every worker draws one tile outside the list (connections, fonts), except CGI whose
every request starts cold by design. A response that is not a 256x256 PNG counts as an error.
One Python driver for every side, so the load generator's share of the 2 cores is alike.
"""
import argparse
import http.client
import multiprocessing
import os
import struct
import subprocess
import sys
import threading
import time
import urllib.parse

WARMUP_TILE = (9, 418, 206)   # Zhumadian's centre, not in any list render_bench.sh writes
HALF = 20037508.342789244


def png_ok(body):
    return (len(body) > 24 and body[:8] == b'\x89PNG\r\n\x1a\n' and
            struct.unpack('>II', body[16:24]) == (256, 256))


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


# ---- MapServer warm (mapscript) ---------------------------------------------------------------
_map = None


def _mapscript_init(mapfile, ready):
    global _map
    import mapscript
    _map = mapscript.mapObj(mapfile)
    _mapscript_draw(WARMUP_TILE)
    ready.put(os.getpid())


def _mapscript_draw(t):
    z, x, y = t
    size = 2 * HALF / 2 ** z
    minx, maxy = -HALF + x * size, HALF - y * size
    half_px = size / 256 / 2   # mapserv's tile mode: extent from pixel centre to pixel centre
    t0 = time.perf_counter()
    _map.setExtent(minx + half_px, maxy - size + half_px, minx + size - half_px, maxy - half_px)
    body = _map.draw().getBytes()
    ms = (time.perf_counter() - t0) * 1000
    return ms, len(body), png_ok(body)


META = 4
META_BUFFER = 16


def _mapscript_draw_metatile(task):
    import io
    from PIL import Image
    z, mx, my, wanted = task
    size = 2 * HALF / 2 ** z
    res = size / 256
    n = 2 ** z
    cols, rows = min(META, n - mx * META), min(META, n - my * META)
    minx = -HALF + mx * META * size - META_BUFFER * res
    maxy = HALF - my * META * size + META_BUFFER * res
    w, h = cols * 256 + 2 * META_BUFFER, rows * 256 + 2 * META_BUFFER
    t0 = time.perf_counter()
    _map.setSize(w, h)
    _map.setExtent(minx + res / 2, maxy - h * res + res / 2, minx + w * res - res / 2, maxy - res / 2)
    whole = Image.open(io.BytesIO(_map.draw().getBytes()))
    whole.load()
    total, ok = 0, True
    for x, y in wanted:
        left, top = META_BUFFER + (x - mx * META) * 256, META_BUFFER + (y - my * META) * 256
        out = io.BytesIO()
        whole.crop((left, top, left + 256, top + 256)).save(out, 'PNG', compress_level=6)
        body = out.getvalue()
        total += len(body)
        ok = ok and png_ok(body)
    ms = (time.perf_counter() - t0) * 1000
    return ms, total, len(wanted), ok


def _mapscript_init_metatile(mapfile, ready):
    _mapscript_init(mapfile, ready)
    # The big image is only decoded again: store it uncompressed.
    _map.outputformat.setOption('COMPRESSION', '0')


# ---- driver -----------------------------------------------------------------------------------
def pct(sorted_ms, p):
    return sorted_ms[min(len(sorted_ms) - 1, int(p * len(sorted_ms)))]


def report(name, band, samples, secs, errors, record, tiles=None):
    ms = sorted(s[0] for s in samples)
    tiles = tiles or len(samples)
    kb = [s[1] / 1024 for s in samples]
    tps = tiles / secs
    print('%-16s %-5s tiles %5d  %8.1f tiles/s  p50 %8.1f ms  p95 %8.1f ms  max %8.1f ms  mean %6.1f KB  errors %d'
          % (name, band, tiles, tps, pct(ms, 0.5), pct(ms, 0.95), ms[-1], sum(kb) / tiles, errors),
          flush=True)
    if record:
        with open(record, 'a') as f:
            f.write('%s\t%s\t%d\t%.2f\t%.2f\t%.2f\t%d\n' % (name, band, tiles, tps, pct(ms, 0.5),
                                                          pct(ms, 0.95), errors))


def run_threads(make_client, tiles, clients, warm):
    samples, errors, lock = [], [0], threading.Lock()
    it = iter(tiles)

    def work(client):
        while True:
            with lock:
                t = next(it, None)
            if t is None:
                return
            t0 = time.perf_counter()
            body = client.tile(*t)
            ms = (time.perf_counter() - t0) * 1000
            with lock:
                if body is None or not png_ok(body):
                    errors[0] += 1
                samples.append((ms, len(body or b'')))

    pool = [make_client() for _ in range(clients)]
    if warm:
        for c in pool:
            c.tile(*WARMUP_TILE)
    start = time.perf_counter()
    threads = [threading.Thread(target=work, args=(c,)) for c in pool]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return samples, time.perf_counter() - start, errors[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--tiles', required=True)
    ap.add_argument('--clients', type=int, default=2)
    ap.add_argument('--name', help='row label (default: the side)')
    ap.add_argument('--record', help='append "name zoom tiles tiles/s p50 p95 errors" rows to this TSV')
    ap.add_argument('side', choices=['onemap', 'mapserv', 'mapscript', 'mapscript-metatile'])
    ap.add_argument('target', help='URL prefix (onemap) or mapfile (mapserv, mapscript)')
    a = ap.parse_args()
    name = a.name or a.side

    bands = {}
    for line in open(a.tiles):
        if line.strip():
            z, x, y = map(int, line.split())
            bands.setdefault(z, []).append((z, x, y))

    everything, total_secs, total_errors, total_tiles = [], 0.0, 0, 0
    pool = None
    if a.side.startswith('mapscript'):
        ctx = multiprocessing.get_context('fork')
        ready = ctx.Queue()
        init = _mapscript_init if a.side == 'mapscript' else _mapscript_init_metatile
        pool = ctx.Pool(a.clients, init, (os.path.abspath(a.target), ready))
        for _ in range(a.clients):   # every worker has parsed the mapfile and connected
            ready.get(timeout=120)
    for z in sorted(bands):
        tiles = bands[z]
        if a.side == 'mapscript':
            start = time.perf_counter()
            results = list(pool.imap_unordered(_mapscript_draw, tiles, chunksize=1))
            secs = time.perf_counter() - start
            samples = [(ms, n) for ms, n, _ in results]
            errors = sum(1 for *_, ok in results if not ok)
        elif a.side == 'mapscript-metatile':
            metatiles = {}   # in the order of the list's first tile of each
            for _, x, y in tiles:
                metatiles.setdefault((x // META, y // META), []).append((x, y))
            tasks = [(z, mx, my, wanted) for (mx, my), wanted in metatiles.items()]
            start = time.perf_counter()
            results = list(pool.imap_unordered(_mapscript_draw_metatile, tasks, chunksize=1))
            secs = time.perf_counter() - start
            samples = [(ms, n) for ms, n, _, _ in results]
            errors = sum(1 for *_, ok in results if not ok)
        else:
            make = (lambda: onemap_client(a.target)) if a.side == 'onemap' else (lambda: mapserv_client(a.target))
            samples, secs, errors = run_threads(make, tiles, a.clients, a.side == 'onemap')
        report(name, 'z%d' % z, samples, secs, errors, a.record, len(tiles))
        everything += samples
        total_secs += secs
        total_errors += errors
        total_tiles += len(tiles)
    report(name, 'all', everything, total_secs, total_errors, a.record, total_tiles)
    if pool:
        pool.close()
        pool.join()
    return 1 if total_errors else 0


if __name__ == '__main__':
    sys.exit(main())
