"""Peak memory and time of reading a real-size LaMP file (issue 13 item 6).

The real LaMP-3 dev questions file is about 400 MB (2,500 questions whose profiles hold a few hundred
reviews each) and is read with one ``json.load``. This script writes a file of that shape and size in a
temporary folder (never the data folder), then measures, each in a fresh process so one does not inherit
another's heap: the loader (``load_users``), and ``bench data info`` as a user runs it. Peak memory is the
process's maximum resident set size (``wait4``'s rusage), so it includes the interpreter and imports; the
baseline line gives that floor.

    python benchmarks/large_file.py                # 400 MB, the real size (needs a quiet machine, ~5 GB free)
    python benchmarks/large_file.py --mb 40        # a quick check that it works
    python benchmarks/large_file.py --mb 400 --json results.json

Text is random review words; every input carries LaMP-3's instruction and ``review:``, so the loader has
nothing to warn about and only reading is measured.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Words of a plausible review; random choices of them make text that does not compress into few strings.
_WORDS = (
    "the this product was great bad okay quality price battery screen works broke after days weeks months "
    "would recommend not buy again love hate fine cheap expensive fast slow shipping arrived box seller "
    "size fit color sound easy hard use setup instructions value money return replaced warranty support"
).split()
_INSTRUCTION = (
    "What is the score of the following review on a scale of 1 to 5? just answer with 1, 2, 3, 4, or 5 "
    "without further explanation. review: "
)
# Real LaMP-3 dev: ~2,500 questions in ~400 MB, so ~160 kB per question.
_BYTES_PER_QUESTION = 160_000


def _review(rng: random.Random) -> str:
    return " ".join(rng.choices(_WORDS, k=rng.randint(20, 240)))


def write_lamp3(folder: Path, megabytes: float, seed: int = 0) -> tuple[Path, Path]:
    """Write `dev_questions.json` (about `megabytes` MB) and `dev_outputs.json` under `folder/LaMP_3/dev/`."""
    rng = random.Random(seed)
    split = folder / "LaMP_3" / "dev"
    split.mkdir(parents=True, exist_ok=True)
    questions, outputs = split / "dev_questions.json", split / "dev_outputs.json"
    n = max(1, round(megabytes * 1e6 / _BYTES_PER_QUESTION))
    golds = []
    with questions.open("w", encoding="utf-8") as f:  # streamed: the writer never holds the whole file
        f.write("[")
        for q in range(n):
            profile = []
            size = 0
            while size < _BYTES_PER_QUESTION:
                item = {"text": _review(rng), "score": str(rng.randint(1, 5)), "id": f"{q}{len(profile):04d}"}
                profile.append(item)
                size += len(item["text"]) + 40
            entry = {"id": str(1000 + q), "input": _INSTRUCTION + _review(rng), "profile": profile}
            f.write(("," if q else "") + json.dumps(entry))
            golds.append({"id": str(1000 + q), "output": str(rng.randint(1, 5))})
        f.write("]")
    outputs.write_text(json.dumps({"task": "LaMP_3", "golds": golds}), encoding="utf-8")
    return questions, outputs


def _measure(argv: list[str]) -> dict[str, float]:
    """Run `argv` in a fresh process: wall seconds and peak resident memory in MB (from wait4's rusage)."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    out, err = proc.stdout.read().decode(), proc.stderr.read().decode()  # type: ignore[union-attr]
    if status != 0:
        raise SystemExit(f"{' '.join(argv[:3])}... failed:\n{err or out}")
    # ru_maxrss is in kB on Linux, bytes on macOS.
    peak = usage.ru_maxrss / (1 << 20 if sys.platform == "darwin" else 1 << 10)
    return {"seconds": round(seconds, 2), "peak_mb": round(peak, 1)}


_LOAD = """
import sys, time
from pathlib import Path
from lampbench.tasks.data import load_users
from lampbench.tasks.specs import TASKS
if sys.argv[1] == "load":
    users = load_users(TASKS["lamp3"], Path(sys.argv[2]), Path(sys.argv[3]))
    print(len(users))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=400.0, help="size of the questions file in MB (real: ~400)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--keep", type=Path, help="write the files here and keep them (default: a temp dir)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="lampbench-large-") as tmp:
        root = args.keep or Path(tmp)
        start = time.perf_counter()
        questions, outputs = write_lamp3(root, args.mb)
        size_mb = questions.stat().st_size / 1e6
        print(f"wrote {questions} ({size_mb:.0f} MB) in {time.perf_counter() - start:.0f}s")
        bench = str(Path(sys.executable).with_name("bench"))
        os.environ["OMP_NUM_THREADS"] = "1"
        rows = {
            "baseline (imports only)": _measure([sys.executable, "-c", _LOAD, "none"]),
            "load_users": _measure([sys.executable, "-c", _LOAD, "load", str(questions), str(outputs)]),
            "bench data info": _measure([bench, "data", "info", "lamp3", "--data-dir", str(root)]),
        }
    for name, row in rows.items():
        print(f"{name:26} {row['seconds']:7.1f} s  peak {row['peak_mb']:8.0f} MB")
    load = rows["load_users"]["peak_mb"] - rows["baseline (imports only)"]["peak_mb"]
    print(f"loader's own peak: {load:.0f} MB for a {size_mb:.0f} MB file ({load / size_mb:.1f}x)")
    if args.json:
        args.json.write_text(json.dumps({"file_mb": round(size_mb, 1), **rows}, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
