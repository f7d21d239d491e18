"""The benchmark behind ``make bench`` (development only: not part of the Lambda layer).

- ``project``: everything taken from the project (the one module to update when modules move);
- ``proxy``: a counting HTTP proxy in front of moto's server;
- ``calls``: AWS calls per event kind through the router and the worker;
- ``imports``: cold import time of each handler module against ``import boto3``;
- ``report``: the figures as JSON and as a plain-text table; ``__main__``: ``python -m bench``.
"""
