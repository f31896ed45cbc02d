"""Writing and checking generated files (rules, dashboards): atomic writes, staleness."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path


def write_files(files: Mapping[str, str], out_dir: Path) -> list[Path]:
    """Write every file into out_dir (created if missing), each replaced atomically."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in files.items():
        path = out_dir / name
        tmp = path.with_name(f".{name}.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
        written.append(path)
    return written


def stale_files(files: Mapping[str, str], out_dir: Path) -> list[Path]:
    """Files in out_dir that are missing or differ from what would be written."""
    return [
        out_dir / name
        for name, text in files.items()
        if not (out_dir / name).is_file() or (out_dir / name).read_text(encoding="utf-8") != text
    ]
