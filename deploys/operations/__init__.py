"""Custom pyinfra operations for the pbs-fleet deploys."""
