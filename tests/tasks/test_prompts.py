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


def test_lamp_budget_reserves_a_token_and_the_patterns_text():
    """LaMP's per-item share: budget - 1 (every task but LaMP-1) - "Following the given patterns" (LaMP-5) - joints."""
    from lampbench.tasks.prompts import lamp_items

    long = " ".join(f"w{i}" for i in range(100))
    items = [{"id": "1", "title": "T", "abstract": long}, {"id": "2", "title": "U", "abstract": long}]
    # share = (40 - 1 - 4 - 2) // 2 = 16; the frame '"T" is a title " " ' is 6 words; the abstract keeps 10.
    first, second = lamp_items(get_task("lamp5"), items, 40, count, truncate)
    assert first == '"T" is a title for "' + " ".join(f"w{i}" for i in range(10)) + '" '
    assert count(second) == count(first)
    # with one special token per text, LaMP counts it in the frame and in the cut field: 2 words fewer.
    first, _ = lamp_items(get_task("lamp5"), items, 40, count, truncate, specials=1)
    assert first.count("w") == 8
    # LaMP-1 reserves nothing and its frame is the constant 2.
    (title,) = lamp_items(get_task("lamp1"), [{"id": "1", "title": long, "abstract": ""}], 12, count, truncate)
    assert title == '"' + " ".join(f"w{i}" for i in range(10)) + '"'


def test_the_input_is_cut_first_by_nobody_and_items_give_way():
    """A long input keeps the whole budget, the same cut as base's; the items are dropped and counted as cut."""
    from lampbench.tasks.prompts import fit_input, rag_fit

    task = get_task("lamp3")
    inp = "review: " + " ".join(["z"] * 200)
    items = [{"id": "1", "text": "great blender", "score": "5"}]
    fitted = rag_fit(task, inp, items, 50, count, truncate)
    assert fitted.cut and fitted.text == fit_input(inp, 50, count, truncate) and count(fitted.text) == 50
    short = rag_fit(task, "review: fine", items, 50, count, truncate)
    assert not short.cut and short.text.endswith(". review: fine") and count(short.text) <= 50


def test_fit_personalized_asks_again_when_joints_overflow():
    from lampbench.tasks.prompts import fit_personalized

    asked = []

    def build(inp, room):  # writes 2 tokens more than `room` allows
        asked.append(room)
        return " ".join(["p"] * (room + 3 - 1)) + " " + inp if room > 4 else None

    fitted = fit_personalized("q", 20, count, truncate, build)
    assert count(fitted.text) <= 20 and not fitted.cut and asked == [19, 17]
    assert fit_personalized("q " * 30, 20, count, truncate, build).cut


def test_recency_sorts_dates_as_lamp_and_random_draws_with_replacement():
    from lampbench.harness.services.budget import Clock
    from lampbench.methods.contract import Context
    from lampbench.methods.rag.method import Rag, RagConfig, RagState

    dates = ["2019-9-30", "2019-10-01"]
    items = tuple({"id": str(i), "text": "t", "score": "3", "date": d} for i, d in enumerate(dates))
    ctx = Context(task=get_task("lamp3"), clock=Clock(10))
    newest = Rag(RagConfig(k=1, retriever="recency")).retrieve(ctx, RagState(items), "")
    assert newest[0]["date"] == "2019-10-01"  # as strings, "2019-9-30" would sort last
    drawn = Rag(RagConfig(k=2, retriever="random")).retrieve(ctx, RagState(items[:1], user_id="u"), "q")
    assert [d["id"] for d in drawn] == ["0", "0"]  # LaMP's random.choices: k draws from a one-item profile
