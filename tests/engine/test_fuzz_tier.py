"""The fuzz tier's short budget (issue 12): about a minute of corrupted datastore copies, the
real `pbs-agent report` on each (lab/fuzz.py). benchmarks/bench_fuzz.py runs 10,000+."""

from __future__ import annotations

import json
import os

from lab import fuzz

SEED = int(os.environ.get("PBS_FLEET_FUZZ_SEED", "12"))


def test_fuzz_one_minute() -> None:
    work = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
    s = fuzz.fuzz(cases=10_000, seed=SEED, budget_s=45, work=work)
    assert s.mutations == set(fuzz.MUTATIONS)  # every kind ran at least once
    assert (s.crashes, s.hangs, s.over_memory, s.moved, s.unreported, s.harness_errors) == \
        (0, 0, 0, 0, 0, 0), \
        f"seed {SEED}: " + json.dumps(s.failures[:5], indent=1)
