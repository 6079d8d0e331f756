"""Render the application icon's PNG sizes from ``resources/icons/fanout-studio.svg``.

Run after editing the SVG and commit the PNGs: desktops that cannot read SVG icons, and the
freedesktop.org hicolor theme's fixed-size folders, use them. Uses Qt's own SVG renderer, so
nothing beyond the app's dependencies is needed::

    QT_QPA_PLATFORM=offscreen .venv/bin/python -m gui.qt.render_icons

It writes into the source checkout's ``resources/icons`` (a developer's tool, not the app's).
"""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

ICONS = Path(__file__).resolve().parents[2] / "resources" / "icons"
NAME = "fanout-studio"
#: The hicolor theme's usual fixed sizes (gui/desktop.py installs each into <n>x<n>/apps/).
SIZES = (16, 24, 32, 48, 64, 128, 256)


def render(renderer: QSvgRenderer, size: int) -> QImage:
    """The icon at ``size`` x ``size`` pixels on a transparent background."""
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    renderer.render(painter)
    painter.end()
    return image


def main() -> int:
    """Write ``fanout-studio-<n>.png`` for every size; returns the exit code."""
    _app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])
    renderer = QSvgRenderer(str(ICONS / f"{NAME}.svg"))
    if not renderer.isValid():
        sys.stderr.write(f"render_icons: cannot read {ICONS / f'{NAME}.svg'}\n")
        return 1
    for size in SIZES:
        out = ICONS / f"{NAME}-{size}.png"
        if not render(renderer, size).save(str(out)):  # PNG, from the suffix
            sys.stderr.write(f"render_icons: cannot write {out}\n")
            return 1
        sys.stdout.write(f"{out.relative_to(ICONS.parents[1])}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
