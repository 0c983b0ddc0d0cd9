"""The web page of ``hingemarch run``: server, routes, live view, sessions, reports and their static files."""
