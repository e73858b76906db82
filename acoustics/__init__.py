"""earshot.acoustics — binaural room impulse responses from scene geometry (in development).

Will hold AudioConfig, scene → room model, DirectionalRIR, HRTF rendering, RIRCache, sound
sources and audio features; see docs/architecture.md.
"""
