"""`python -m corral._keeper --socket PATH -- DAEMON-ARGV...` (see keeper.py)."""

import sys

from corral._keeper.keeper import main

sys.exit(main(sys.argv[1:]))
