"""Serve ivr on Hypercorn: python run.py [--config FILE] [--bind HOST:PORT] [--workers N]"""

import sys

from ivr.cli import main

if __name__ == "__main__":
    sys.exit(main(["serve", *sys.argv[1:]]))
