"""METEOR as LongLaMP scores it: HF `evaluate`'s ``meteor``, which is nltk's `meteor_score` with WordNet 3.0.

LongLaMP's evaluation (``longLaMP/metrics/generation_metrics.py``) strips each text, wraps each gold in a list of
one reference and calls ``evaluate.load("meteor").compute``; evaluate's metric then scores each pair with
``nltk.translate.meteor_score.meteor_score([word_tokenize(gold)], word_tokenize(pred), alpha=0.9, beta=3,
gamma=0.5)`` and averages. `meteor` below is that call, without `evaluate` and without any download at run time:

- **WordNet 3.0** (METEOR's synonym stage) is read from the first of: ``$LAMPBENCH_WORDNET`` (a folder of WordNet's
  dict files), NLTK's own ``corpora/wordnet`` (``python -m nltk.downloader wordnet``: what evaluate fetches), and
  Debian's ``wordnet-base`` package (``/usr/share/wordnet``). Debian's copy has no ``lexnames`` file, which nltk's
  reader opens (only to name a synset's lexicographer file, which METEOR never asks); its 45 names are WordNet's
  fixed list (``man 5 lexnames``), supplied here. Without any of them scoring stops with one line saying how to
  install one (`ConfigError`); `require_wordnet` checks it before a run starts.
- **Tokens** are `nltk.word_tokenize`'s: Punkt sentences, then nltk's Treebank word tokenizer on each. Its English
  Punkt model (NLTK's ``punkt_tab``, ``python -m nltk.downloader punkt_tab``) is used when nltk finds it: scores
  are then evaluate's to the last digit. Without it (no Debian package ships it), sentences are split by Punkt
  with no trained abbreviations: a text with "e.g." or "Dr." then splits where evaluate's would not (a "." token
  more), so scores can differ in the third decimal; `tokenizer_note` says so in the run's notes.
"""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from lampbench.tasks.errors import ConfigError

#: Where Debian's (and Ubuntu's) ``wordnet-base`` package puts WordNet 3.0.
DEBIAN_WORDNET = Path("/usr/share/wordnet")
#: evaluate's defaults, which LongLaMP keeps.
ALPHA, BETA, GAMMA = 0.9, 3.0, 0.5

#: WordNet's lexicographer files, in number order, with their syntactic category (``man 5 lexnames``).
_LEXNAMES = (
    ("adj.all", 3), ("adj.pert", 3), ("adv.all", 4), ("noun.Tops", 1), ("noun.act", 1), ("noun.animal", 1),
    ("noun.artifact", 1), ("noun.attribute", 1), ("noun.body", 1), ("noun.cognition", 1),
    ("noun.communication", 1), ("noun.event", 1), ("noun.feeling", 1), ("noun.food", 1), ("noun.group", 1),
    ("noun.location", 1), ("noun.motive", 1), ("noun.object", 1), ("noun.person", 1), ("noun.phenomenon", 1),
    ("noun.plant", 1), ("noun.possession", 1), ("noun.process", 1), ("noun.quantity", 1), ("noun.relation", 1),
    ("noun.shape", 1), ("noun.state", 1), ("noun.substance", 1), ("noun.time", 1), ("verb.body", 2),
    ("verb.change", 2), ("verb.cognition", 2), ("verb.communication", 2), ("verb.competition", 2),
    ("verb.consumption", 2), ("verb.contact", 2), ("verb.creation", 2), ("verb.emotion", 2), ("verb.motion", 2),
    ("verb.perception", 2), ("verb.possession", 2), ("verb.social", 2), ("verb.stative", 2), ("verb.weather", 2),
    ("adj.ppl", 3),
)  # fmt: skip


def _has_wordnet(folder: Path) -> bool:
    return all((folder / f"{kind}.{pos}").is_file() for kind in ("index", "data") for pos in ("noun", "verb"))


