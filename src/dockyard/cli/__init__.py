"""The docker-compatible command line (`dockyard`)."""
