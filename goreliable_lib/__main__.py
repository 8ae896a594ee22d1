"""`python -m goreliable_lib` is the `goreliable` command."""

import sys

from goreliable_lib.cli import main

sys.exit(main())
