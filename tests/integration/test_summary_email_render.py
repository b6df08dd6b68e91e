"""The embedded path (`make run`: SQLite, no SMTP): `flask summary send --week <last week>` writes an .eml to the
outbox whose HTML part, rendered by headless Chromium the way a mail client resolves `cid:`, shows the chart."""

from __future__ import annotations

import base64
import email
import shutil
import subprocess
from datetime import UTC, datetime
from email import policy
from pathlib import Path

import pytest
from matplotlib.image import imread

from tests.conftest import base_config, migrate_to_head
from tests.support import services
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS
from tests.support.summaries import TZ, parts, sample_week

ELOGIO_GREEN = (0x2E, 0x7D, 0x32)  # the chart's ELOGIO bars; nothing else in the e-mail uses it


def chromium() -> str:
    if not Path(CHROMIUM).is_file():
        services.unavailable(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    return CHROMIUM


def screenshot(html: Path, out: Path, profile: Path) -> None:
    subprocess.run(
        [chromium(), *CHROMIUM_ARGS, "--hide-scrollbars", f"--user-data-dir={profile}", "--window-size=680,1300",
         f"--screenshot={out}", html.as_uri()],
        check=True, capture_output=True, timeout=90,
    )  # fmt: skip


def green_pixels(png: Path) -> int:
    pixels = (imread(png)[:, :, :3] * 255).round()
    r, g, b = ELOGIO_GREEN
    close = (abs(pixels[:, :, 0] - r) < 12) & (abs(pixels[:, :, 1] - g) < 12) & (abs(pixels[:, :, 2] - b) < 12)
    return int(close.sum())


@pytest.fixture
def embedded_app(tmp_path, model_dir):
    from app import create_app
    from app.services.weeks import IsoWeek

    app = create_app(
        base_config(
            tmp_path, model_dir, DATABASE_URL=f"sqlite:///{tmp_path / 'alumusic.db'}", MAIL_SERVER="",
            MAIL_OUTBOX_DIR=str(tmp_path / "outbox"), SUMMARY_RECIPIENTS="diretoria@alumusic.com",
        )
    )  # fmt: skip
    migrate_to_head(app)
    app.config["LAST_WEEK"] = str(IsoWeek.previous(datetime.now(UTC), TZ))
    sample_week(app, app.config["LAST_WEEK"])
    return app


def test_outbox_eml_renders_with_the_chart_visible(embedded_app, tmp_path):
    week = embedded_app.config["LAST_WEEK"]
    result = embedded_app.test_cli_runner().invoke(args=["summary", "send", "--week", week])
    assert result.exit_code == 0, result.output
    [eml] = list((tmp_path / "outbox").glob("*.eml"))
    found = parts(email.message_from_bytes(eml.read_bytes(), policy=policy.default))

    # What a mail client does with cid: — the related image part, by its Content-ID.
    inline = "data:image/png;base64," + base64.b64encode(found["png"]).decode()
    rendered = tmp_path / "rendered.html"
    rendered.write_text(found["html"].replace(f"cid:{found['cid']}", inline), encoding="utf-8")
    shot = tmp_path / "rendered.png"
    screenshot(rendered, shot, tmp_path / "profile")
    assert green_pixels(shot) > 500, "the chart's bars are not visible in the rendered e-mail"

    # Control: the same HTML without the image part shows no chart (the check above can fail).
    broken = tmp_path / "broken.html"
    broken.write_text(found["html"], encoding="utf-8")
    screenshot(broken, tmp_path / "broken.png", tmp_path / "profile2")
    assert green_pixels(tmp_path / "broken.png") == 0

    keep = Path(embedded_app.instance_path) / "e2e"
    if keep.is_dir():  # CI uploads instance/e2e: keep the screenshot for people to look at
        shutil.copy(shot, keep / f"resumo-{week}.png")
