"""The runtime on the Pi: the commands, the live service, MQTT, the web page and the session store."""

__version__ = "0.1.0"
