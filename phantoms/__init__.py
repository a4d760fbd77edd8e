"""Phantom cohorts: synthetic radiographs in the challenge layout whose ground truth is known exactly.

``cohort`` draws the scores and writes a cohort; ``render`` draws the limbs; ``cli`` is ``ra2 synth``.
"""
