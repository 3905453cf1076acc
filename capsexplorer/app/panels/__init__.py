"""The panels: each draws from the explorer state and writes its intents to it."""
