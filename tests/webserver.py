"""A real `artlens serve` for the web tests: started as a subprocess on 127.0.0.1 and a free port,
stopped (and waited for) at the end; plus small HTTP helpers and hostile images made on the spot.

Every request goes to 127.0.0.1 only and has a timeout.
"""

from __future__ import annotations

import http.client
import os
import socket
import struct
import subprocess
import sys
import time
import uuid
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ARTLENS = Path(sys.executable).parent / "artlens"
# The browser the page tests and bench/map_page.py drive: Debian's Chromium, headless, no GPU.
CHROMIUM = Path(os.environ.get("ARTLENS_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


def launch_chromium(playwright: Any) -> Any:
    """That browser, started by a running `sync_playwright()` (close it, or leave the playwright block)."""
    return playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS, timeout=30_000)


@dataclass
class Server:
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None,
                timeout: float = 60) -> tuple[int, float, bytes, dict[str, str]]:
        """(status, seconds, body, headers) of one request to this server."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        start = time.perf_counter()
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            data = response.read()
            return response.status, time.perf_counter() - start, data, {k.lower(): v for k, v in response.getheaders()}
        finally:
            conn.close()

    def peak_rss_mb(self) -> float:
        """The server's peak resident memory so far (VmHWM), in MB."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        raise AssertionError("no VmHWM in /proc status")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve(collection: str | Path, *args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
          log: Path | None = None, start_timeout: float = 60) -> Iterator[Server]:
    """`artlens serve COLLECTION --port <free> ARGS...` until the block ends."""
    port = free_port()
    log = log or Path(os.environ.get("TMPDIR", "/tmp")) / f"artlens-serve-{port}.log"
    with open(log, "wb") as out:
        process = subprocess.Popen([str(ARTLENS), "serve", str(collection), "--port", str(port), *args], cwd=cwd,
                                   env={**os.environ, **(env or {})}, stdout=out, stderr=subprocess.STDOUT)
    server = Server(port, process, log)
    try:
        deadline = time.monotonic() + start_timeout
        while True:
            if process.poll() is not None:
                raise AssertionError(f"artlens serve exited with {process.returncode}: {log.read_text()[-2000:]}")
            try:
                if server.request("GET", "/api/info", timeout=2)[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"artlens serve did not answer within {start_timeout} s")
            time.sleep(0.1)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


def multipart(parts: list[tuple[str, str | None, bytes, str]]) -> tuple[bytes, dict[str, str]]:
    """A multipart/form-data body from (field, file name or None, content, content type)."""
    boundary = uuid.uuid4().hex
    chunks = []
    for field, filename, content, content_type in parts:
        disposition = f'form-data; name="{field}"' + (f'; filename="{filename}"' if filename is not None else "")
        chunks.append(f"--{boundary}\r\nContent-Disposition: {disposition}\r\nContent-Type: {content_type}\r\n\r\n".encode()
                      + content + b"\r\n")
    return b"".join(chunks) + f"--{boundary}--\r\n".encode(), {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def png_bomb(path: Path, width: int, height: int, alpha: bool = True) -> Path:
    """A valid PNG of width x height black pixels (RGBA: the costliest to decode), written row by row so
    that making it needs no memory: 13,000 x 13,000 takes 0.66 MB on disk and 676 MB decoded."""
    channels, color_type = (4, 6) if alpha else (3, 2)
    row = b"\x00" * (1 + width * channels)
    z = zlib.compressobj(9)
    data = b"".join([*(z.compress(row) for _ in range(height)), z.flush()])

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    header = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b""))
    return path
