"""Server-rendered operator pages."""
