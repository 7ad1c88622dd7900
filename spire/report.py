"""One static HTML report beside the result tables: no server, nothing fetched.

It holds the results table with every cell's 95% interval, the claims as paired tests, the charts
and loss curves (PNG files inlined as data URIs), and an item browser: each test item's id,
reference and every model's hypothesis side by side with its segment score (per-utterance WER for
ASR, sentence chrF for MT/ST, the COMET segment score where recorded), filtered by test set and
sorted by the difference between two chosen models. The page's state lives in the URL fragment
(``report.html#testset=mt_flores_en-de&a=TowerFull&b=SpireFull&sort=diff``) so a view can be
shared, and a headless browser can be pointed at one (tests/spire/test_report.py).
"""
from __future__ import annotations

import base64
import html
import json
import os
from pathlib import Path
from typing import Iterable, Sequence

from spire.io import read_lines, write_text
from spire.cell_stats import scored_lines
from spire.results import METRICS, Score


def _segment_scores(cell: Score, hyps: list[str], refs: list[str]) -> list[float | None]:
    """One number per item for sorting: per-utterance WER (%), else sentence chrF (or COMET ×100)."""
    if cell.metric == "wer":
        import jiwer

        from spire.metrics import normalize
        h, r = normalize(hyps, cell.meta.get("normalizer", "whisper")), normalize(
            refs, cell.meta.get("normalizer", "whisper"))
        return [None if not ref.strip() else round(100 * jiwer.wer(ref, hyp or ""), 1)
                for hyp, ref in zip(h, r)]
    if cell.metric == "comet":
        return [round(100 * float(s), 1) for s in cell.meta["comet_segments"]]
    from sacrebleu.metrics import CHRF
    chrf = CHRF()
    return [round(chrf.sentence_score(h, [r]).score, 1) for h, r in zip(hyps, refs)]


def item_table(cells: Sequence[Score]) -> dict:
    """``{testset: {"metric", "better", "refs", "ids", "models": {variant: {"hyps", "scores"}}}}``.

    One metric per test set decides the segment score: WER for ASR, COMET when every model has
    segments, else chrF. Cells without readable hypothesis files are left out of the browser."""
    by_set: dict[str, list[Score]] = {}
    for c in cells:
        by_set.setdefault(c.testset, []).append(c)
    out = {}
    for testset, group in sorted(by_set.items()):
        metrics = {c.metric for c in group}
        pick = ("wer" if "wer" in metrics else
                "comet" if "comet" in metrics and all(c.meta.get("comet_segments") for c in group
                                                      if c.metric == "comet") else
                "chrf" if "chrf" in metrics else None)
        if pick is None:
            continue
        entry = {"metric": METRICS[pick][0], "better": METRICS[pick][1], "refs": None, "models": {}}
        for c in group:
            if c.metric != pick or not c.meta.get("hyps") or not c.meta.get("refs"):
                continue
            try:
                hyps, refs = scored_lines(c)
            except OSError:
                continue
            if entry["refs"] is None:
                entry["refs"] = refs
                ids_file = c.meta.get("ids")
                entry["ids"] = read_lines(ids_file) if ids_file and os.path.isfile(ids_file) else [
                    str(i + 1) for i in range(len(refs))]
            elif refs != entry["refs"]:
                continue  # scored against other references: not comparable item by item
            entry["models"][c.variant] = {"hyps": hyps, "scores": _segment_scores(c, hyps, refs)}
        if entry["models"]:
            out[testset] = entry
    return out


