"""The supported IMU chips by name, the one list of them. It imports nothing, so the config schema
can name the chips without loading the drivers; imu.detect maps each name to its driver."""
from __future__ import annotations

INVENSENSE_CHIPS = ("mpu6050", "mpu6500", "mpu9250")      # imu.mpu6050
ST_CHIPS = ("lsm6ds3", "lsm6ds3trc", "lsm6dsox")           # imu.lsm6ds
CHIPS = INVENSENSE_CHIPS + ST_CHIPS
