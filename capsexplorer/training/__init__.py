"""Training: one importable loop that yields progress (single process or data-parallel), its JSON progress
lines, and a decoder fitted afterwards on frozen capsules."""
