"""A real localstripe server on loopback, for the tests that talk to Stripe through its SDK.

`localstripe_url` (session-scoped) starts `localstripe.server.app` with aiohttp on 127.0.0.1 and a
free port in a subprocess, waits until it answers, yields its base URL, and stops it after.

Why not `localstripe`'s CLI: it binds `::` (every interface, IPv4 and IPv6) and reloads state from
disk unless given `--from-scratch`. Here the launcher calls `aiohttp.web.run_app(app,
host="127.0.0.1", port=PORT)` itself.

Persistence quirk: localstripe pickles its whole store to the hard-coded path
`/tmp/localstripe.pickle` after every change (`Store.dump_to_disk`, called from `__setitem__`,
`__delitem__` and a middleware after every POST/PUT/DELETE), and its CLI loads that file at start.
The path is absolute, so neither the working directory nor TMPDIR moves it. Two servers at once
(parallel test runs, or a developer's own localstripe) would overwrite each other's file. The
launcher therefore points `Store.dump_to_disk` at a file in this server's own temporary
directory (it keeps localstripe's behaviour, only the path changes) and never loads a previous
state: each test session starts from an empty store.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

LAUNCHER = """
import pickle, sys
import aiohttp.web
import localstripe.resources
import localstripe.server

state_file = sys.argv[2]

def dump_to_disk(self):
    with open(state_file, "wb") as f:
        pickle.dump(self, f, protocol=pickle.HIGHEST_PROTOCOL)

localstripe.resources.Store.dump_to_disk = dump_to_disk
aiohttp.web.run_app(localstripe.server.app, host="127.0.0.1", port=int(sys.argv[1]),
                    print=None)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_until_up(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    """Up once it answers an authenticated request (its auth middleware wants an `sk_` key)."""
    deadline = time.monotonic() + 30
    probe = urllib.request.Request(
        f"{url}/v1/payment_intents", headers={"Authorization": "Bearer sk_test_probe"}
    )
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"localstripe exited early:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(probe, timeout=1) as response:
                if response.status == 200:
                    return
        except (OSError, urllib.error.HTTPError):
            time.sleep(0.1)
    raise RuntimeError(f"localstripe did not come up:\n{log.read_text()[-3000:]}")


@dataclass(frozen=True)
class LocalStripe:
    url: str
    state_file: Path  # where this server pickles its store (not /tmp/localstripe.pickle)


@pytest.fixture(scope="session")
def localstripe_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStripe]:
    """A fresh localstripe on 127.0.0.1 and a free port, stopped after the session."""
    tmp = tmp_path_factory.mktemp("localstripe")
    port = free_port()
    log = tmp / "localstripe.log"
    state_file = tmp / "localstripe.pickle"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", LAUNCHER, str(port), str(state_file)],
            cwd=tmp, env={**os.environ, "TMPDIR": str(tmp)},
            stdout=out, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url, process, log)
        yield LocalStripe(url, state_file)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(scope="session")
def localstripe_url(localstripe_server: LocalStripe) -> str:
    """Base URL (http://127.0.0.1:PORT) of the session's localstripe: STRIPE_API_BASE in tests."""
    return localstripe_server.url
