"""The ``relusim`` command line: thin click commands over the library."""
