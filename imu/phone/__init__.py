"""A phone as the sensor, live: Sensor Logger's HTTP push (``sensorlogger``) and phyphox's remote
access (``phyphox``). Each app's readings arrive per sensor, each with its own time stamps; ``join``
merges them into SampleBlocks and ``stream`` runs them on the Source protocol (docs/phone.md)."""
