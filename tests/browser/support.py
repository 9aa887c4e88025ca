"""What a person does in the browser journeys, written once for every journey: choose the
language, log in through the real page (with its second step, when the page asks for a code),
wait for the jobs a click caused, read the VietQR code drawn on a page, check a page with axe-core.

Journeys receive a ``page`` already pointed at the test server (relative URLs work) and the
``variant`` they run in (see :data:`VARIANTS`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from sqlmodel import func, select

from choso.db import session_scope
from choso.outbox import JobOutbox
from payments import vietqr
from payments.vietqr import VietQRPayload
from tests import backend
from tests.conftest import eventually, wait_for_jobs
from tests.support import PASSWORD

VENDOR = Path(__file__).resolve().parent / "vendor"
CHROMIUM = os.environ.get("CHOSO_TEST_CHROMIUM", "/usr/bin/chromium")


@dataclass(frozen=True)
class Variant:
    """One way of using the site: a language chosen in the page, a screen, a pointer."""

    id: str
    language: str  # "vi" or "en": chosen with the language switcher, as a person does
    width: int
    height: int
    mobile: bool = False

    def context_args(self) -> dict[str, Any]:
        args: dict[str, Any] = {
            "viewport": {"width": self.width, "height": self.height},
            "locale": "vi-VN" if self.language == "vi" else "en-GB",
            "timezone_id": "Asia/Ho_Chi_Minh",
        }
        if self.mobile:
            args.update(is_mobile=True, has_touch=True, device_scale_factor=2)
        return args

    def says(self, vi: str, en: str) -> str:
        """The text a page shows in this variant's language."""
        return vi if self.language == "vi" else en


VARIANTS = (
    Variant("vi", "vi", 1280, 800),
    Variant("en", "en", 1280, 800),
    Variant("mobile", "vi", 375, 812, mobile=True),
)


def requires_services() -> bool:
    return os.environ.get("CHOSO_TEST_REQUIRE_SERVICES", "0") == "1"


# --- language and login --------------------------------------------------------------------------


def choose_language(page: Page, variant: Variant) -> None:
    """Switch the site to the variant's language with the header's switcher (the site's
    default is Vietnamese; the choice is kept in a cookie for the rest of the journey)."""
    if page.url in ("", "about:blank"):
        page.goto("/")
    if page.locator("html").get_attribute("lang") == variant.language:
        return
    page.locator(".lang").get_by_role("link", name=variant.language.upper(), exact=True).click()
    expect(page.locator("html")).to_have_attribute("lang", variant.language)


def login(page: Page, email: str, password: str = PASSWORD, *, totp_secret: str | None = None) -> None:
    """Log in through /login; if the site then asks for a one-time code (operators and agency
    officers with two-factor authentication), type the current one (``totp_secret``, or
    ``tests.support.totp_code_for(email)``).

    The login brings the account's own language (Vietnamese for the factories' users); the
    person who was reading in another language switches back to it with the switcher."""
    page.goto("/login")
    language = page.locator("html").get_attribute("lang") or "vi"
    page.locator("#f-email").fill(email)
    page.locator("#f-password").fill(password)
    page.locator("form[action='/login'] button[type=submit]").click()
    page.wait_for_load_state()
    code_field = page.locator("input[autocomplete='one-time-code']")
    if code_field.count():
        code_field.first.fill(_one_time_code(email, totp_secret))
        code_field.first.locator("xpath=ancestor::form").locator("button[type=submit]").click()
        page.wait_for_load_state()
    expect(page.locator("form[action='/logout']")).to_have_count(1)
    if page.locator("html").get_attribute("lang") != language:
        page.locator(".lang").get_by_role("link", name=language.upper(), exact=True).click()
        expect(page.locator("html")).to_have_attribute("lang", language)


def _one_time_code(email: str, secret: str | None) -> str:
    if secret is not None:
        import pyotp

        return str(pyotp.TOTP(secret).now())
    from tests import support

    code_for = getattr(support, "totp_code_for", None)
    if code_for is None:
        pytest.fail(f"the login page asked {email} for a one-time code; tests.support has no totp_code_for")
    return str(code_for(email))


def submit(page: Page, form: str, button: str | None = None) -> None:
    """Click a form's submit button (the one named ``button``, if several) and wait for the answer."""
    scope = page.locator(form)
    target = scope.get_by_role("button", name=button) if button else scope.locator("button[type=submit]")
    with page.expect_navigation():
        target.first.click()


# --- jobs ----------------------------------------------------------------------------------------


