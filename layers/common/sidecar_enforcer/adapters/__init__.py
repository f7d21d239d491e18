"""The AWS SDK (botocore) at the edges: small classes around ECS, SNS and STS. They map ClientError
codes to the domain errors in ``errors`` and decide no policy."""
