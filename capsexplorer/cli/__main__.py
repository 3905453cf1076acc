"""`python -m capsexplorer.cli …`: the command line."""
import sys

from capsexplorer.cli import main

sys.exit(main())
