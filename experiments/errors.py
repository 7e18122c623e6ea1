"""Errors that the command line reports as a one-paragraph message with exit status 2."""


class UserError(Exception):
    """Bad input from the user: reported without a traceback, exit status 2."""


EXIT_USAGE = 2
