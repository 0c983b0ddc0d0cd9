"""Sensor access: register-level drivers, emulated chips, simulated and replayed sources.

Everything here yields :class:`imu.samples.SampleBlock` objects; nothing here knows about MQTT.
"""
