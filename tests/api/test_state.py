from __future__ import annotations

import gc

import pytest

from churnguard.api.state import freeze_long_lived

pytestmark = pytest.mark.unit


def test_freeze_long_lived_moves_what_lives_now_out_of_the_collectors_reach() -> None:
    try:
        freeze_long_lived()
        frozen = gc.get_freeze_count()
        assert frozen > 1000
        cycle: list[object] = []
        cycle.append(cycle)  # garbage made after the freeze is still collected
        del cycle
        assert gc.collect() >= 1
        freeze_long_lived()  # again (after a reload): unfrozen, collected, frozen
        assert gc.get_freeze_count() >= frozen * 0.9
    finally:
        gc.unfreeze()
