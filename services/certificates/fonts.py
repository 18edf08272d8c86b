"""The font certificates are set in: one CJK TrueType font, embedded (subset) in every PDF.

A certificate must look the same on every reader, so its glyphs travel with it: reportlab
embeds a subset of a TrueType font (glyf outlines, in a .ttf or a .ttc collection). Fonts
with PostScript (CFF) outlines, such as Noto CJK's .otf and .ttc files, cannot be embedded by
reportlab. The font is `ONETHING_CERTIFICATE_FONT` when set, else the first of FONT_FILES
installed (Debian: `apt-get install fonts-wqy-zenhei`). Latin letters and digits come from the
same font, so every glyph printed is embedded.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFError, TTFont

FONT_NAME = "OneThingCJK"  # registered as OneThingCJK-<file name>, one per font file
# Where distributions install CJK TrueType fonts, best first (WenQuanYi Zen Hei: Debian's and
# Ubuntu's fonts-wqy-zenhei, Fedora's wqy-zenhei-fonts; AR PL UMing: fonts-arphic-uming).
FONT_FILES = (
    Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),
    Path("/usr/share/fonts/wqy-zenhei/wqy-zenhei.ttc"),
    Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),
    Path("/usr/share/fonts/truetype/arphic/uming.ttc"),
)
INSTALL_HINT = (
    "install a CJK TrueType font (Debian/Ubuntu: apt-get install fonts-wqy-zenhei) or set "
    "ONETHING_CERTIFICATE_FONT to a .ttf/.ttc file with TrueType outlines"
)
# Characters every certificate prints: a font without them would print empty boxes.
REQUIRED_CHARACTERS = "证照编号发证机关电子专用章0123456789AX-："


class CertificateFontError(RuntimeError):
    """No usable font for certificates: none installed, or the configured one cannot be
    embedded. The message says what to install or set."""


def font_file(configured: Path | None = None) -> Path:
    """The font file certificates use: `configured` (ONETHING_CERTIFICATE_FONT) if given,
    else the first of FONT_FILES present; CertificateFontError when there is none."""
    if configured is not None:
        if not configured.is_file():
            raise CertificateFontError(
                f"ONETHING_CERTIFICATE_FONT={configured} is not a file; {INSTALL_HINT}"
            )
        return configured
    for candidate in FONT_FILES:
        if candidate.is_file():
            return candidate
    raise CertificateFontError(f"no font for certificates' Chinese text: {INSTALL_HINT}")


@cache
def _register(path: Path) -> str:
    """Register the font at `path` with reportlab (once per process) and return its name."""
    try:
        font = TTFont(f"{FONT_NAME}-{path.stem}", str(path), subfontIndex=0)
    except (TTFError, OSError) as exc:
        raise CertificateFontError(
            f"the font {path} cannot be embedded ({exc}); {INSTALL_HINT}"
        ) from exc
    missing = [char for char in REQUIRED_CHARACTERS if ord(char) not in font.face.charToGlyph]
    if missing:
        raise CertificateFontError(
            f"the font {path} has no glyphs for {''.join(missing)}; {INSTALL_HINT}"
        )
    pdfmetrics.registerFont(font)
    return font.fontName


def certificate_font(configured: Path | None = None) -> str:
    """The registered name of the certificates' font (see `font_file`); CertificateFontError
    when there is no usable one."""
    return _register(font_file(configured).resolve())


def font_problem(configured: Path | None = None) -> str | None:
    """Why certificates cannot be rendered here (one line), or None when the font is fine:
    what `onething serve` checks at start and /readyz reports."""
    try:
        certificate_font(configured)
    except CertificateFontError as exc:
        return str(exc)
    return None
