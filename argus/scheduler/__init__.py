"""The scheduler: a pure planner (snapshot in, decisions out) and the loop that acts on it."""
