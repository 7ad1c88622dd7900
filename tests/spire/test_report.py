"""The static HTML report, opened in a real headless browser (Chromium from Debian's packages)."""
from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from spire import cell_stats
from spire.metrics import bleu_chrf, word_error_rate
from spire.report import item_table, write_report
from spire.results import load_score

REFS = ["the cat sat on the mat", "a dog ran to the barn", "red green blue", "one two three four"]
HYPS = {
    "TowerFull": ["the cat sat on the mat", "a dog ran", "red green blue", "one two"],
    "SpireFull": ["the cat sat on a mat", "a dog ran to the barn", "red green blue", "one two three four"],
}


def _cells(tmp_path):
    refs = tmp_path / "refs.txt"
    refs.write_text("\n".join(REFS) + "\n")
    ids = tmp_path / "ids.txt"
    ids.write_text("utt_a\nutt_b\nutt_c\nutt_d\n")
    cells = []
    for variant, hyps in HYPS.items():
        hp = tmp_path / f"{variant}.txt"
        hp.write_text("\n".join(hyps) + "\n")
        s = word_error_rate(hyps, REFS, "basic")
        s.update(variant=variant, testset="asr_toy", hyps=str(hp), refs=str(refs), ids=str(ids))
        f = tmp_path / f"{variant}.json"
        f.write_text(json.dumps(s))
        cells += load_score(f)
        s = bleu_chrf(hyps, REFS)
        s.update(variant=variant, testset="mt_toy", hyps=str(hp), refs=str(refs))
        f = tmp_path / f"{variant}.mt.json"
        f.write_text(json.dumps(s))
        cells += load_score(f)
    return cells


def _chromium():
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.fail("Chromium is missing: `make test-setup` installs it (apt-get install chromium)")
    return exe


def _dump(exe, url):
    out = subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                          "--virtual-time-budget=3000", "--dump-dom", url],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


def _order(dom):
    rows = dom[dom.index('<table id="rows">'):]
    return re.findall(r'<tr class="item" data-id="([^"]+)"', rows[:rows.index("</table>")])


def test_item_table_holds_every_models_hypotheses_and_scores(tmp_path):
    items = item_table(_cells(tmp_path))
    asr = items["asr_toy"]
    assert asr["ids"] == ["utt_a", "utt_b", "utt_c", "utt_d"] and asr["metric"] == "WER"
    assert asr["models"]["TowerFull"]["scores"] == [0.0, 50.0, 0.0, 50.0]
    assert asr["models"]["SpireFull"]["hyps"][0] == "the cat sat on a mat"
    assert items["mt_toy"]["metric"] == "chrF"


def test_report_in_a_headless_browser_shows_tables_and_sorts_items(tmp_path):
    exe = _chromium()
    cells = _cells(tmp_path)
    ivs, notes = cell_stats.intervals(cells)
    page = write_report(tmp_path / "report.html", cells,
                        tables_md=cell_stats.intervals_markdown(cells, ivs, notes))
    url = page.resolve().as_uri()
    dom = _dump(exe, url + "#testset=asr_toy&a=TowerFull&b=SpireFull&sort=diff")
    assert "<th>asr_toy WER↓</th>" in dom      # the table with intervals, rendered
    assert re.search(r"<td>SpireFull</td><td>\d+\.\d\d \[", dom)
    order = _order(dom)
    # SpireFull better than TowerFull by 50 WER points on b and d, worse (by 16.7) on a
    assert order[:2] == ["utt_b", "utt_d"] and order[-1] == "utt_a"
    assert "WER per item (lower is better)" in dom
    dom = _dump(exe, url + "#testset=asr_toy&a=TowerFull&b=SpireFull&sort=-diff")
    assert _order(dom)[0] == "utt_a"
    dom = _dump(exe, url + "#testset=mt_toy&a=SpireFull&b=TowerFull&sort=id")
    assert _order(dom) == ["1", "2", "3", "4"]
    assert "chrF per item (higher is better)" in dom
