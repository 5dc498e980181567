"""From a user's own traffic to a comparison: trace export and import, and compare --from-config."""
