"""``python -m fpschema`` runs the command line."""

from fpschema.cli import main

main()
