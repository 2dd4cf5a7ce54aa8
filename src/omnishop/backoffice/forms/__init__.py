"""The desks' Django forms, one module per desk: they parse and check input; services do the work."""
