"""Names used in config -> where the code lives. Imports are lazy so that an
unused heavy step (or optional extra) is never imported.

A step of one's own is named by its import path, `package.module:ClassName`
(in the YAML, `- step: mypkg.steps:MyStep`, or a Step object given to
`pipeline.Pipeline`): any subclass of `pipeline.step.Step` with a `name` and its
options declared in `defaults`. Worker processes import it by that path too. An
installed package may also register its steps by name, in its pyproject.toml:
`[project.entry-points."newsclean.steps"]` `my_step = "mypkg.steps:MyStep"`.
"""

from __future__ import annotations

import importlib

STEPS = {
    "decode": "pipeline.s1_read.decode:Decode",
    "extract_html": "pipeline.s2_extract.html:ExtractHtml",
    "article_region": "pipeline.s3_clean.region:ArticleRegion",
    "template_lines": "pipeline.s3_clean.template_lines:TemplateLines",
    "clean_lines": "pipeline.s3_clean.clean:CleanLines",
    "dump_metadata": "pipeline.s3_clean.dump_metadata:DumpMetadata",
    "repeated_lines": "pipeline.s3_clean.repeats:RepeatedLines",
    "normalize": "pipeline.s4_normalize.normalize:Normalize",
    "language_filter": "pipeline.s5_filter.language:LanguageFilter",
    "length_filter": "pipeline.s5_filter.length:LengthFilter",
    "pii_mask": "pipeline.s5_filter.pii:PiiMask",
    "quality_signals": "pipeline.s5_filter.quality_signals:QualitySignals",
    "quality_filter": "pipeline.s5_filter.quality_filter:QualityFilter",
    "exact_dedup": "pipeline.s6_dedup.exact:ExactDedup",
    "near_dedup": "pipeline.s6_dedup.near:NearDedup",
}


class StepImportError(Exception):
    """A custom step's import path that does not give a usable Step class (one line)."""


def load_object(dotted: str):
    module, _, attr = dotted.partition(":")
    obj = importlib.import_module(module)
    for part in attr.split("."):  # a nested class: module:Outer.Inner
        obj = getattr(obj, part)
    return obj


def is_import_path(name: str) -> bool:
    return isinstance(name, str) and ":" in name


ENTRY_POINTS = "newsclean.steps"  # a package's own steps by name: [project.entry-points."newsclean.steps"]


def step_class(name: str):
    """The class of a built-in step (by its name), of one's own (by `package.module:Class`), or of
    an installed package that registers it by name in the `newsclean.steps` entry points."""
    if name in STEPS:
        return load_object(STEPS[name])
    if not is_import_path(name):
        registered = _entry_point(name)
        if registered is None:
            raise StepImportError(
                f"unknown step {name!r} (known: {', '.join(STEPS)}; "
                "or a class of your own as 'package.module:ClassName')"
            )
        return custom_step_class(registered)
    return custom_step_class(name)


def _entry_point(name: str) -> str | None:
    """The import path an installed package registers for step `name`, if any."""
    from importlib.metadata import entry_points

    for entry in entry_points(group=ENTRY_POINTS):
        if entry.name == name:
            return entry.value.replace(" ", "")
    return None


def custom_step_class(path: str):
    from pipeline.step import Step

    module, _, attr = path.partition(":")
    if not module or not attr:
        raise StepImportError(f"step {path!r}: write the import path as 'package.module:ClassName'")
    try:
        cls = load_object(path)
    except ImportError as exc:
        raise StepImportError(f"step {path!r}: cannot import {module!r}: {exc}") from None
    except AttributeError:
        raise StepImportError(f"step {path!r}: module {module!r} has no {attr!r}") from None
    except Exception as exc:  # the module itself failed (syntax error, exception at import)
        raise StepImportError(
            f"step {path!r}: importing {module!r} failed: {type(exc).__name__}: {exc}"
        ) from None
    if not (isinstance(cls, type) and issubclass(cls, Step)):
        raise StepImportError(f"step {path!r}: {attr} is not a Step class (subclass pipeline.step.Step)")
    if cls.name == Step.name:
        raise StepImportError(
            f'step {path!r}: {attr} has no `name` (set a class attribute, e.g. name = "my_step"; '
            "it is the stage name in counts and drop reasons)"
        )
    return cls


def import_path_of(cls: type) -> str:
    """`module:QualName` of a class, refused when worker processes could not import it by that path."""
    path = f"{cls.__module__}:{cls.__qualname__}"
    if "<locals>" in cls.__qualname__:
        raise StepImportError(
            f"step class {cls.__qualname__} is defined inside a function; define it at module "
            "level so worker processes can import it"
        )
    return path
