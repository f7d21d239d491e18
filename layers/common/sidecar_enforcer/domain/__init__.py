"""Pure decisions: no boto3 clients, no environment, no I/O. Plain data in, plain data out.

Profile and Policy are the data it reasons about; of the package it imports only ``errors`` and
the package's name.
"""
