"""A status for people: read once (notice), rendered for Slack and for Amazon Q Developer in
chat applications, with links to the console."""
