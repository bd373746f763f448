"""The upload page in headless Chromium (Debian's /usr/bin/chromium driven by Playwright): upload a fixture
through the file input, read the rendered summary and findings, download the CSV, drop a file on the drop
zone, switch to English. Skips only when /usr/bin/chromium is absent."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

import fpschema

from .conftest import REF, ROOT
from .test_service import LiveServer, live_server

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
FIXTURE = ROOT / "fixtures" / "invalid_service_records.csv"
SCREENSHOT = Path("/tmp/upload_page.png")
CJK = re.compile(r"[\u4e00-\u9fff]")

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(),
                                reason="/usr/bin/chromium is absent (apt-get install chromium; .ci/run installs it)")


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("browser"), reference_date=REF.isoformat()) as live:
        yield live


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def number(text: str | None) -> int:
    return int(re.sub(r"[^0-9]", "", text or ""))


def test_upload_page_shows_the_report(server, browser, tmp_path):
    expected = fpschema.validate(FIXTURE, reference_date=REF)
    data_rows = len(FIXTURE.read_text(encoding="utf-8").splitlines()) - 1
    assert expected.rows_total == data_rows == 400

    page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="zh-CN", accept_downloads=True)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.goto(server.url + "/")
    assert page.title() == "fpschema 数据校验"
    assert page.locator("#kind option").first.inner_text() == "自动识别"

    page.set_input_files("#file-input", str(FIXTURE))
    page.wait_for_selector("#result:not([hidden])", timeout=30_000)
    assert number(page.text_content("#rows-total")) == data_rows
    assert number(page.text_content("#rows-invalid")) == expected.rows_invalid
    assert number(page.text_content("#rows-valid")) == expected.rows_valid
    assert page.text_content("#verdict") == "未通过"
    assert number(page.text_content("#count-errors")) == expected.counts["by_severity"]["error"]

    rows = page.locator("#findings tbody tr")
    assert rows.count() == expected.findings_all.height
    messages = page.locator("#findings tbody td.message").all_inner_texts()
    assert messages and all(CJK.search(m) for m in messages)
    values = " ".join(page.locator("#findings tbody td.value").all_inner_texts())
    assert "********" in values  # ID numbers masked
    assert page.locator("#chart-rule .bar-row").count() == min(15, len(expected.counts["by_rule"]))
    assert page.locator("#chart-column .bar-row").count() == min(15, len(expected.counts["by_column"]))
    page.screenshot(path=str(SCREENSHOT), full_page=True)

    with page.expect_download() as download_info:
        page.click("#download-csv")
    download = download_info.value
    assert download.suggested_filename == "invalid_service_records.findings.csv"
    saved = tmp_path / "findings.csv"
    download.save_as(saved)
    lines = saved.read_text(encoding="utf-8-sig").splitlines()
    assert lines[0] == "row,column,rule,severity,value,message" and len(lines) > expected.findings_all.height

    with page.expect_download() as download_info:
        page.click("#download-html")
    report = tmp_path / "report.html"
    download_info.value.save_as(report)
    assert "<html" in report.read_text(encoding="utf-8")[:500].lower()

    page.click("#lang-switch")
    page.wait_for_function("() => document.querySelector('#findings thead th:last-child').textContent === 'Message'")
    assert page.locator("[data-i18n=rows_total]").inner_text() == "Rows"
    assert page.text_content("#lang-switch") == "中文"
    assert "lang=en" in page.url
    # the findings come again from the server, now in English
    english = fpschema.validate(FIXTURE, reference_date=REF, lang="en").findings["message"].to_list()
    page.wait_for_function("(first) => document.querySelector('#findings tbody td.message').textContent === first",
                           arg=english[0], timeout=30_000)
    assert page.locator("#findings tbody td.message").all_inner_texts() == english
    assert page.text_content("#verdict") == "Failed"
    assert number(page.text_content("#rows-invalid")) == expected.rows_invalid
    page.screenshot(path=str(SCREENSHOT.with_name("upload_page_en.png")), full_page=True)
    assert not errors, errors
    page.close()


def test_drop_zone_and_error_message(server, browser):
    page = browser.new_page(locale="en-US")
    page.goto(server.url + "/?lang=en")
    assert page.locator("[data-i18n=drop]").inner_text() == "Drop a file here, or"
    # a file dropped on the zone (built in the page, as a drag from the desktop would deliver it)
    page.evaluate("""() => {
        const data = new DataTransfer();
        const csv = 'station_code,client_id,sex,birth_status,service_date,city_code\\n'
                  + '110105001,110105199003070025,2,1,2023-04-19,110105\\n';
        data.items.add(new File([csv], 'dropped.csv', {type: 'text/csv'}));
        document.getElementById('dropzone').dispatchEvent(new DragEvent('drop', {dataTransfer: data, bubbles: true}));
    }""")
    page.wait_for_selector("#result:not([hidden])", timeout=30_000)
    assert number(page.text_content("#rows-total")) == 1
    assert "dropped.csv" in page.text_content("#file-info")
    # an empty file: the coded error is shown, not a report
    page.set_input_files("#file-input", files=[{"name": "empty.csv", "mimeType": "text/csv", "buffer": b""}])
    page.wait_for_selector("#error:not([hidden])", timeout=30_000)
    assert "input.empty" in page.text_content("#error")
    assert page.locator("#result").is_hidden()
    page.close()
