"""The pycompose container engine: images, containers, the daemon and its API."""
