"""Browser fixtures: Debian's Chromium driven by Playwright against the app served by uvicorn on a free port."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pytest
import uvicorn
from tests.conftest import Env

from nightcrew.api.app import create_app

if TYPE_CHECKING:
    from playwright.sync_api import Page

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
T = TypeVar("T")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def install_chromium() -> str | None:
    """Install Debian's chromium when it is missing; None when it is there, else why it cannot be."""
    if CHROMIUM.exists():
        return None
    apt = shutil.which("apt-get")
    if apt is None:
        return f"{CHROMIUM} is missing and there is no apt-get to install it"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    error = ""
    # A stale package index is the usual reason an install fails: refresh it once and try again.
    for steps in ([["install", "-y", "chromium"]], [["update"], ["install", "-y", "chromium"]]):
        for step in steps:
            try:
                done = subprocess.run([apt, *step], capture_output=True, text=True, timeout=900, check=False, env=env)
            except (OSError, subprocess.TimeoutExpired) as exc:
                return f"apt-get {' '.join(step)} failed: {exc}"
            error = done.stderr.strip()[-500:]
        if CHROMIUM.exists():
            return None
    return f"apt-get install -y chromium did not provide {CHROMIUM}: {error}"


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's chromium binary, installed when missing (the tests skip, saying why, when it cannot be)."""
    reason = install_chromium()
    if reason is None:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            reason = "playwright is not installed (pip install playwright; the browser is Debian's chromium)"
    if reason is not None:
        print(f"browser tests skipped: {reason}")
        pytest.skip(reason)
    return CHROMIUM


def off_loop(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call ``fn`` on another thread: Playwright's sync API keeps an event loop running on this one,
    and DBOS refuses its blocking calls where a loop runs."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(fn, *args, **kwargs).result()


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def live_server(env: Env) -> Iterator[str]:
    """The whole app over the test's container, served by uvicorn in a background thread; yields its base URL."""
    env.container.settings.default_tenant = env.tenant.slug
    app = create_app(env.container.settings, container=env.container)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False, log_config=None)
    )
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"uvicorn did not start on 127.0.0.1:{port}")
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def page(chromium: Path, live_server: str, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A page in a fresh Chromium; a full-page screenshot of where the test ended is saved under test-artifacts/."""
    from playwright.sync_api import sync_playwright

    # Started after the app and DBOS (and stopped before them): DBOS cannot launch while this loop runs.
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
        tab = context.new_page()
        tab.set_default_timeout(10_000)
        try:
            yield tab
        finally:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name).strip("_")
            tab.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
            context.close()
            browser.close()
