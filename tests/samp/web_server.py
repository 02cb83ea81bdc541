#!/usr/bin/env python3
"""Serves a folder over HTTP for the browser test and appends every POST body to a file.

  web_server.py PORT FOLDER REPORT_FILE
"""
import http.server
import sys
from functools import partial

port, folder, report = int(sys.argv[1]), sys.argv[2], sys.argv[3]


class Handler(http.server.SimpleHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode("utf-8", "replace")
        with open(report, "a") as f:
            f.write(body + "\n")
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer(("127.0.0.1", port), partial(Handler, directory=folder)).serve_forever()
