"""Data shipped with capsexplorer (installed as the package `capsexplorer.resources`)."""