def _wordnet_root() -> Any:
    """The first WordNet 3.0 found (module docstring): a folder, or nltk's path pointer to its own copy.

    Raises:
        ConfigError: none found; the line says how to get one.
    """
    env = os.environ.get("LAMPBENCH_WORDNET", "").strip()
    if env:
        folder = Path(env).expanduser()
        if not _has_wordnet(folder):
            raise ConfigError(f"LAMPBENCH_WORDNET={env}: not a WordNet 3.0 folder (no index.noun, data.noun, "
                              "index.verb, data.verb there)")  # fmt: skip
        return folder
    import nltk.data

    try:
        return nltk.data.find("corpora/wordnet")
    except LookupError:
        pass
    if _has_wordnet(DEBIAN_WORDNET):
        return DEBIAN_WORDNET
    raise ConfigError(
        "METEOR needs WordNet 3.0 and found none (LAMPBENCH_WORDNET unset, no corpora/wordnet on NLTK's data "
        f"path, nothing in {DEBIAN_WORDNET}): run `apt-get install wordnet-base` (Debian, Ubuntu) or "
        "`python -m nltk.downloader wordnet`, or set LAMPBENCH_WORDNET to a WordNet 3.0 dict folder"
    )


def require_wordnet() -> None:
    """Raise `ConfigError` (one line: how to install it) unless WordNet can be read; a run calls it first."""
    wordnet()


@cache
def wordnet() -> Any:
    """nltk's `WordNetCorpusReader` on the WordNet found (module docstring), built once per process."""
    root = _wordnet_root()
    import nltk.data
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    class Reader(WordNetCorpusReader):
        """nltk's reader; a folder without `lexnames` (Debian's) gets WordNet's fixed list."""

        def open(self, file: str) -> Any:
            if file == "lexnames" and isinstance(root, Path) and not (root / "lexnames").is_file():
                return io.StringIO("".join(f"{i:02d}\t{name}\t{pos}\n" for i, (name, pos) in enumerate(_LEXNAMES)))
            return super().open(file)

        def map_wn(self, version: str = "wordnet") -> None:
            """None: this is WordNet 3.0 itself (checked below), so nothing maps (the map serves OMW's languages,
            and building it needs an `index.sense` that Debian's copy lacks)."""
            return None

    if isinstance(root, Path) and str(root) not in nltk.data.path:
        nltk.data.path.append(str(root))  # nltk opens corpus files only under its data path
    with warnings.catch_warnings():  # "multilingual functions are not available": METEOR reads English only
        warnings.simplefilter("ignore")
        reader = Reader(str(root) if isinstance(root, Path) else root, None)
    if reader.get_version() != "3.0":
        raise ConfigError(f"{root}: WordNet {reader.get_version()}, not 3.0 (what LongLaMP's METEOR reads)")
    return reader


@cache
def _sentences() -> Callable[[str], list[str]]:
    """nltk's `sent_tokenize` with its English Punkt model, or Punkt without one (module docstring)."""
    import nltk.data
    from nltk.tokenize import sent_tokenize
    from nltk.tokenize.punkt import PunktSentenceTokenizer

    try:
        nltk.data.find("tokenizers/punkt_tab/english/")
    except LookupError:
        return PunktSentenceTokenizer().tokenize
    return sent_tokenize


def has_punkt_model() -> bool:
    """Whether tokens are exactly `nltk.word_tokenize`'s (its English Punkt model was found)."""
    from nltk.tokenize import sent_tokenize

    return _sentences() is sent_tokenize


def tokenize(text: str) -> list[str]:
    """`nltk.word_tokenize(text)`: Punkt sentences, then the Treebank word tokenizer on each."""
    words = _words()
    return [token for sentence in _sentences()(text) for token in words.tokenize(sentence)]


@cache
def _words() -> Any:
    """nltk's improved Treebank word tokenizer, the one `word_tokenize` uses."""
    from nltk.tokenize import NLTKWordTokenizer

    return NLTKWordTokenizer()


def meteor(gold: str, prediction: str) -> float:
    """METEOR of one prediction against one gold, as LongLaMP's `evaluate` call computes it (texts as given)."""
    from nltk.translate.meteor_score import meteor_score

    return float(
        meteor_score([tokenize(gold)], tokenize(prediction), wordnet=wordnet(), alpha=ALPHA, beta=BETA, gamma=GAMMA)
    )


def tokenizer_note() -> str | None:
    """A sentence for a run's notes when METEOR's tokens are not exactly evaluate's; None when they are."""
    if has_punkt_model():
        return None
    return (
        "METEOR: NLTK's English Punkt model (punkt_tab) is not installed, so sentences were split without its "
        "abbreviation list; where a text has abbreviations such as 'e.g.' the score can differ slightly from "
        "LongLaMP's (`python -m nltk.downloader punkt_tab` makes it exact)"
    )
