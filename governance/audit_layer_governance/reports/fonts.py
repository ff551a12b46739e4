"""The fonts a PDF report embeds: Noto Sans for Latin, Greek and Cyrillic, with fallbacks for Arabic,
Hebrew and CJK, from Debian's font packages (installed by scripts/system_packages.sh).

A record's text must be shown exactly, so a missing font is an error that names the package, never
a silent '?'.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

FONT_DIR_ENV = "AUDIT_LAYER_FONT_DIRS"  # extra folders to look in, separated by ':'
SEARCH_DIRS = (Path("/usr/share/fonts/truetype/noto"), Path("/usr/share/fonts/truetype/droid"),
               Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/local/share/fonts"))
FAMILY = "NotoSans"


@dataclass(frozen=True)
class FontFile:
    family: str
    style: str  # "" or "B"
    file: str
    package: str


MAIN = (FontFile(FAMILY, "", "NotoSans-Regular.ttf", "fonts-noto-core"),
        FontFile(FAMILY, "B", "NotoSans-Bold.ttf", "fonts-noto-core"))
# tried in this order for a character the main font lacks
FALLBACKS = (FontFile("NotoSansArabic", "", "NotoSansArabic-Regular.ttf", "fonts-noto-core"),
             FontFile("NotoSansHebrew", "", "NotoSansHebrew-Regular.ttf", "fonts-noto-core"),
             FontFile("NotoSansSymbols2", "", "NotoSansSymbols2-Regular.ttf", "fonts-noto-core"),
             FontFile("DroidSansFallback", "", "DroidSansFallbackFull.ttf", "fonts-droid-fallback"),
             FontFile("DejaVuSans", "", "DejaVuSans.ttf", "fonts-dejavu-core"))


class FontsMissing(RuntimeError):
    pass


def _dirs() -> list[Path]:
    extra = [Path(p) for p in os.environ.get(FONT_DIR_ENV, "").split(":") if p]
    return extra + list(SEARCH_DIRS)


def locate(font: FontFile) -> Path | None:
    for folder in _dirs():
        path = folder / font.file
        if path.is_file():
            return path
    return None


def resolve() -> tuple[list[tuple[FontFile, Path]], list[tuple[FontFile, Path]]]:
    """(main fonts, fallback fonts) with their files; raises FontsMissing naming the packages to install."""
    main = [(f, locate(f)) for f in MAIN]
    fallbacks = [(f, locate(f)) for f in FALLBACKS]
    missing = sorted({f.package for f, p in main + fallbacks if p is None})
    if missing:
        raise FontsMissing(
            f"PDF reports embed fonts from the Debian packages {', '.join(missing)}, which are not installed; "
            f"run `bash scripts/system_packages.sh` (as root), or name a folder holding "
            f"{', '.join(f.file for f, p in main + fallbacks if p is None)} in ${FONT_DIR_ENV}")
    return ([(f, p) for f, p in main if p is not None], [(f, p) for f, p in fallbacks if p is not None])
