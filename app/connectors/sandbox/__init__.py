"""The sandbox: possync's built-in fake program (program.py) and the connector that talks to it."""
