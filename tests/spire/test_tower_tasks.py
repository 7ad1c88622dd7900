"""Table 8's tasks on TowerEval-shaped files: APE and NER prompts, and NER's span F1 on planted
labels whose value is worked out by hand."""
from __future__ import annotations

import json

import pytest

from eval_fixtures import load_task
from spire import tower_tasks as tt
from spire.io import read_jsonl, read_lines


def test_spans_follow_conlleval():
    tags = ["B-Person", "I-Person", "O", "I-Location", "B-Group", "B-Group", "I-Product"]
    # a stray I- starts a span; B- after B- of the same type is a new span
    assert tt.spans(tags) == {("Person", 0, 2), ("Location", 3, 4), ("Group", 4, 5), ("Group", 5, 6),
                              ("Product", 6, 7)}
    assert tt.spans(["O", "O"]) == set()


def test_span_f1_on_planted_labels():
    refs = [["B-Person", "I-Person", "O", "B-Location"],
            ["B-Group", "O", "B-Medical"]]
    hyps = [["B-Person", "I-Person", "O", "B-Group"],      # Person right, Location as Group: wrong
            ["B-Group", "O", "B-Medical", "B-Person"]]     # both right; the extra token is cut
    s = tt.span_f1(refs, hyps)
    # gold 4 spans, predicted 4, 3 exact matches
    assert (s["n_gold_spans"], s["n_pred_spans"]) == (4, 4)
    assert s["precision"] == pytest.approx(0.75) and s["recall"] == pytest.approx(0.75)
    assert s["f1"] == pytest.approx(0.75)
    assert s["f1_per_type"]["Person"] == 1.0 and s["f1_per_type"]["Location"] == 0.0
    # a half-right span (boundary off by one) earns nothing; labels outside the six types are O
    s = tt.span_f1([["B-Person", "I-Person"]], [["B-Person", "O"]])
    assert s["f1"] == 0.0
    assert tt.span_f1([["B-Person"]], [["B-PER"]])["n_pred_spans"] == 0
    # a short hypothesis is padded with O: the missed span lowers recall only
    s = tt.span_f1([["B-Person", "O", "B-Location"]], [["B-Person"]])
    assert (s["precision"], s["recall"]) == (1.0, 0.5)
    with pytest.raises(ValueError, match="1 hypotheses for 2 references"):
        tt.span_f1([["O"], ["O"]], [["O"]])


def test_parse_tagged_reads_towerinstructs_tuple_lists():
    line = 'Answer: [("Marie", "B-Person"), ("Curie", "I-Person"), ("06", "O")]'
    assert tt.parse_tagged(line) == [("Marie", "B-Person"), ("Curie", "I-Person"), ("06", "O")]
    assert tt.parse_tagged("no list at all") == []


def _towereval(root):
    ape = root / "data" / "raw_data" / "ape" / "nllb_3b_wmt23.en-de"
    ner = root / "data" / "raw_data" / "ner" / "multiconer2023.en"
    ape.mkdir(parents=True)
    ner.mkdir(parents=True)
    (ape / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in [
        {"src": "The cat sat.", "mt": "Die Katze sass.", "ref": "Die Katze saß."},
        {"src": "Hello  world", "mt": "Hallo Welt", "ref": "Hallo Welt"}]))
    (ner / "test.jsonl").write_text(json.dumps({
        "input": ["Marie", "Curie", "won"],
        "answer": '[("Marie", "B-Person"), ("Curie", "I-Person"), ("won", "O")]'}) + "\n")
    return root


def test_prompts_of_both_tasks(tmp_path):
    root = _towereval(tmp_path / "towereval")
    task = load_task("tower_task")
    out = tmp_path / "ape"
    task.main(["prompts", "--data", str(root), "--task", "ape", "--lang", "en-de", "--prompts",
               str(out / "p.jsonl"), "--sources", str(out / "src.txt"), "--refs", str(out / "ref.txt")])
    rows = read_jsonl(out / "p.jsonl")
    assert [r["id"] for r in rows] == ["0", "1"] and all(r["chat"] for r in rows)
    first = rows[0]["prompt"]
    assert first.startswith("<|im_start|>user\n") and first.endswith("<|im_start|>assistant\n")
    assert "English source: The cat sat." in first and "German translation: Die Katze sass." in first
    assert read_lines(out / "src.txt") == ["The cat sat.", "Hello world"]
    assert read_lines(out / "ref.txt") == ["Die Katze saß.", "Hallo Welt"]

    out = tmp_path / "ner"
    task.main(["prompts", "--data", str(root), "--task", "ner", "--lang", "en", "--prompts",
               str(out / "p.jsonl"), "--sources", str(out / "src.txt"), "--refs", str(out / "ref.txt")])
    prompt = read_jsonl(out / "p.jsonl")[0]["prompt"]
    assert '["Marie", "Curie", "won"]' in prompt and all(t in prompt for t in tt.NER_TYPES)
    assert json.loads(read_lines(out / "ref.txt")[0]) == ["B-Person", "I-Person", "O"]

    with pytest.raises(SystemExit, match="no ner/multiconer2023.de/test.jsonl.*FetchCorpus towereval"):
        task.main(["prompts", "--data", str(root), "--task", "ner", "--lang", "de", "--prompts", "x",
                   "--sources", "y", "--refs", "z"])
    with pytest.raises(SystemExit, match="APE pair 'en-ko'"):
        task.main(["prompts", "--data", str(root), "--task", "ape", "--lang", "en-ko", "--prompts", "x",
                   "--sources", "y", "--refs", "z"])


