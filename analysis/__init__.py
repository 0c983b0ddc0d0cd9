"""Pure computation on sample arrays: resampling, bias, orientation, leg angle, reps, sets, sway.

No I/O here: functions take numpy arrays and return numbers and events.
"""
