"""Offline model assets: converters for the bundled Whisper / SmolLM2 weights and their cache."""

from vocalnet.assets.prepare import (
    AssetPaths,
    AssetsMissingError,
    default_asset_paths,
    default_cache_dir,
    prepare_assets,
)

__all__ = ["AssetPaths", "AssetsMissingError", "default_asset_paths", "default_cache_dir", "prepare_assets"]
