"""Security regression suite: the OWASP API Security Top 10 (2023), one module per risk (API1 ... API10).

``README.md`` beside this file maps each risk to its module and what it proves; ``served.py`` holds what the
modules share: the served document's operations, URLs built from them, and the demo dataset every crawl runs on.
"""
