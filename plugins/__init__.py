"""Built-in plugins. Each module implements wlkit hooks using only the public API."""
