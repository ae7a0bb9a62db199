"""lampbench.leaderboard."""
