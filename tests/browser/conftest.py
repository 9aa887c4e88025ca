"""Browser journeys: Debian's Chromium, driven by Playwright (pytest-playwright), against a real
``choso serve`` on a free port and this test run's database — on SQLite with the server's
embedded jobs, on PostgreSQL with Redis and the run's Celery worker.

Every test that uses ``page`` runs three times (see ``support.VARIANTS``): Vietnamese and
English on a 1280×800 desktop, and Vietnamese on a 375×812 touch phone. One browser serves the
whole session, each test gets a new context. Tracing is on for every test and kept, with a
screenshot, only when it fails: ``var/test-results/browser-<backend>/<test id>/``
(``playwright show-trace <that folder>/trace.zip``).

Without Chromium (``/usr/bin/chromium``, or CHOSO_TEST_CHROMIUM) the journeys are skipped with
the reason, except in CI (CHOSO_TEST_REQUIRE_SERVICES=1), where that is a failure.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page
from slugify import slugify

from matching.warm import warm_up
from tests import backend
from tests.browser.support import CHROMIUM, VARIANTS, Variant, choose_language, requires_services, settle_jobs
from tests.conftest import _TMP
from tests.servers import ROOT, Server, running_server, server_env

RESULTS = ROOT / "var" / "test-results" / f"browser-{backend.BACKEND}"
# The server's card processor is its own: in sandbox mode ``choso serve`` starts localstripe and
# has it send its webhooks to the server. tests/payments sets these on import, for a localstripe
# that runs only while its tests do; in one session with them the server must not inherit them.
OTHER_TESTS_STRIPE = (
    "CHOSO_STRIPE_SECRET_KEY",
    "CHOSO_STRIPE_PUBLISHABLE_KEY",
    "CHOSO_STRIPE_WEBHOOK_SECRET",
    "CHOSO_STRIPE_API_BASE",
    "CHOSO_STRIPE_JS_URL",
)


def _chromium_missing() -> str | None:
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        return f"Chromium not found at {CHROMIUM} (apt-get install chromium, or set CHOSO_TEST_CHROMIUM)"
    return None


@pytest.fixture(scope="session")
def chromium_path() -> str:
    missing = _chromium_missing()
    if missing:
        if requires_services():
            pytest.fail(f"{missing}; CI (CHOSO_TEST_REQUIRE_SERVICES=1) needs it")
        pytest.skip(missing)
    return CHROMIUM


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any], chromium_path: str) -> dict[str, Any]:
    """pytest-playwright's launch options, with the system Chromium (no browser downloads)."""
    return {**browser_type_launch_args, "executable_path": chromium_path, "chromium_sandbox": False}


@pytest.fixture(scope="session", autouse=True)
def _fresh_results_folder() -> None:
    shutil.rmtree(RESULTS, ignore_errors=True)


@pytest.fixture
def output_path(request: pytest.FixtureRequest) -> str:
    """Where a failed test's trace and screenshot go (pytest-playwright's fixture, our folder:
    one per backend, so the PostgreSQL run keeps the SQLite run's artifacts)."""
    return str(RESULTS / slugify(request.node.nodeid)[:200])


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory, celery_worker: str) -> Iterator[Server]:
    """``choso serve`` for the whole session, on this run's database (and Redis queue, served by
    the run's Celery worker, on the PostgreSQL backend).

    The matching solver's kernels are compiled first, into the on-disk cache the server then
    loads (as ``make install`` does): compiling inside journey 5's round request took longer than
    a click may wait on a busy CI machine, whenever a kernel's source had changed."""
    warm_up()
    log = tmp_path_factory.mktemp("browser-serve") / "serve.log"
    with running_server(log, env=server_env(**dict.fromkeys(OTHER_TESTS_STRIPE))) as server:
        yield server


@pytest.fixture(params=VARIANTS, ids=[variant.id for variant in VARIANTS])
def variant(request: pytest.FixtureRequest) -> Variant:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def browser_context_args(
    browser_context_args: dict[str, Any], live_server: Server, variant: Variant
) -> dict[str, Any]:
    return {**browser_context_args, **variant.context_args(), "base_url": live_server.url}


@pytest.fixture
def page(page: Page, variant: Variant) -> Page:
    """A fresh page on the test server, already in the variant's language."""
    page.set_default_timeout(15_000)
    choose_language(page, variant)
    return page


_FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[pytest.TestReport]:
    report = yield
    if report.failed:
        item.stash[_FAILED] = True
    return report


@pytest.fixture(autouse=True)
def _jobs_settled_before_reset(request: pytest.FixtureRequest) -> Iterator[None]:
    """The database is emptied after each test (tests.conftest.clean_database); first let the
    server's jobs finish, so none of them runs against the emptied tables. A failed test also
    gets the server's log (and the worker's) beside its trace."""
    yield
    if "live_server" not in request.fixturenames:
        return
    try:
        settle_jobs()
    finally:
        if request.node.stash.get(_FAILED, False):
            _keep_logs(request.getfixturevalue("live_server"), Path(request.getfixturevalue("output_path")))


def _keep_logs(server: Server, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(server.log_path, folder / "server.log")
    worker_log = _TMP / "worker.log"
    if worker_log.exists():
        shutil.copyfile(worker_log, folder / "worker.log")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def base_url() -> None:
    """No --base-url: each context gets the live server's URL (replaces pytest-playwright's
    own fixture, which pytest 9 warns about)."""
    return None
