"""Pure decisions: no boto3 clients, no environment, no I/O. Plain data in, plain data out."""
