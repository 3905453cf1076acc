"""Measurements on a trained model, returned as plain data: sweeps, Figure 4, equivariance, robustness,
segmentation, routing movement, pose statistics, held-out predictions — and the words and views the window and
the command line draw from them."""