def test_a_row_without_its_fields_names_the_file_and_line(tmp_path):
    (tmp_path / "test.jsonl").write_text('{"src": "a", "mt": "b", "ref": "c"}\n{"src": "a", "pe": "c"}\n')
    with pytest.raises(ValueError, match=r"test.jsonl:2: no mt, ref \(has pe, src\)"):
        tt.read_ape(tmp_path / "test.jsonl")


def test_score_ner_writes_the_score_file(tmp_path):
    (tmp_path / "ref.txt").write_text('["B-Person", "I-Person", "O"]\n["O", "B-Location"]\n')
    (tmp_path / "hyps.txt").write_text('[("Marie", "B-Person"), ("Curie", "I-Person"), ("won", "O")]\n'
                                       "I cannot label this\n")
    load_task("tower_task").main(["score-ner", "--hyps", str(tmp_path / "hyps.txt"), "--refs",
                                  str(tmp_path / "ref.txt"), "--testset", "multiconer2023 ner en",
                                  "--out", str(tmp_path / "scores.json")])
    s = json.loads((tmp_path / "scores.json").read_text())
    assert s["metric"] == "ner" and s["testset"] == "multiconer2023 ner en"
    # one of two gold spans found, no false one: P 1, R 0.5, F1 2/3
    assert s["f1"] == pytest.approx(2 / 3) and s["n"] == 2


def test_the_rehearsal_standin_has_every_subtask_of_the_workflow(tmp_path):
    from spire import mirror
    from spire.standins import build_towereval

    build_towereval(tmp_path)
    raw = tmp_path / "raw" / "towereval"
    assert (raw / mirror.FETCH_INFO).is_file()  # -p data does not download it again
    for task, langs in (("ape", tt.APE_PAIRS), ("ner", tt.NER_LANGS)):
        for lang in langs:
            path = tt.subtask_file(raw, task, tt.subtask_name(task, lang))
            rows = tt.read_ape(path) if task == "ape" else tt.read_ner(path)
            assert len(rows) >= 2
    ape = tt.read_ape(tt.subtask_file(raw, "ape", "nllb_3b_wmt23.en-de"))
    assert any(r.mt != r.ref for r in ape) and any(r.mt == r.ref for r in ape)  # some need no edit
    ner = tt.read_ner(tt.subtask_file(raw, "ner", "multiconer2023.en"))
    assert all(len(r.tokens) == len(r.tags) and tt.spans(r.tags) for r in ner)


def test_ner_cells_get_a_bootstrap_interval_over_sentences(tmp_path):
    """Table 8's F1 cells: score-ner records the files it read, and the results step rebuilds
    each sentence's (correct, predicted, gold) spans from them: the interval's centre is the cell's
    F1, and one sentence per item means that all-right and all-wrong sentences set its width."""
    from spire import cell_stats
    from spire.results import load_score

    right = '[("Marie", "B-Person"), ("Curie", "I-Person")]'
    wrong = '[("Marie", "O"), ("Curie", "O")]'
    (tmp_path / "ref.txt").write_text('["B-Person", "I-Person"]\n' * 40)
    (tmp_path / "hyps.txt").write_text((right + "\n") * 30 + (wrong + "\n") * 10)
    load_task("tower_task").main(["score-ner", "--hyps", str(tmp_path / "hyps.txt"), "--refs",
                                  str(tmp_path / "ref.txt"), "--testset", "multiconer2023 ner en",
                                  "--out", str(tmp_path / "scores.json")])
    cell = [c for c in load_score(tmp_path / "scores.json", variant="TowerInstruct") if c.metric == "f1"][0]
    # 30 of 40 gold spans found, none false: P 1, R 0.75, F1 6/7
    items = cell_stats.items_of(cell)
    assert len(items) == 40 and items.score() == pytest.approx(6 / 7)
    (iv,), notes = cell_stats.intervals([cell])
    assert not notes and iv.n == 40 and iv.value == pytest.approx(100 * 6 / 7)
    assert iv.low < iv.value < iv.high and 5 < iv.high - iv.low < 25
    # every sentence right: no spread at all
    (tmp_path / "hyps.txt").write_text((right + "\n") * 40)
    load_task("tower_task").main(["score-ner", "--hyps", str(tmp_path / "hyps.txt"), "--refs",
                                  str(tmp_path / "ref.txt"), "--testset", "multiconer2023 ner en",
                                  "--out", str(tmp_path / "scores.json")])
    cell = [c for c in load_score(tmp_path / "scores.json", variant="TowerInstruct") if c.metric == "f1"][0]
    (iv,), _ = cell_stats.intervals([cell])
    assert iv.low == iv.high == pytest.approx(100.0)
