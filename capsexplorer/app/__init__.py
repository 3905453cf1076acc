"""The explorer window (PySide6). Draws RoutingTraces the engine returns."""
