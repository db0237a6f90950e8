"""Running a synthesis: the pipeline that drives transports into outputs, and its scheduler."""
