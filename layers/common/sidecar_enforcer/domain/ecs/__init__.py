"""ECS as the enforcer knows it: names and ARNs, botocore's offline model, the server-side rules
and request quotas, task sizes, task definitions in their forms, resources as seen."""
