"""Option table, settings resolution, the config file and where the key may go."""
