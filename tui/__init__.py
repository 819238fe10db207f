"""The interface layer: the Textual app and the ``termmate`` command line."""
