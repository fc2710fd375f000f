#!/usr/bin/env python3
"""Static file server for the page: loopback only, correct MIME type for .wasm, no caching of the
app bundle (so a rebuilt page is picked up on reload), and the cross-origin isolation headers that
multithreaded wasm needs, so the page behaves the same here as behind a production server.
--no-isolation leaves those headers out: the page then runs as on a host that cannot send them
(single-threaded fine-tuning), which the browser tests check."""
import argparse
import functools
import http.server


class Handler(http.server.SimpleHTTPRequestHandler):
    isolated = True  # send COOP/COEP (cross-origin isolation: SharedArrayBuffer, wasm threads)
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map,
                      ".wasm": "application/wasm", ".js": "text/javascript",
                      ".safetensors": "application/octet-stream", ".idx": "application/octet-stream",
                      ".webmanifest": "application/manifest+json"}

    def end_headers(self):
        self.send_header("Cache-Control", "no-cache")
        if self.isolated:
            self.send_header("Cross-Origin-Opener-Policy", "same-origin")
            self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
        super().end_headers()

    def log_message(self, fmt, *args):  # one short line per request
        print("  %s %s" % (self.command, self.path), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--bind", default="127.0.0.1")
    parser.add_argument("--directory", required=True)
    parser.add_argument("--no-isolation", action="store_true",
                        help="leave out COOP/COEP: no cross-origin isolation, single-threaded fine-tuning")
    args = parser.parse_args()
    Handler.isolated = not args.no_isolation
    handler = functools.partial(Handler, directory=args.directory)
    with http.server.ThreadingHTTPServer((args.bind, args.port), handler) as server:
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
