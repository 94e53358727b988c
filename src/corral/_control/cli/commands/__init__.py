"""One module per group of CLI commands; each parses, makes one API call, renders."""
