"""The live service: its loop, config, sample sources, sway baseline, logging, systemd notify and paths."""
