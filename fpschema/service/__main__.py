"""``python -m fpschema.service`` runs the web service."""

from fpschema.service.app import main

main()
