import sys

# The tests need Debian's interpreter with python3-sklearn, not whatever is first on PATH.
if not sys.executable.startswith("/usr/bin/python3"):
    raise SystemExit(f"run the tests with /usr/bin/python3, not {sys.executable}")

