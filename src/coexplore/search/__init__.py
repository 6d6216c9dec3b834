"""The co-exploration search: strategies (ask/tell), the controller, rewards and the run loop."""
