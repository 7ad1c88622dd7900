"""A small deterministic English grammar for the miniature (docs/miniature.md).

About 200 words, four sentence templates (statement, question, pronoun + time, description),
4–9 words per sentence, lower case, no punctuation (so transcripts need no normalisation).

    sentences(n, seed)                       # n distinct sentences
    train, dev, test = make_splits(3000, 200, 200, seed=0)   # pairwise disjoint lists
    text_sentences(20000, seed=1, exclude=test)   # text-only sentences for the text LM,
                                                  # never one of the test sentences

Everything is a pure function of its arguments (``random.Random(seed)``), so the corpus is the
same on every machine.
"""
from __future__ import annotations

import random
from typing import Collection

DETERMINERS = ["the", "a", "my", "your", "his", "her", "this", "that"]
ADJECTIVES = ["big", "small", "red", "blue", "green", "old", "young", "happy", "sad", "quiet",
              "loud", "fast", "slow", "warm", "cold", "bright", "dark", "tall", "short", "clever",
              "lazy", "busy", "heavy", "light", "strange", "gentle", "angry", "brave", "tiny", "empty"]
NOUNS = ["dog", "cat", "bird", "horse", "fish", "man", "woman", "child", "teacher", "doctor",
         "farmer", "singer", "king", "queen", "friend", "brother", "sister", "mother", "father",
         "baby", "car", "boat", "train", "bike", "book", "letter", "song", "picture", "table",
         "chair", "door", "window", "cup", "apple", "bread", "cake", "flower", "tree", "stone",
         "ball", "box", "key", "hat", "coat", "phone", "lamp", "clock", "river", "mountain",
         "house", "bottle", "pencil", "basket", "blanket", "rabbit", "mouse", "sheep", "lion",
         "robot", "pilot"]
PLACES = ["park", "garden", "kitchen", "school", "village", "city", "forest", "market",
          "library", "station", "office", "harbor", "valley", "church", "hotel"]
# (past, base) forms of transitive verbs
VERBS = [("saw", "see"), ("found", "find"), ("took", "take"), ("liked", "like"), ("painted", "paint"),
         ("opened", "open"), ("closed", "close"), ("carried", "carry"), ("washed", "wash"),
         ("bought", "buy"), ("sold", "sell"), ("watched", "watch"), ("followed", "follow"),
         ("pushed", "push"), ("pulled", "pull"), ("kicked", "kick"), ("held", "hold"),
         ("dropped", "drop"), ("cleaned", "clean"), ("fixed", "fix"), ("wanted", "want"),
         ("helped", "help"), ("called", "call"), ("missed", "miss"), ("heard", "hear")]
INTRANSITIVE = ["sleeps", "sings", "runs", "waits", "works", "laughs", "dances", "reads", "swims",
                "walks", "cries", "smiles"]
PRONOUNS = ["i", "you", "he", "she", "we", "they", "it"]
ADVERBS = ["slowly", "quickly", "quietly", "loudly", "often", "rarely", "happily", "early", "late",
           "again", "alone", "together"]
TIMES = ["today", "tomorrow", "yesterday", "tonight", "now", "soon", "later", "every day",
         "on monday", "on sunday"]
PREPOSITIONS = ["in", "near", "behind", "under", "at"]
QUESTION_WORDS = ["why", "when", "where", "how"]
FUNCTION = ["did", "will", "is", "very", "and", "not"]


def vocabulary() -> list[str]:
    """Every word the grammar can produce (sorted)."""
    words = set(DETERMINERS + ADJECTIVES + NOUNS + PLACES + INTRANSITIVE + PRONOUNS + ADVERBS
                + PREPOSITIONS + QUESTION_WORDS + FUNCTION)
    words |= {w for pair in VERBS for w in pair}
    words |= {w for t in TIMES for w in t.split()}
    return sorted(words)


def _noun_phrase(rng: random.Random) -> list[str]:
    words = [rng.choice(DETERMINERS)]
    if rng.random() < 0.5:
        words.append(rng.choice(ADJECTIVES))
    return words + [rng.choice(NOUNS)]


def _statement(rng):  # "the old dog saw a red ball in the park"
    words = _noun_phrase(rng) + [rng.choice(VERBS)[0]] + _noun_phrase(rng)
    if rng.random() < 0.5:
        words += [rng.choice(PREPOSITIONS), "the", rng.choice(PLACES)]
    return words


def _question(rng):  # "why did the farmer sell your horse"
    return [rng.choice(QUESTION_WORDS), "did"] + _noun_phrase(rng) + [rng.choice(VERBS)[1]] + _noun_phrase(rng)


def _pronoun(rng):  # "she will paint the house tomorrow" / "the dog sleeps often in the park"
    if rng.random() < 0.5:
        return [rng.choice(PRONOUNS), "will", rng.choice(VERBS)[1]] + _noun_phrase(rng) + rng.choice(TIMES).split()
    return ["the", rng.choice(NOUNS), rng.choice(INTRANSITIVE), rng.choice(ADVERBS),
            rng.choice(PREPOSITIONS), "the", rng.choice(PLACES)]


def _description(rng):  # "the tall teacher is very happy today"
    words = _noun_phrase(rng) + ["is"] + (["very"] if rng.random() < 0.5 else []) + [rng.choice(ADJECTIVES)]
    return words + (rng.choice(TIMES).split() if rng.random() < 0.5 else [])


TEMPLATES = (_statement, _question, _pronoun, _description)
MIN_WORDS, MAX_WORDS = 4, 9


def sentence(rng: random.Random) -> str:
    """One sentence of 4–9 words from a random template."""
    while True:
        words = rng.choice(TEMPLATES)(rng)
        if MIN_WORDS <= len(words) <= MAX_WORDS:
            return " ".join(words)


def sentences(n: int, seed: int = 0, exclude: Collection[str] = ()) -> list[str]:
    """``n`` distinct sentences (none in ``exclude``), deterministic given ``seed``."""
    rng = random.Random(seed)
    seen = set(exclude)
    out: list[str] = []
    tries = 0
    while len(out) < n:
        s = sentence(rng)
        tries += 1
        if s not in seen:
            seen.add(s)
            out.append(s)
        elif tries > 50 * (n + 100):
            raise ValueError(f"the grammar cannot produce {n} distinct sentences")
    return out


def make_splits(n_train: int, n_dev: int, n_test: int, seed: int = 0) -> tuple[list[str], list[str], list[str]]:
    """Pairwise disjoint train/dev/test sentence lists (a test sentence is never heard in training)."""
    pool = sentences(n_train + n_dev + n_test, seed)
    return pool[:n_train], pool[n_train:n_train + n_dev], pool[n_train + n_dev:]


def text_sentences(n: int, seed: int, exclude: Collection[str]) -> list[str]:
    """Extra text-only sentences (e.g. for the text LM), disjoint from ``exclude`` (pass the test
    and dev sentences). Use a ``seed`` different from the speech corpus's."""
    return sentences(n, seed, exclude=exclude)
