"""Shared fixtures: the default assets, built once per session (into $VOCALNET_HOME when set)."""

from __future__ import annotations

import pytest

from vocalnet.assets import AssetPaths, prepare_assets


@pytest.fixture(scope="session")
def assets() -> AssetPaths:
    return prepare_assets()
