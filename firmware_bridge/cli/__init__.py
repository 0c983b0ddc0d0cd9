"""The ``hingemarch`` command: its dispatcher (hingemarch.py) and one module per subcommand."""
