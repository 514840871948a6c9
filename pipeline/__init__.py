"""newsclean: clean scraped news pages into deduplicated, metadata-tagged JSONL.

The public Python API (imported on first use, so that `import pipeline` stays light):

    from pipeline import Pipeline, Step, GlobalStep, Document, read_corpus, export_corpus
"""

__version__ = "0.1.0"  # the only place the version is written (pyproject reads it; CHANGELOG.md)

_API = {
    "Pipeline": "pipeline.api:Pipeline",
    "read_corpus": "pipeline.api:read_corpus",
    "Step": "pipeline.step:Step",
    "GlobalStep": "pipeline.step:GlobalStep",
    "Document": "pipeline.document:Document",
    "export_corpus": "pipeline.commands.export:export_corpus",
}
__all__ = ["__version__", *_API]


def __getattr__(name: str):
    if name not in _API:
        raise AttributeError(f"module 'pipeline' has no attribute {name!r}")
    import importlib

    module, _, attr = _API[name].partition(":")
    return getattr(importlib.import_module(module), attr)
