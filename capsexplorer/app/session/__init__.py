"""The explorer's session, without widgets: the one state, the tab registry, typed jobs, the controller that
turns the state into jobs and the worker thread that runs them."""
