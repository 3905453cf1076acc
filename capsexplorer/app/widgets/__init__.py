"""Small widgets and helpers the panels are made of: the canvas, tiles, the error banner, the theme, the guard
around Qt overrides, deferred drawing for hidden tabs."""
