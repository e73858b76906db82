"""earshot.agents — PPO, waypoint and echo-depth agents (in development)."""
