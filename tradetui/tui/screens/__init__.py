"""Modal screens: help, confirmations and the parameter editor."""
