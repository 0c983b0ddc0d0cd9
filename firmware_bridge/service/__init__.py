"""The live service: its loop, config, the wiring of sample sources, sway baseline, logging, systemd notify and paths."""
