"""Balance sway: the measures (measures), the lifted leg's tilt per rep and set (leg, per_set,
foottaps), the second sensor on the pelvis (trunk), and the athlete's own baseline (baseline)."""
