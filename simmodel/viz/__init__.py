"""The browser-based visual server (SolaraViz): ``simmodel serve`` or ``solara run simmodel/viz/app.py``."""

from pathlib import Path

APP = Path(__file__).with_name("app.py")
