"""What Nyx knows about Kohya sd-scripts: which options each script takes, and rendering its files."""
