"""Shared fixtures of the API tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from bundles import make_bundle


@pytest.fixture(scope="session")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    """A bundle shared by the API tests (read only)."""
    return make_bundle(tmp_path_factory.mktemp("bundle") / "model")
