"""MQTT: the topic tree and its payloads, the client that publishes, its on-disk outbox, a local broker."""
