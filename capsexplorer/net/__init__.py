"""The network: the CapsNet of Sabour et al. (2017) with Procedure 1, its losses and shape, the CNN baseline,
weights and checkpoints on disk, one inference loop, and the RoutingTrace it returns. Imports nothing else of
capsexplorer but its errors and paths."""
