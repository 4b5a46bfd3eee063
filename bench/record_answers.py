#!/usr/bin/python3
"""Records onemap-server's answers to a list of request paths, for bench/http_ceiling's replay
mode: one line per path, "status<TAB>content type<TAB>path<TAB>body" (bodies are one-line JSON).

    record_answers.py HOST:PORT PATHS_FILE OUT_FILE
"""
import http.client
import sys


def main():
    host, port = sys.argv[1].split(":")
    conn = http.client.HTTPConnection(host, int(port))
    with open(sys.argv[2]) as paths, open(sys.argv[3], "w", encoding="utf-8") as out:
        for path in (line.strip() for line in paths):
            if not path:
                continue
            conn.request("GET", path)
            res = conn.getresponse()
            body = res.read().decode("utf-8")
            if "\n" in body or "\t" in body:
                sys.exit(f"record_answers: the answer to {path} is not one line")
            out.write(f"{res.status}\t{res.getheader('Content-Type')}\t{path}\t{body}\n")


if __name__ == "__main__":
    main()
