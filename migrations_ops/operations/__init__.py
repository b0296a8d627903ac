"""Built-in operations, one module each; see base.py for the Operation API."""
