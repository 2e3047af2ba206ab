"""One module per ``dse`` subcommand; each defines ``register(group: click.Group)``."""
