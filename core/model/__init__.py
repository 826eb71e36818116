"""Model assembly from a pipeline, and the Lightning modules that train it."""
