"""Prints every command's usage, as the README's "Command line" block has it: `python -m capsexplorer.cli.usage`."""
from capsexplorer.cli.parser import usage_block

if __name__ == "__main__":
    print(usage_block())
