"""axe-core, the accessibility checker, run in a real page: fetched from the npm registry by the tests, never committed.

The tarball of one pinned version is downloaded once, checked against the sha512 `integrity` the
registry publishes for that version (and pinned here, so a changed package fails instead of
running), and its `axe.min.js` kept in a cache directory outside the repository
($XDG_CACHE_HOME/soma-tests, else ~/.cache/soma-tests). A page gets it with page.add_script_tag(content=…),
which the page's Content-Security-Policy allows in a test (Playwright injects it over the protocol).
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import tarfile
from pathlib import Path

import httpx

VERSION = "4.10.3"
INTEGRITY = "sha512-Xm7bpRXnDSX2YE2YFfBk2FnF0ep6tmG7xPh8iHee8MIcrgq762Nkce856dYtJYLkuIoYZvGfTs/PbZhideTcEg=="
METADATA = f"https://registry.npmjs.org/axe-core/{VERSION}"
TARBALL = f"https://registry.npmjs.org/axe-core/-/axe-core-{VERSION}.tgz"
MEMBER = "package/axe.min.js"
FAILING = ("serious", "critical")  # the impacts a page may not have

# Run in the page: every rule axe-core has for WCAG 2.x A and AA, plus its best practices; answers the violations.
RUN = """
async () => {
  const results = await axe.run(document, { resultTypes: ["violations"] });
  return results.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.map((n) => n.target.join(" ") + ": " + n.failureSummary.replaceAll("\\n", " ")),
  }));
}
"""


def _cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "soma-tests"


def script() -> str:
    """axe.min.js of VERSION, from the cache or downloaded and checked once."""
    cached = _cache_dir() / f"axe-core-{VERSION}.min.js"
    if cached.exists():
        return cached.read_text()
    published = httpx.get(METADATA, timeout=30).raise_for_status().json()["dist"]["integrity"]
    assert published == INTEGRITY, f"the registry publishes {published} for axe-core {VERSION}, not the pinned {INTEGRITY}"
    tarball = httpx.get(TARBALL, timeout=60, follow_redirects=True).raise_for_status().content
    digest = "sha512-" + base64.b64encode(hashlib.sha512(tarball).digest()).decode()
    assert digest == INTEGRITY, f"{TARBALL} has {digest}, not the published {INTEGRITY}"
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
        member = archive.extractfile(MEMBER)
        assert member is not None, f"{TARBALL} has no {MEMBER}"
        text = member.read().decode()
    cached.parent.mkdir(parents=True, exist_ok=True)
    partial = cached.with_suffix(f".{os.getpid()}.part")
    partial.write_text(text)
    partial.replace(cached)  # whole or not at all, whichever test process writes it first
    return text


def violations(page) -> list[dict]:
    """The serious and critical violations axe-core finds in the page as it is now."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.add_script_tag(content=script())
    return [v for v in page.evaluate(RUN) if v["impact"] in FAILING]
