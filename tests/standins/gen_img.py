"""Stand-in for sd-scripts' gen_img.py (tests only): nyx_dev/standin_infer.py, same command line.
NYX_STANDIN_FAIL=1 makes it exit 3."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from nyx_dev.standin_infer import main  # noqa: E402

sys.exit(main(["gen_img"] + sys.argv[1:]))
