"""Datasets: Kohya-layout folders of images + captions (layout, ingest, health, captions, tools).

Import the submodules directly (``from nyx_core.datasets.layout import scan_dataset``); this package
file stays empty so importing the layout does not pull in Pillow or the regex engine.
"""
