"""The Arrow schema of a kept record (pipeline/s7_write/records.py), for readers that want every
column typed even when a corpus never fills it (no HTML page: `html_removed` always empty).

JSON type inference can only type what it sees: a column that is empty in every record comes
out as `null`. With this schema every column has its type:

    import pyarrow.json as pj
    from pipeline.s7_write.schema import arrow_schema
    table = pj.read_json(path, parse_options=pj.ParseOptions(explicit_schema=arrow_schema()))

    import datasets
    from pipeline.s7_write.schema import datasets_features
    ds = datasets.load_dataset("json", data_files=files, features=datasets_features())

pyarrow (and datasets) are not dependencies of newsclean: they are imported when asked for.
"""

from __future__ import annotations

from pipeline.s5_filter.quality_profiles import INT_SIGNALS, SIGNAL_NAMES

# (name, type) in record order; types: str, int, float, bool, counts (list of {rule, n}),
# list[str], quality (the fixed set of signals)
METADATA = [
    ("title", "str"),
    ("author", "str"),
    ("section", "str"),
    ("url", "str"),
    ("language", "str"),
    ("language_score", "float"),
    ("input_path", "str"),
    ("n_chars", "int"),
    ("n_words", "int"),
    ("removed", "counts"),
    ("content_hash", "str"),
    ("sitename", "str"),
    ("categories", "list[str]"),
    ("source_attribution", "str"),
    ("crawl_date", "str"),
    ("n_chars_raw", "int"),
    ("n_chars_html", "int"),
    ("mojibake_repaired", "bool"),
    ("html_removed", "counts"),
    ("pii", "counts"),
    ("quality", "quality"),
    ("input_metadata", "str"),
    ("input_added", "str"),
]
RECORD = [
    ("id", "str"),
    ("text", "str"),
    ("source", "str"),
    ("added", "str"),
    ("created", "str"),
    ("metadata", "metadata"),
]


def arrow_schema():
    import pyarrow as pa

    counts = pa.list_(pa.struct([("rule", pa.string()), ("n", pa.int64())]))
    quality = pa.struct(
        [(name, pa.int64() if name in INT_SIGNALS else pa.float64()) for name in SIGNAL_NAMES]
    )
    types = {
        "str": pa.string(),
        "int": pa.int64(),
        "float": pa.float64(),
        "bool": pa.bool_(),
        "counts": counts,
        "list[str]": pa.list_(pa.string()),
        "quality": quality,
    }
    types["metadata"] = pa.struct([(name, types[kind]) for name, kind in METADATA])
    return pa.schema([(name, types[kind]) for name, kind in RECORD])


def datasets_features():
    from datasets import Features

    return Features.from_arrow_schema(arrow_schema())
