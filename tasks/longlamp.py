"""The LongLaMP tasks (arXiv 2407.11016): personalized long-form writing, one `LongLaMPSpec` each.

LongLaMP's public tasks are abstract generation (``longlamp-abstract``), product-review writing
(``longlamp-review``) and topic writing on Reddit (``longlamp-topic``), each with a user split and a temporal one
(``--time-split``). The email task needs the private Avocado corpus (as LaMP-6 does) and is left out.

The data is the hub dataset ``LongLaMP/LongLaMP`` (configs ``<config>_user`` and ``<config>_temporal``, splits
``train``, ``val``, ``test``): rows of ``input``, ``output``, ``profile`` and a user-id column that differs per
task (``name``, ``reviewerId``, ``author``). `tasks/download.py` fetches a split's parquet and writes it as LaMP's
files (``val`` as ``dev``, the test golds included: LongLaMP publishes them), with ids made where the rows have
none: a question is its row number in the split; a profile item without an ``id`` gets one from its content, so
the same item has the same id in every question that carries it.

Retrieval and prompts are those of LongLaMP's zero-shot LLM code (``longLaMP/prompts/prompts_llama.py``): BM25 over
the fields its ``generate_query_for_*`` joins, the query its ``extract_*`` takes, each item as its
``create_*_prompt_llama`` renders it, joined with ", and ", then its closing sentence and the input. LongLaMP cuts
a profile text to its first 100 (reviews) or 750 (abstracts) words; here every item's long field is cut to the
run's prompt budget instead, as for LaMP (`tasks/prompts.py`), which cuts shorter at the default 512 tokens.
Scores are ROUGE-1, ROUGE-L and METEOR (`tasks/kinds.py`, `tasks/meteor.py`).
"""

from __future__ import annotations

from dataclasses import dataclass

from lampbench.tasks.kinds import LONG_GENERATION
from lampbench.tasks.lamp import after, then
from lampbench.tasks.parsers import parse_long_text
from lampbench.tasks.synthetic import longlamp as synthetic
from lampbench.tasks.task import TaskSpec

#: The hub dataset's repository.
REPO = "LongLaMP/LongLaMP"
#: The hub's name of each of our splits.
HUB_SPLITS = {"train": "train", "dev": "val", "test": "test"}
#: Generated tokens per answer: LongLaMP's zero-shot generation length. Abstracts, reviews and posts run to
#: 150-400 words; on a CPU this is most of a run's cost (`--max-new-tokens` caps it, at some cost to ROUGE).
MAX_NEW_TOKENS = 512


@dataclass(frozen=True)
class LongLaMPSpec(TaskSpec):
    """A LongLaMP task: a `TaskSpec` whose files come from the hub's parquet, with the test golds public.

    Attributes:
        config: the hub config's stem (``product_review``): ``<config>_user`` and ``<config>_temporal``.
        user_field: the rows' user-id column (``reviewerId``).
    """

    config: str = ""
    user_field: str = ""

    def hub_config(self, time_split: bool) -> str:
        """The hub config of the user split, or of the temporal one (`--time-split`)."""
        return f"{self.config}_{'temporal' if time_split else 'user'}"


def _reviews_prompt(inp: str, items: str) -> str:
    """`create_generation_product_prompt_llama`: its heading is one of the ", and "-joined parts, as in its code."""
    return (
        f"Below are a list of review texts by the reviewer:, and {items}. Use the above list of review texts by the "
        f"reviewer as context to understand the writing style and language of the reviewer and, {inp}"
    )


LONGLAMP_ABSTRACT = LongLaMPSpec(
    name="longlamp-abstract", lamp="LongLaMP_abstract_generation", path="LongLaMP/abstract_generation",
    metric=LONG_GENERATION, labels=None, profile_fields=("id", "title", "abstract"), profile_target="abstract",
    corpus_fields=("title", "abstract"), query=after("items:"),
    rag_item='"{abstract}" is the abstract for the title "{title}"', rag_truncate="abstract",
    rag_prompt=then(". Use the above abstracts as context to understand the style and language of the user and, "),
    item_frame='" " is the abstract for the title "{title}"',
    reserved_text="Use the above abstracts as context to understand the style and language of the user and,",
    parser=parse_long_text, max_new_tokens=MAX_NEW_TOKENS, description="LongLaMP abstract generation",
    input_marks=("items:",), synthetic=synthetic.ABSTRACT,  # no instruction: an input cannot be rebuilt (its title)
    config="abstract_generation", user_field="name",
)  # fmt: skip

LONGLAMP_REVIEW = LongLaMPSpec(
    name="longlamp-review", lamp="LongLaMP_product_review", path="LongLaMP/product_review", metric=LONG_GENERATION,
    labels=None, profile_fields=("id", "overall", "summary", "description", "reviewText"),
    profile_target="reviewText", corpus_fields=("overall", "summary", "description", "reviewText"),
    query=lambda inp: inp, rag_item='"{reviewText}"', rag_truncate="reviewText", rag_prompt=_reviews_prompt,
    item_frame='""', reserved_text=_reviews_prompt("", ""), parser=parse_long_text, max_new_tokens=MAX_NEW_TOKENS,
    description="LongLaMP product review writing", instruction="Generate the review text written by a reviewer ",
    synthetic=synthetic.REVIEW, config="product_review", user_field="reviewerId",
)  # fmt: skip

LONGLAMP_TOPIC = LongLaMPSpec(
    name="longlamp-topic", lamp="LongLaMP_topic_writing", path="LongLaMP/topic_writing", metric=LONG_GENERATION,
    labels=None, profile_fields=("id", "summary", "content"), profile_target="content",
    corpus_fields=("summary", "content"), query=lambda inp: inp, rag_item='"{summary}" is a summary for "{content}" ',
    rag_truncate="content", rag_prompt=then(". Following the given patterns "),
    item_frame='"{summary}" is a summary for " " ', reserved_text="Following the given patterns",
    parser=parse_long_text, max_new_tokens=MAX_NEW_TOKENS, description="LongLaMP topic writing (Reddit)",
    instruction="Generate the content for a reddit post ", synthetic=synthetic.TOPIC, config="topic_writing",
    user_field="author",
)  # fmt: skip

#: In the order `bench tasks` lists them.
LONGLAMP_TASKS = (LONGLAMP_ABSTRACT, LONGLAMP_REVIEW, LONGLAMP_TOPIC)