def settle_jobs(timeout: float = 30.0) -> None:
    """Wait until every job the server published has run. On SQLite the server runs them on its
    own threads and clears a job's outbox row when it has finished; on PostgreSQL they go through
    Redis to the test run's Celery worker."""

    def outbox_empty() -> bool:
        with session_scope() as session:
            return session.exec(select(func.count()).select_from(JobOutbox)).one() == 0

    eventually(outbox_empty, timeout=timeout)
    if backend.BACKEND == "postgres":
        wait_for_jobs(timeout)


# --- VietQR --------------------------------------------------------------------------------------


def zbarimg() -> str:
    found = shutil.which("zbarimg")
    if found:
        return found
    if requires_services():
        pytest.fail("zbarimg is missing in CI; .ci/run installs it (Debian package zbar-tools)")
    pytest.skip("zbarimg is not installed here (apt-get install zbar-tools); CI installs it")


def read_vietqr(page: Page, selector: str = ".pay-qr img") -> VietQRPayload:
    """Scan the QR code as the page draws it (a screenshot of the image, read by zbarimg) and
    decode it as a VietQR payload (CRC checked)."""
    image = page.locator(selector)
    expect(image).to_be_visible()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image.element_handle())
    with tempfile.TemporaryDirectory() as folder:
        shot = Path(folder) / "qr.png"
        image.screenshot(path=str(shot), scale="device")
        scanned = subprocess.run(
            [zbarimg(), "--raw", "--quiet", str(shot)], capture_output=True, text=True, timeout=60, check=True
        )
    payload = vietqr.decode(scanned.stdout.strip())
    assert payload.crc_ok
    return payload


def digits(text: str) -> int:
    """``'1.250.000 ₫'`` or ``'₫1,250,000'`` → 1250000."""
    return int(re.sub(r"\D", "", text))


# --- accessibility -------------------------------------------------------------------------------

AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]
FAILING_IMPACTS = {"serious", "critical"}


@cache
def _axe_source() -> str:
    return (VENDOR / "axe.min.js").read_text(encoding="utf-8")


def check_accessibility(page: Page, *, exclude: tuple[str, ...] = ()) -> None:
    """Run axe-core (vendored, tests/browser/vendor) on the page as it is now; fail on any
    violation of impact serious or critical, listing each rule and the elements it found;
    and fail if the page is wider than the screen (a phone would scroll it sideways).

    The script is evaluated through the DevTools protocol, so the site's Content-Security-Policy
    (which forbids inline scripts) stays on for the journey."""
    page.wait_for_load_state()
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(_axe_source())
    context: dict[str, Any] = {"exclude": [[selector] for selector in exclude]} if exclude else {}
    results = page.evaluate(
        """([context, tags]) => axe.run(
            context.exclude ? context : document,
            {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})""",
        [context, AXE_TAGS],
    )
    bad = [v for v in results["violations"] if v.get("impact") in FAILING_IMPACTS]
    assert not bad, f"axe-core on {page.url}:\n" + "\n".join(_describe(v) for v in bad)
    # WCAG 1.4.10 (reflow), which axe does not test: on a phone nothing makes the page scroll sideways.
    widths = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    if widths[0] > widths[1]:
        wide = page.evaluate(_OVERFLOWING)
        raise AssertionError(f"{page.url} is {widths[0]} px wide on a {widths[1]} px screen: {wide}")


# The elements reaching past the right edge whose children do not (where a page overflows).
_OVERFLOWING = """() => {
  const edge = document.documentElement.clientWidth;
  const past = el => el.getBoundingClientRect().right > edge + 0.5;
  const classes = el => typeof el.className === 'string' && el.className.trim()
    ? '.' + el.className.trim().split(/\\s+/).join('.') : '';
  const name = el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + classes(el);
  return [...document.body.querySelectorAll('*')]
    .filter(el => past(el) && ![...el.children].some(past))
    .slice(0, 8)
    .map(el => name(el) + ' (' + Math.round(el.getBoundingClientRect().right) + ' px)');
}"""


def _describe(violation: dict[str, Any]) -> str:
    nodes = "\n".join(
        f"      {node['target']}: {node.get('failureSummary', '').splitlines()[-1:]}"
        for node in violation["nodes"][:8]
    )
    return f"  [{violation['impact']}] {violation['id']}: {violation['help']}\n{nodes}"


def visit(page: Page, path: str) -> None:
    """Open ``path`` and check the page's accessibility."""
    response = page.goto(path)
    assert response is not None and response.ok, f"{path}: {response.status if response else 'no answer'}"
    check_accessibility(page)


def as_json(page: Page, path: str) -> Any:
    """GET ``path`` with the page's cookies (what a script on the page could read)."""
    response = page.request.get(path)
    assert response.ok, f"{path}: {response.status}"
    return json.loads(response.text())
