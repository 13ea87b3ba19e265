"""Stand-in for sd-scripts' flux_minimal_inference.py (tests only): nyx_dev/standin_infer.py, same
command line and --interactive dialogue, images named as the real script names them."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from nyx_dev.standin_infer import main  # noqa: E402

sys.exit(main(["flux"] + sys.argv[1:]))
