"""LaMP's RAG prompt: templates, joints and the token budget arithmetic."""

from __future__ import annotations

from lampbench.tasks.prompts import rag_prompt
from lampbench.tasks.specs import get_task


def count(text: str) -> int:  # one token per word keeps the arithmetic readable
    return len(text.split())


def truncate(text: str, n: int) -> str:
    return " ".join(text.split()[: max(n, 0)])


def test_lamp3_template_and_joint():
    task = get_task("lamp3")
    items = [{"id": "1", "text": "great blender", "score": "5"}, {"id": "2", "text": "broke fast", "score": "1"}]
    prompt = rag_prompt(task, "review: it works", items, 100, count, truncate)
    assert prompt == '5 is the score for "great blender" , and 1 is the score for "broke fast" . review: it works'


def test_lamp1_inserts_titles_after_the_word_title():
    task = get_task("lamp1")
    inp = 'For an author who has written the paper with the title "A", which reference is related? [1]: "B" [2]: "C"'
    prompt = rag_prompt(task, inp, [{"id": "1", "title": "Old work", "abstract": "x"}], 100, count, truncate)
    assert prompt.startswith('For an author who has written the paper with the title, and "Old work" "A"')
    assert task.query(inp) == "B C"


def test_lamp7_and_lamp5_suffixes():
    assert rag_prompt(get_task("lamp7"), "Paraphrase: hi", [{"id": "1", "text": "yo!!"}], 50, count, truncate) == (
        '"yo!!"  are written by a person. Following the given patterns Paraphrase: hi'
    )
    p = rag_prompt(get_task("lamp5"), "paper: abc", [{"id": "1", "title": "T", "abstract": "A b"}], 50, count, truncate)
    assert p == '"T" is a title for "A b" . Following the given patterns paper: abc'


def test_long_items_are_cut_to_fit_the_budget():
    task = get_task("lamp3")
    long = " ".join(f"w{i}" for i in range(200))
    items = [{"id": str(i), "text": long, "score": "3"} for i in range(3)]
    inp = "review: " + " ".join(["z"] * 20)
    prompt = rag_prompt(task, inp, items, 100, count, truncate)
    assert count(prompt) <= 100 + count(". ")
    assert prompt.endswith(inp) and prompt.count("is the score for") == 3


def test_unused_share_passes_to_the_next_item():
    task = get_task("lamp3")
    items = [{"id": "1", "text": "tiny", "score": "3"}, {"id": "2", "text": " ".join(["w"] * 100), "score": "3"}]
    prompt = rag_prompt(task, "review: x", items, 60, count, truncate)
    second = prompt.split(", and ")[1]
    assert count(second) > 60 // 2 - 2  # it got more than an even share, because the first item was short


def test_query_extraction_follows_lamp():
    assert get_task("lamp3").query("What is the score ... review: nice one") == "nice one"
    assert get_task("lamp2").query("tags: [a, b] description: a film") == "a film"
    assert get_task("lamp7").query("Paraphrase the following tweet: hello: world") == "hello: world"
