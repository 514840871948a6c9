"""Start-up imports only what every run needs: warcio (with fsspec and urllib3), ftfy and tqdm are
imported where a WARC file is read, mojibake is met or a progress bar is drawn (~0.1 s of CPU per process
otherwise, on the extraction benchmark's 495 pages about 0.5% of the run)."""

from __future__ import annotations

import subprocess
import sys

LAZY = ("warcio", "fsspec", "urllib3", "ftfy", "tqdm")


def test_the_run_command_imports_no_optional_module():
    code = (
        "import sys, pipeline.cli, pipeline.runner, pipeline.commands.run, pipeline.s1_read.decode\n"
        f"print(' '.join(m for m in {LAZY!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_the_lazy_modules_load_when_used():
    from pipeline.s1_read.charsets import repair_mojibake
    from pipeline.s1_read.warc import _iterator_class, read_errors

    assert repair_mojibake("Viá»‡t Nam") == ("Việt Nam", True)
    assert read_errors()[0].__name__ == "ArchiveLoadFailed"
    assert _iterator_class().__mro__[1].__name__ == "ArchiveIterator"
