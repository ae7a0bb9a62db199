"""A method for the resume tests, loaded by `bench run --method tests.resume_plugin:Slow`: slow enough per user to
be killed mid-run. Each user it personalizes is appended to the file named by $LAMPBENCH_TEST_LOG."""

from __future__ import annotations

import os
import time

from lampbench.methods.baseline.method import Base


class Slow(Base):
    """`base`, with half a second of charged work per user."""

    def personalize(self, ctx, user):
        time.sleep(0.5)
        with open(os.environ["LAMPBENCH_TEST_LOG"], "a", encoding="utf-8") as f:
            f.write(user.id + "\n")
        return None