def _img(path: str | os.PathLike, title: str) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return (f'<figure><img alt="{html.escape(title)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{html.escape(title)}</figcaption></figure>")


def _md_table(md: str) -> str:
    """The pipe tables and bullet lines our markdown writers produce, as HTML."""
    parts, rows = [], []

    def flush():
        if rows:
            head, body = rows[0], rows[2:]
            parts.append("<table><thead><tr>" + "".join(f"<th>{html.escape(x)}</th>" for x in head)
                         + "</tr></thead><tbody>" + "".join(
                             "<tr>" + "".join(f"<td>{html.escape(x)}</td>" for x in r) + "</tr>"
                             for r in body) + "</tbody></table>")
            rows.clear()
    for line in md.splitlines():
        if line.startswith("|"):
            rows.append([x.strip() for x in line.strip().strip("|").split("|")])
            continue
        flush()
        if line.startswith("## "):
            parts.append(f"<h3>{html.escape(line[3:])}</h3>")
        elif line.strip():
            parts.append(f"<p>{html.escape(line.strip())}</p>")
    flush()
    return "\n".join(parts)


SCRIPT = r"""
const DATA = JSON.parse(document.getElementById('items').textContent);
const $ = id => document.getElementById(id);
function state() {
  const p = new URLSearchParams(location.hash.slice(1));
  return {testset: p.get('testset'), a: p.get('a'), b: p.get('b'), sort: p.get('sort') || 'id'};
}
function fill(sel, values, want) {
  sel.innerHTML = values.map(v => `<option${v === want ? ' selected' : ''}>${v}</option>`).join('');
}
function render() {
  const s = state(), sets = Object.keys(DATA);
  if (!sets.length) { $('metric').textContent = 'No per-item outputs were found.'; return; }
  const ts = sets.includes(s.testset) ? s.testset : sets[0], d = DATA[ts], models = Object.keys(d.models);
  fill($('testset'), sets, ts);
  const a = models.includes(s.a) ? s.a : models[0], b = models.includes(s.b) ? s.b : models[models.length - 1];
  fill($('a'), models, a); fill($('b'), models, b); $('sort').value = s.sort;
  const sign = d.better === 'lower' ? -1 : 1;   // "b better than a" is positive either way
  let rows = d.refs.map((ref, i) => {
    const sa = d.models[a].scores[i], sb = d.models[b].scores[i];
    const diff = (sa === null || sb === null) ? null : sign * (sb - sa);
    return {i, id: d.ids[i], ref, diff};
  });
  if (s.sort === 'diff') rows.sort((x, y) => (y.diff ?? -1e9) - (x.diff ?? -1e9));
  if (s.sort === '-diff') rows.sort((x, y) => (x.diff ?? 1e9) - (y.diff ?? 1e9));
  $('metric').textContent = `${d.metric} per item (${d.better} is better); difference = ${b} better than ${a}`;
  const head = '<tr><th>item</th><th>reference</th>' + models.map(m => `<th>${m}</th>`).join('') + '<th>difference</th></tr>';
  const esc = t => t.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  $('rows').innerHTML = head + rows.map(r => `<tr class="item" data-id="${esc(r.id)}"><td>${esc(r.id)}</td><td>${esc(r.ref)}</td>` +
    models.map(m => `<td>${esc(d.models[m].hyps[r.i])}<br><small>${d.models[m].scores[r.i] ?? '–'}</small></td>`).join('') +
    `<td class="diff">${r.diff === null ? '–' : r.diff.toFixed(1)}</td></tr>`).join('');
}
function update() {
  location.hash = new URLSearchParams({testset: $('testset').value, a: $('a').value,
                                       b: $('b').value, sort: $('sort').value}).toString();
}
['testset', 'a', 'b', 'sort'].forEach(id => $(id).addEventListener('change', update));
window.addEventListener('hashchange', render);
render();
"""

STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:1400px}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 6px;vertical-align:top}
th{background:#f3f3f3}figure{display:inline-block;margin:0.5em}img{max-width:640px}
small{color:#666}
"""


def write_report(path: str | os.PathLike, cells: Sequence[Score], tables_md: str = "",
                 claims_md: str = "", charts: Iterable[str | os.PathLike] = (),
                 curves: Iterable[str | os.PathLike] = (), title: str = "Spire results") -> Path:
    """Write the self-contained report; returns its path."""
    items = item_table(cells)
    figs = "".join(_img(p, Path(p).name) for p in charts if Path(p).is_file())
    loss = "".join(_img(p, Path(p).parent.parent.name + " / " + Path(p).parent.name)
                   for p in curves if Path(p).is_file())
    data = json.dumps(items, ensure_ascii=False).replace("</", "<\\/")
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>{STYLE}</style></head><body>
<h1>{html.escape(title)}</h1>
<h2 id="tables">Tables</h2>
{_md_table(tables_md)}
<h2 id="claims">Claims</h2>
{_md_table(claims_md) or '<p>No claims were tested.</p>'}
<h2 id="charts">Charts</h2>
{figs or '<p>No charts.</p>'}
<h2 id="curves">Loss curves</h2>
{loss or '<p>No loss curves found.</p>'}
<h2 id="browser">Items</h2>
<p>Test set <select id="testset"></select> model A <select id="a"></select> model B <select id="b"></select>
sort <select id="sort"><option value="id">by item</option><option value="diff">B better first</option>
<option value="-diff">A better first</option></select></p>
<p id="metric"></p>
<table id="rows"></table>
<script id="items" type="application/json">{data}</script>
<script>{SCRIPT}</script>
</body></html>
"""
    out = Path(path)
    write_text(out, page)
    return out
