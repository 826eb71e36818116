"""YAML pipelines: safe loading with line numbers, overrides, validation, resolution."""

from wlkit.pipeline.loader import Pipeline, load_pipeline, parse_overrides

__all__ = ["Pipeline", "load_pipeline", "parse_overrides"]
