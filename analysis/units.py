"""The analysis's units, stated once: time in s, acceleration in m/s² (gravity included, +g up at
rest), angular rate in deg/s, angles in deg. Its one physical constant is standard gravity, used only
to express a magnitude in g, never to decide whether the sensor is at rest."""

STANDARD_GRAVITY_MPS2 = 9.80665
