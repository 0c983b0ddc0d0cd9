"""The runtime on the Pi: CLI, acquisition loop, session recorder, MQTT publisher, web server."""

__version__ = "0.1.0"
