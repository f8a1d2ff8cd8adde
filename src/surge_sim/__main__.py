"""``python -m surge_sim --port 8000``: run the simulator in the foreground."""

from .cli import sim_command

if __name__ == "__main__":
    sim_command(prog_name="python -m surge_sim")
