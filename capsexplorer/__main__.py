"""`python -m capsexplorer …` (and `torchrun … -m capsexplorer train …`): the command line."""
import sys

from .cli import main

sys.exit(main())
