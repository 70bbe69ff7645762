"""The page of `zh-medner serve` in a real browser: headless Chromium (Debian's package) against
a running server on 127.0.0.1. Skips, saying why, without /usr/bin/chromium or playwright."""

import json

import pytest

from .browser import SCREENSHOTS, chromium, running_server
from .serving_pipeline import save_small_pipeline

TEXT = "患者慢性胃炎伴胃痛三天，否认高血压病史。无发热，考虑肺炎。口服拜阿司匹灵。复查血常规。"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    model = save_small_pipeline(tmp_path_factory.mktemp("pipeline") / "medner_test")
    with running_server(model) as url:
        yield url


@pytest.fixture(scope="module")
def browser(server):
    with chromium() as b:
        yield b


def marks(page, scope="#results article.doc:first-of-type > .displacy"):
    return page.eval_on_selector_all(
        f"{scope} mark.entity",
        "els => els.map(e => [e.firstChild.textContent.trim(), e.dataset.label, e.className])",
    )


def test_submit_a_text_and_see_the_entities(server, browser, tmp_path):
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    page.goto(server + "/")
    page.fill("#text", TEXT)
    page.click("#submit")
    page.wait_for_selector("#results mark.entity")
    assert marks(page) == [
        ["慢性胃炎", "DIS", "entity"],
        ["胃痛", "SYM", "entity"],
        ["高血压", "DIS", "entity negated"],
        ["发热", "SYM", "entity negated"],
        ["肺炎", "DIS", "entity uncertain"],
        ["拜阿司匹灵", "DRU", "entity"],
        ["血常规", "ITE", "entity"],
    ]
    # negated: struck through; uncertain: dashed outline; one colour per label
    style = page.eval_on_selector(
        "#results mark.entity.negated", "e => getComputedStyle(e).textDecorationLine"
    )
    assert style == "line-through"
    assert (
        page.eval_on_selector(
            "#results mark.entity.uncertain", "e => getComputedStyle(e).outlineStyle"
        )
        == "dashed"
    )
    colours = page.eval_on_selector_all(
        "#results .displacy mark.entity",
        "els => els.map(e => [e.dataset.label, getComputedStyle(e).backgroundColor])",
    )
    assert all(len({c for lab, c in colours if lab == label}) == 1 for label, _ in colours)
    assert len({c for _, c in colours}) == 4  # DIS, SYM, DRU, ITE
    # the entity table, the nested spans, the shareable link and the JSON download
    assert page.locator("table.ents tbody tr").count() == 7
    assert "阿司匹林" in page.inner_text("table.ents")
    assert page.locator("details.spans").count() == 1
    assert "text=" in page.url
    with page.expect_download() as info:
        page.click("#download")
    data = json.loads(open(info.value.path(), encoding="utf8").read())
    assert [e["text"] for e in data["docs"][0]["ents"]][:3] == ["慢性胃炎", "胃痛", "高血压"]
    shot = tmp_path / "serve_page.png"
    page.screenshot(path=str(shot), full_page=True)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    (SCREENSHOTS / "serve_page.png").write_bytes(shot.read_bytes())
    assert shot.stat().st_size > 10_000


def test_the_shared_link_works_without_javascript(server, browser):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(server + "/?text=" + "无发热，考虑肺炎。")
    assert marks(page) == [["发热", "SYM", "entity negated"], ["肺炎", "DIS", "entity uncertain"]]
    assert page.get_attribute("#download", "href").startswith("data:application/json")
    # the plain form submits with GET
    page.fill("#text", "复查血常规。")
    page.click("#submit")
    page.wait_for_load_state()
    assert marks(page) == [["血常规", "ITE", "entity"]]
    context.close()


def test_upload_a_jsonl_file(server, browser, tmp_path):
    src = tmp_path / "records.jsonl"
    lines = [{"text": "复查血常规。"}, {"text": "无发热，考虑肺炎。"}, {"other": 1}]
    src.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in lines), encoding="utf8")
    page = browser.new_page()
    page.goto(server + "/")
    page.set_input_files("#file", str(src))
    page.wait_for_function("document.querySelectorAll('#results article.doc').length === 2")
    assert [m[0] for m in marks(page, "#results")] == ["血常规", "发热", "肺炎"]
    assert 'line 3: no "text" string, skipped.' in page.inner_text("#status")
