"""earshot.av_env — Gymnasium audio-visual navigation environments (in development)."""
