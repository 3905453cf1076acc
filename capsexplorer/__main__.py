"""`python -m capsexplorer …` (and `torchrun … -m capsexplorer train …`): the command line."""
import sys

from capsexplorer.cli import main

sys.exit(main())
