import os
import re
import subprocess
import sys

import pytest

from spire.mini.toy_lang import (TOY_LANGUAGES, back_translate, inverse_lexicon, tokenize, toy_word,
                                 translate)
from tests.spire.it_fixtures import REPO, SENTENCES, run_task

SHAPE = {"ty": re.compile(r"^(?:[bdfgklmnprstvz][aeiou]){2,3}$"),
         "rv": re.compile(r"^(?:[aeiou][bdfgklmnprstvz]){2,3}$")}


def test_toyish_is_word_by_word_substitution():
    s = "The cat sat on the mat, 3 times!"
    w = {x: toy_word(x, "ty") for x in ("the", "cat", "sat", "on", "mat", "times")}
    expected = (f"{w['the'].capitalize()} {w['cat']} {w['sat']} {w['on']} {w['the']} {w['mat']}, "
                f"3 {w['times']}!")
    assert translate(s, "ty") == expected
    assert w["the"] != w["cat"]


def test_mirrorish_reverses_word_order_and_keeps_final_punctuation():
    s = "The cat sat on the mat."
    w = {x: toy_word(x, "rv") for x in ("the", "cat", "sat", "on", "mat")}
    expected = f"{w['mat'].capitalize()} {w['the']} {w['on']} {w['sat']} {w['cat']} {w['the']}."
    assert translate(s, "rv") == expected


@pytest.mark.parametrize("lang", TOY_LANGUAGES)
def test_pseudo_words_are_short_syllable_strings_and_languages_disjoint(lang):
    words = {t.lower() for s in SENTENCES for t in tokenize(s) if t[0].isalpha()}
    for word in words:
        form = toy_word(word, lang)
        assert SHAPE[lang].match(form), (word, form)
        assert len(form) == (4 if len(word) <= 2 else 6)
    other = "rv" if lang == "ty" else "ty"
    assert not {toy_word(x, lang) for x in words} & {toy_word(x, other) for x in words}


def test_deterministic_across_processes_with_different_hash_seeds():
    code = ("from spire.mini.toy_lang import translate; "
            "print(translate('Seven small dogs ran over green hills.', 'ty')); "
            "print(translate('Seven small dogs ran over green hills.', 'rv'))")
    outs = set()
    for seed in ("1", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        outs.add(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                                text=True, check=True, cwd=REPO).stdout)
    assert len(outs) == 1
    assert outs.pop().splitlines() == [translate("Seven small dogs ran over green hills.", "ty"),
                                       translate("Seven small dogs ran over green hills.", "rv")]


@pytest.mark.parametrize("lang", TOY_LANGUAGES)
def test_invertible_over_a_vocabulary(lang):
    vocab = {t for s in SENTENCES for t in tokenize(s)}
    lexicon, collisions = inverse_lexicon(vocab, lang)
    assert collisions == {}
    for s in SENTENCES:
        assert back_translate(translate(s, lang), lang, lexicon) == s.lower()


def test_collisions_are_reported():
    lexicon, collisions = inverse_lexicon(["cat", "Cat", "dog"], "ty")
    assert collisions == {} and len(lexicon) == 2  # case-insensitive: one word
    # All 676 two-letter strings share 70**2 two-syllable forms: some must share a form.
    two_letter = [a + b for a in "abcdefghijklmnopqrstuvwxyz" for b in "abcdefghijklmnopqrstuvwxyz"]
    _, collisions = inverse_lexicon(two_letter, "ty")
    forms = [toy_word(w, "ty") for w in two_letter]
    assert len(set(forms)) < len(forms)
    assert sum(len(v) - 1 for v in collisions.values()) == len(forms) - len(set(forms))
    assert all(toy_word(w, "ty") == form for form, ws in collisions.items() for w in ws)


def test_unknown_language_is_an_error():
    with pytest.raises(ValueError, match="unknown toy language 'xx'"):
        translate("hello", "xx")


def test_cli_writes_aligned_lines(tmp_path):
    src = tmp_path / "en.txt"
    src.write_text("Hello there.\n\nGood night.\n", encoding="utf-8")
    out = tmp_path / "rv.txt"
    run_task("make_toy_translations", "--src", str(src), "--lang", "rv", "--out", str(out))
    assert out.read_text(encoding="utf-8").split("\n") == [
        translate("Hello there.", "rv"), "", translate("Good night.", "rv"), ""]
