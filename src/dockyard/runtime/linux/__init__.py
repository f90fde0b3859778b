"""Linux-specific effects: syscall bindings behind one small interface."""
