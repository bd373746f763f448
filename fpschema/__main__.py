"""``python -m fpschema`` runs the command line."""

from .cli import main

main()
